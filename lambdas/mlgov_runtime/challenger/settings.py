"""The challenger's settings: the `challenger` section, its knobs under `thresholds` and the pipeline roles of
`guardrails`, declared once; the function receives them as one JSON variable (`Received`) and validates it
against the same models at cold start."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlgov_runtime.challenger.knobs import Thresholds as Thresholds  # its knobs under `thresholds`
from mlgov_runtime.challenger.knobs import check_ramp
from mlgov_runtime.challenger.sequential import MIN_DF
from mlgov_runtime.core.env import (
    IDEMPOTENCY_TABLE_NAME,
    TABLE,
    Env,
    FindingsChannelEnv,
    IdempotencyEnv,
    Lazy,
    SettingsError,
    optional,
    required,
)
from mlgov_runtime.core.model import (
    PROTECTED_ROLE_PATH,
    ROLE_PATH,
    KeyProblem,
    all_match,
    dump,
    protected_path_problem,
    received,
    setting,
    settings_model,
    variable,
)
from mlgov_runtime.core.shared_settings import shared

if TYPE_CHECKING:  # the decision code loads with the function's settings, not with the endpoint audit's
    from mlgov_runtime.challenger.config import ChallengerConfig

STATE_MACHINE_ARN = "CHALLENGER_STATE_MACHINE_ARN"
# Provenance: whose registrations a challenger may start from (challenger/provenance.py).
RETRAINING_STATE_MACHINE_ARN = "CHALLENGER_RETRAINING_STATE_MACHINE_ARN"
MACHINE = r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+"


# The front-loaded test's share when a ramp is set and ctr_early_share is not (why 0.6: docs/challenger-statistics.md,
# the fast ramp and the 80 % target).
RAMP_EARLY_SHARE = 0.6

CW_NAME = r"^[A-Za-z0-9_./#:-][A-Za-z0-9_./#: -]{0,254}$"
CHALLENGER_ENDPOINT = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
ROLE_ARN_PATTERN = r"arn:(aws[a-z-]*|\*):iam::(\d{12}|\*):role/[\w+=,.@/*-]{1,512}"


@settings_model
class RecommendationMetricNames:
    """What the recommender emits (CONTRACTS.md, "Recommendation metrics"): Count metrics per minute
    with exactly the two dimensions below. `cart_adds` null: not emitted (the guardrail is skipped)."""

    namespace: str = setting(default="MangaAssist/Recommendations", pattern=CW_NAME)
    impressions: str = setting(default="RecommendationImpressions", pattern=CW_NAME)
    clicks: str = setting(default="RecommendationClicks", pattern=CW_NAME)
    cart_adds: str | None = setting(default="RecommendationCartAdds", pattern=CW_NAME)
    json_failures: str = setting(default="RecommendationJsonFailures", pattern=CW_NAME)
    language_mismatches: str = setting(default="RecommendationLanguageMismatches", pattern=CW_NAME)
    distinct_titles: str | None = setting(default="RecommendationDistinctTitles", pattern=CW_NAME)
    endpoint_dimension: str = setting(default="EndpointName", pattern=CW_NAME)
    variant_dimension: str = setting(default="VariantName", pattern=CW_NAME)
    # Where the gate reads these counts: `cloudwatch` (the namespace above) or `table`, the product's
    # mlgov-recommendation-counts table only guardrails.metric_writer_role_arns may write (docs/challenger.md).
    source: Literal["cloudwatch", "table"] = "cloudwatch"


@settings_model
class RetentionMetric:
    """The 7-day review's metric, per endpoint: e.g. the share of recommended users still active 7 days on."""

    namespace: str = setting(default="MangaAssist/Recommendations", pattern=CW_NAME)
    metric_name: str = setting(default="UserRetention7d", pattern=CW_NAME)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum"] = "Average"
    endpoint_dimension: str = setting(default="EndpointName", pattern=CW_NAME)


