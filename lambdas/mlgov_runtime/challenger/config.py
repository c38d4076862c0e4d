"""The challenger gate's configuration as the Lambda and the CLI receive it: one JSON object
(mlgov.settings.Challenger.runtime_config), parsed into plain dataclasses. No pydantic (cold start)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from mlgov_runtime.challenger.inputs import DecisionConfig

# metrics.source "table": the product's table of recommendation counts, one item per series and minute holding the
# counts under the metric names above (numbers the recommender ADDs to). Only the metric writers may write it.
COUNTS_TABLE = "mlgov-recommendation-counts"
SERIES_KEY = "series"  # "<endpoint>/<variant>"
MINUTE_KEY = "minute"  # epoch seconds of the minute's start
EXPIRES_KEY = "expires_at"  # optional, epoch seconds: DynamoDB's TTL drops the item after it
# A look's statistics key (status JSON, findings' evidence): the name of the table its counts were read from, present
# only in table mode. Not the watch state's run source (logic.RUN_SOURCE_KEY), which holds "cloudwatch" or "table".
COUNTS_TABLE_STAT = "counts_source"


@dataclass(frozen=True)
class MetricNames:
    """CONTRACTS.md "Recommendation metrics"; cart_adds None when the recommender does not emit it."""

    namespace: str = "MangaAssist/Recommendations"
    impressions: str = "RecommendationImpressions"
    clicks: str = "RecommendationClicks"
    cart_adds: str | None = "RecommendationCartAdds"
    json_failures: str = "RecommendationJsonFailures"
    language_mismatches: str = "RecommendationLanguageMismatches"
    # Per response, the distinct titles (series) among its recommendations, summed per minute; None: not emitted.
    distinct_titles: str | None = "RecommendationDistinctTitles"
    endpoint_dimension: str = "EndpointName"
    variant_dimension: str = "VariantName"
    source: str = "cloudwatch"  # or "table": COUNTS_TABLE
    # Who the table's policy must let write items: guardrails' metric writers and break-glass (with_writers).
    writers: tuple[str, ...] = ()
    # Who alone may change the table's policy (its ControlsOnlyByDeploy): guardrails' deploying roles (with_writers).
    deployers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionMetric:
    namespace: str = "MangaAssist/Recommendations"
    metric_name: str = "UserRetention7d"
    statistic: str = "Average"
    endpoint_dimension: str = "EndpointName"


@dataclass(frozen=True)
class ChallengerConfig:
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    endpoints: dict[str, str] = field(default_factory=dict)  # model package group -> endpoint
    metrics: MetricNames = field(default_factory=MetricNames)
    retention_metric: RetentionMetric = field(default_factory=RetentionMetric)
    challenger_instance_count: int = 1
    review_after_days: int = 7
    max_retention_drop: float = 0.02
    rollback_snapshot_warning_days: int = 30
    # A candidate trained on an older catalog_snapshot_date than production is refused unless this is set.
    allow_older_catalog_snapshot: bool = False
    # PROMOTE waits for an approver (approvals.approvers.challenger) through the approval service; off: automatic.
    require_human_approval: bool = False
    approval_expiry_hours: int = 24


def _only_known(cls: Any, data: dict[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)}")
    return data


def _flag(value: Any, name: str = "allow_older_catalog_snapshot") -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not true or false")
    return value


def config_from_dict(data: dict[str, Any]) -> ChallengerConfig:
    """Raises ValueError naming the part that is wrong."""
    if not isinstance(data, dict):
        raise ValueError("challenger configuration must be a JSON object")
    _only_known(ChallengerConfig, data, "challenger configuration")
    decision = DecisionConfig(**_only_known(DecisionConfig, data.get("decision", {}), "decision"))
    return ChallengerConfig(
        decision=decision,
        endpoints={str(k): str(v) for k, v in data.get("endpoints", {}).items()},
        metrics=MetricNames(**_only_known(MetricNames, data.get("metrics", {}), "metrics")),
        retention_metric=RetentionMetric(
            **_only_known(RetentionMetric, data.get("retention_metric", {}), "retention_metric")
        ),
        challenger_instance_count=int(data.get("challenger_instance_count", 1)),
        review_after_days=int(data.get("review_after_days", 7)),
        max_retention_drop=float(data.get("max_retention_drop", 0.02)),
        rollback_snapshot_warning_days=int(data.get("rollback_snapshot_warning_days", 30)),
        allow_older_catalog_snapshot=_flag(data.get("allow_older_catalog_snapshot", False)),
        require_human_approval=_flag(data.get("require_human_approval", False), "require_human_approval"),
        approval_expiry_hours=int(data.get("approval_expiry_hours", 24)),
    )


def with_writers(cfg: ChallengerConfig, writers: list[str], deployers: list[str]) -> ChallengerConfig:
    """`cfg` with the counts table's writers (metric writers and break-glass) and deployers (deployer roles, role
    admins and break-glass: mlgov.guardrails.deploying_roles), as stacks/challenger.py seals it."""
    return replace(
        cfg,
        metrics=replace(cfg.metrics, writers=tuple(dict.fromkeys(writers)), deployers=tuple(dict.fromkeys(deployers))),
    )