def _endpoints(value: dict[str, str]) -> dict[str, str]:
    """Checked: model package group -> endpoint name."""
    all_match(list(value), r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a model package group name")
    return dict(zip(value, all_match(list(value.values()), CHALLENGER_ENDPOINT, "an endpoint name"), strict=True))


def _model_roles(value: list[str]) -> list[str]:
    """Checked: each an IAM role ARN (wildcards allowed)."""
    return all_match(value, ROLE_ARN_PATTERN, "an IAM role ARN (wildcards allowed)")


@settings_model
class Challenger:
    """Spec scenario 3, stage 2: the challenger CTR gate (thresholds.ctr_* and challenger_traffic_fraction
    are in `thresholds`), the 7-day review after a promotion, and `mlgov rollback`."""

    # Which endpoint a group's new package is tried on.
    endpoints: dict[str, str] = setting(
        factory=lambda: {"manga-recommender": "manga-recommender-prod"}, check=_endpoints
    )
    watch_interval_minutes: int = setting(default=5, ge=1, le=60)
    # PROMOTE waits this long so a novelty effect can fade; the effect must also hold over the last recent_minutes.
    min_minutes: int = setting(default=120, ge=0, le=10_080)
    max_minutes: int = setting(default=360, ge=5, le=10_080)
    min_impressions_per_variant: int = setting(default=1000, ge=0)
    min_clicks_total: int = setting(default=100, ge=0)
    srm_alpha: float = setting(default=0.001, gt=0, lt=0.5)
    guardrail_alpha: float = setting(default=0.001, gt=0, lt=0.5)
    latency_ratio_max: float = setting(default=1.5, gt=1, le=100)
    # Every way to REJECT shares this budget under A/A (the CTR test ctr_reject_share of it, six guardrails the rest).
    reject_budget: float = setting(default=0.01, gt=0, lt=0.5)
    ctr_reject_share: float = setting(default=0.7, gt=0, lt=1)
    recent_minutes: int = setting(default=60, ge=0, le=10_080)
    # The recent window must clear the margin by this many standard errors (recent_minutes 0: no check).
    recent_z: float = setting(default=1.0, ge=0, le=10)
    # Looks read minutes at least this old (CloudWatch may still fill newer ones).
    settle_minutes: int = setting(default=2, ge=0, le=60)
    missing_metric_minutes: int = setting(default=10, ge=1, le=10_080)
    # RecommendationImpressions per AWS/SageMaker Invocation each variant must stay within (forged metrics: INVALID).
    impressions_per_invocation_min: float = setting(default=0.5, ge=0)
    impressions_per_invocation_max: float = setting(default=20.0, gt=0)
    diversity_ratio_min: float = setting(default=0.9, gt=0, le=1)
    # Impressions per invocation must agree between the variants (one recommender renders both): a relative gap
    # beyond the tolerance plus z standard errors is INVALID.
    impressions_ratio_tolerance: float = setting(default=0.02, ge=0, le=1)
    impressions_ratio_z: float = setting(default=5.0, gt=0, le=20)
    # A challenger CTR ratio proven above this is forged clicks: INVALID, never PROMOTE.
    ctr_ratio_plausible_max: float = setting(default=2.0, gt=1, le=100)
    # PROMOTE needs every configured guardrail evaluated on at least this share of the aligned minutes.
    guardrail_min_coverage: float = setting(default=0.5, gt=0, le=1)
    # [[minutes since live, challenger weight], ...]: docs/challenger.md, Traffic ramp.
    ramp: list[tuple[int, float]] = setting(factory=list, max_length=10)
    # The front-loaded CTR test's share of the CTR alpha (docs/challenger-statistics.md); unset: `early_share`.
    ctr_early_share: float | None = setting(default=None, ge=0, lt=1)
    ctr_early_minutes: int = setting(default=30, ge=1, le=10_080)
    challenger_instance_count: int = setting(default=1, ge=1, le=100)
    # Roles the challenger's model may run as (it reuses the production model's role); PassRole is granted on these.
    model_execution_role_arns: list[str] = setting(
        factory=lambda: ["arn:*:iam::*:role/SageMakerExecution*"], min_length=1, check=_model_roles
    )
    metrics: RecommendationMetricNames = setting(factory=RecommendationMetricNames)
    review_after_days: int = setting(default=7, ge=1, le=90)
    retention_metric: RetentionMetric = setting(factory=RetentionMetric)
    # Relative: a review finding when retention after promotion is lower than before by more than this.
    max_retention_drop: float = setting(default=0.02, gt=0, lt=1)
    rollback_snapshot_warning_days: int = setting(default=30, ge=1, le=3650)
    # A candidate trained on an older catalog snapshot than production is refused unless this is true.
    allow_older_catalog_snapshot: bool = False
    # PROMOTE waits for a person in approvals.approvers.challenger (docs/approvals.md).
    require_human_approval: bool = False
    approval_expiry_hours: int = setting(default=24, ge=1, le=168)

    @property
    def early_share(self) -> float:
        """The front-loaded test's share as the gate runs it: `ctr_early_share` when set, else RAMP_EARLY_SHARE with a
        ramp (a ramp alone then reaches issue 24's target) and 0 without one."""
        if self.ctr_early_share is not None:
            return self.ctr_early_share
        return RAMP_EARLY_SHARE if self.ramp else 0.0

    def check(self) -> None:
        if self.min_minutes > self.max_minutes:
            raise ValueError(f"min_minutes {self.min_minutes} is above max_minutes {self.max_minutes}")
        check_ramp(self.ramp)
        fewest = MIN_DF + 1 + 1 + self.settle_minutes
        if self.early_share and not fewest <= self.ctr_early_minutes <= self.max_minutes:
            why = (
                "ctr_early_share is set" if self.ctr_early_share else f"a ramp sets ctr_early_share {RAMP_EARLY_SHARE}"
            )
            raise ValueError(
                f"ctr_early_minutes {self.ctr_early_minutes} must be between {fewest} and max_minutes "
                f"{self.max_minutes} when {why}: an early look must read at least {MIN_DF + 1} "
                f"settled minutes (a look at minute W reads W - 1 - settle_minutes), or the early share is never spent"
                + ("" if self.ctr_early_share else " (or set ctr_early_share 0: no front-loaded test)")
            )

    def runtime_config(self, thresholds: Any) -> dict[str, Any]:
        """What the gate decides with (mlgov_runtime.challenger.config), in the function and the CLI alike."""
        return {
            "decision": {
                "alpha": thresholds.ctr_test_alpha,
                "traffic_fraction": thresholds.challenger_traffic_fraction,
                "non_inferiority_margin": thresholds.ctr_noninferiority_margin,
                "ctr_floor": thresholds.ctr_promotion_floor,
                "json_failure_rate_max": thresholds.max_json_failure_rate,
                "srm_alpha": self.srm_alpha,
                "guardrail_alpha": self.guardrail_alpha,
                "latency_ratio_max": self.latency_ratio_max,
                "min_minutes": self.min_minutes,
                "max_minutes": self.max_minutes,
                "min_impressions_per_variant": self.min_impressions_per_variant,
                "min_clicks_total": self.min_clicks_total,
                "reject_budget": self.reject_budget,
                "ctr_reject_share": self.ctr_reject_share,
                "recent_minutes": self.recent_minutes,
                "recent_z": self.recent_z,
                "settle_minutes": self.settle_minutes,
                "missing_metric_minutes": self.missing_metric_minutes,
                "impressions_per_invocation_min": self.impressions_per_invocation_min,
                "impressions_per_invocation_max": self.impressions_per_invocation_max,
                "diversity_ratio_min": self.diversity_ratio_min,
                "impressions_ratio_tolerance": self.impressions_ratio_tolerance,
                "impressions_ratio_z": self.impressions_ratio_z,
                "ctr_ratio_plausible_max": self.ctr_ratio_plausible_max,
                "guardrail_min_coverage": self.guardrail_min_coverage,
                "ramp": [list(step) for step in self.ramp],
                "ctr_early_share": self.early_share,
                "ctr_early_minutes": self.ctr_early_minutes,
            },
            "endpoints": dict(self.endpoints),
            "metrics": dump(self.metrics, RecommendationMetricNames),
            "retention_metric": dump(self.retention_metric, RetentionMetric),
            "challenger_instance_count": self.challenger_instance_count,
            "review_after_days": self.review_after_days,
            "max_retention_drop": self.max_retention_drop,
            "rollback_snapshot_warning_days": self.rollback_snapshot_warning_days,
            "allow_older_catalog_snapshot": self.allow_older_catalog_snapshot,
            "require_human_approval": self.require_human_approval,
            "approval_expiry_hours": self.approval_expiry_hours,
        }


Section = Challenger

PIPELINE_ROLE = r"arn:[\w*-]+:iam::[\d*]+:role/[\w+=,.@/*?-]+"


def _pipeline_roles(value: list[str]) -> list[str]:
    """Checked: each a role ARN (wildcards allowed)."""
    return all_match(value, PIPELINE_ROLE, "a role ARN")


@settings_model
class PipelineRoles:
    """From `guardrails`: the roles whose registrations may start a challenger without a retraining run and the
    protected path they must sit on (checked again at cold start, as at synth: an edited variable naming any role
    fails the start, naming the key), and the counts table's writers."""

    pipeline_role_arns: list[str] = setting(factory=list, check=_pipeline_roles)
    protected_role_path: str = setting(default=PROTECTED_ROLE_PATH, pattern=ROLE_PATH)
    # Who the counts table's policy must let write, and no one else (challenger/counts_policy.py).
    metric_writer_role_arns: list[str] = setting(
        factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovRecommenderMetrics*"], check=_pipeline_roles
    )
    break_glass_role_arns: list[str] = setting(factory=list, check=_pipeline_roles)
    # With break-glass, who alone may change the table's policy (mlgov.guardrails.deploying_roles): the check
    # compares ControlsOnlyByDeploy's exemptions with them.
    deployer_role_arns: list[str] = setting(
        factory=lambda: ["arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*"], check=_pipeline_roles
    )
    role_admin_arns: list[str] = setting(
        factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin"], check=_pipeline_roles
    )

    def check(self) -> None:
        problem = protected_path_problem(self.pipeline_role_arns, self.protected_role_path)
        if problem:
            raise KeyProblem("pipeline_role_arns", problem)


def _offline_gate_knob(name: str) -> Any:
    """A knob the offline gate declares (mlgov_runtime.retraining.settings), with its default and rules."""
    from mlgov_runtime.retraining.settings import Thresholds as OfflineGate

    spec = next(f for f in dataclasses.fields(OfflineGate) if f.name == name)
    return dataclasses.field(default=spec.default, metadata=spec.metadata)


def _approvals_field(name: str) -> Any:
    """A field of the `approvals` section (mlgov_runtime.approvals.settings), with its default and rules."""
    from mlgov_runtime.approvals.settings import Approvals

    spec = next(f for f in dataclasses.fields(Approvals) if f.name == name)
    return dataclasses.field(default_factory=spec.default_factory, metadata=spec.metadata)


@settings_model
class ReceivedThresholds(Thresholds):
    """`thresholds` as the challenger function receives it: its knobs and the offline gate's JSON limit."""

    max_json_failure_rate: float = _offline_gate_knob("max_json_failure_rate")


@settings_model
class Approvers:
    """From `approvals`: who may approve a promotion (the approval service checks the same list)."""

    approvers: dict[Literal["retirement", "challenger"], list[str]] = _approvals_field("approvers")


@settings_model
class Received:
    """What the challenger function receives from the settings."""

    challenger: Challenger = setting(factory=Challenger)
    thresholds: ReceivedThresholds = setting(factory=ReceivedThresholds)
    guardrails: PipelineRoles = setting(factory=PipelineRoles)
    approvals: Approvers = setting(factory=Approvers)
    idempotency_ttl_seconds: int = shared("idempotency_ttl_seconds")


@dataclass(frozen=True, kw_only=True)
class ChallengerSettings(FindingsChannelEnv, IdempotencyEnv):
    config: ChallengerConfig
    state_machine_arn: str
    retraining_state_machine_arn: str | None = None
    pipeline_role_arns: frozenset[str] = frozenset()
    # The human step before a promotion (challenger.require_human_approval): the approvals store, its MAC key
    # (verify only) and who may approve; set by stacks/approvals.py.
    approvals_table: str | None = None
    approvals_mac_key_id: str | None = None
    approvers: dict[str, tuple[str, ...]] | None = None


def load_challenger_settings(env: Env) -> ChallengerSettings:
    from mlgov_runtime.approvals import settings as approvals_env
    from mlgov_runtime.challenger.config import config_from_dict, with_writers

    got = received(env, Received)
    try:
        config = config_from_dict(got.challenger.runtime_config(got.thresholds))
        g = got.guardrails
        deployers = g.deployer_role_arns + g.role_admin_arns + g.break_glass_role_arns
        config = with_writers(config, g.metric_writer_role_arns + g.break_glass_role_arns, deployers)
    except ValueError as exc:  # the cross-section rules synth checks too (mlgov.settings.check_challenger)
        raise SettingsError(f"environment variable {variable(Received)}: 'mlgov.challenger': {exc}") from None
    return ChallengerSettings(
        **FindingsChannelEnv.read(env),
        idempotency_table=required(env, IDEMPOTENCY_TABLE_NAME, TABLE, "a DynamoDB table name"),
        idempotency_ttl_seconds=got.idempotency_ttl_seconds,
        config=config,
        state_machine_arn=required(env, STATE_MACHINE_ARN, MACHINE, "a state machine ARN"),
        retraining_state_machine_arn=optional(env, RETRAINING_STATE_MACHINE_ARN, MACHINE, "a state machine ARN"),
        pipeline_role_arns=frozenset(got.guardrails.pipeline_role_arns),
        approvals_table=optional(env, approvals_env.APPROVALS_TABLE_NAME, approvals_env.TABLE, "a DynamoDB table name"),
        approvals_mac_key_id=optional(env, approvals_env.MAC_KEY_ID, approvals_env.KEY_ID, "a KMS key ARN or id"),
        approvers={str(k): tuple(v) for k, v in got.approvals.approvers.items()},
    )


settings = Lazy(load_challenger_settings)
