"""Stale, idle or current, cost, purpose tag: pure rules, readers injected. `check_view` is the one verdict the
audit, the deletion workflow and `mlgov retire` share (docs/retirement.md)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlgov_runtime.core.arns import PACKAGE_ARN, PACKAGE_NAME, sagemaker_arn
from mlgov_runtime.core.findings import endpoint_identity, iso
from mlgov_runtime.retirement import prices

PURPOSES = ("active", "testing", "retiring", "retired")
# How long CloudWatch takes to settle AWS/SageMaker Invocations: a newer minute may still read as no traffic. The
# deletion state machine waits this long between its first live check and the final one.
INVOCATIONS_SETTLE = timedelta(minutes=3)
RETIRING = "retiring"


class EndpointGone(Exception):
    """The endpoint does not exist (any more)."""


class ReadFailure(Exception):
    """Something the verdict needs could not be read; the message says what."""


class WriteFailure(ReadFailure):
    """A change (a tag write) AWS refused or did not answer; the message names the call. A ReadFailure to the
    callers that stop on any AWS failure alike."""


class Verdict(enum.StrEnum):
    CURRENT = "CURRENT"  # serves its group's current Approved version
    STALE_ENDPOINT_ACTIVE = "STALE_ENDPOINT_ACTIVE"  # does not, and clients still call it
    RETIREMENT_CANDIDATE = "RETIREMENT_CANDIDATE"  # does not, and nobody called it in the window
    ERROR = "ERROR"  # lineage or metrics unreadable: never a candidate for deletion


@dataclass(frozen=True)
class Variant:
    name: str
    instance_type: str | None
    instance_count: int
    package_refs: tuple[str, ...]  # each container's ModelPackageName ("" when it has none)
    serverless: bool = False
    shadow: bool = False


@dataclass(frozen=True)
class EndpointView:
    name: str
    arn: str
    status: str
    config_name: str
    created_at: datetime | None
    variants: tuple[Variant, ...]
    tags: Mapping[str, str]
    components: tuple[str, ...] = ()  # inference components: their traffic is reported per component
    modified_at: datetime | None = None  # DescribeEndpoint LastModifiedTime: when an update last finished


@dataclass(frozen=True)
class ApprovedVersion:
    group: str
    version: int
    arn: str
    since: datetime | None  # when it became Approved (its last modification), else its creation

    @property
    def label(self) -> str:
        return f"{self.group}/{self.version}"


class EndpointReader(Protocol):
    def describe(self, name: str) -> EndpointView:
        """Raises EndpointGone, or ReadFailure when the endpoint, its config or a model is unreadable."""
        ...

    def current_approved(self, group: str) -> ApprovedVersion | None:
        """The group's most recent Approved package; raises ReadFailure."""
        ...


class InvocationCounter(Protocol):
    def invocations(self, endpoint_name: str, variant_names: Iterable[str], start: datetime, end: datetime) -> int:
        """Sum of AWS/SageMaker Invocations over every variant (also ones that no longer exist); ReadFailure."""
        ...

    def component_invocations(self, component_names: Sequence[str], start: datetime, end: datetime) -> int:
        """Sum of AWS/SageMaker Invocations per InferenceComponentName; ReadFailure."""
        ...


@dataclass(frozen=True)
class RetirementPolicy:
    watch_tag_key: str = "managed_by"
    watch_tag_values: frozenset[str] = frozenset({"manga-recommender-pipeline"})
    name_prefixes: tuple[str, ...] = ("manga-recommender",)
    watched_groups: tuple[str, ...] = ("manga-recommender",)
    purpose_tag_key: str = "endpoint_purpose"
    owner_tag_keys: tuple[str, ...] = ("owner", "team")
    stale_window_hours: int = 24
    safety_window_hours: int = 1
    retiring_deadline_days: int = 7
    quiet_after_cutover_hours: float = 24.0  # when an old endpoint must have gone quiet after a cut-over
    hourly_prices: Mapping[str, float] = field(default_factory=lambda: dict(prices.HOURLY_USD))

    def watches(self, name: str, tags: Mapping[str, str]) -> bool:
        return tags.get(self.watch_tag_key) in self.watch_tag_values or name.startswith(self.name_prefixes)

    def owner(self, tags: Mapping[str, str]) -> str | None:
        return next((tags[k] for k in self.owner_tag_keys if tags.get(k)), None)


def endpoint_arn(region: str, account_id: str, name: str) -> str:
    """The ARN findings use for an endpoint, whichever path saw it (SageMaker lower-cases the name)."""
    return sagemaker_arn(region, account_id, f"endpoint/{name.lower()}")


def package_version(ref: str) -> tuple[str, int] | None:
    """(group, version) of a versioned package ARN or `group/N` name; None for anything else."""
    match = PACKAGE_ARN.fullmatch(ref) or PACKAGE_NAME.fullmatch(ref)
    return (match.group(1).lower(), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Cost:
    monthly_usd: float | None  # None when an instance type has no price
    hourly_usd: float | None
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {"monthly_usd": self.monthly_usd, "hourly_usd": self.hourly_usd, "basis": self.basis}


def endpoint_cost(variants: Iterable[Variant], hourly_prices: Mapping[str, float]) -> Cost:
    """Instance type x count x list price; serverless variants bill per request and add nothing."""
    hourly, parts, unknown = 0.0, [], []
    for v in variants:
        if v.serverless or not v.instance_type:
            parts.append(f"{v.name}: serverless (billed per request)")
            continue
        price = hourly_prices.get(v.instance_type)
        if price is None:
            unknown.append(v.instance_type)
            continue
        hourly += price * v.instance_count
        parts.append(f"{v.instance_count} x {v.instance_type} at ${price:g}/h")
    if unknown:
        return Cost(
            None,
            None,
            f"no price for {', '.join(sorted(set(unknown)))} (add it to retirement.hourly_price_usd in cdk.json)",
        )
    return Cost(round(hourly * prices.HOURS_PER_MONTH, 2), round(hourly, 4), "; ".join(parts) or "no instances")


def purpose_problem(view: EndpointView, policy: RetirementPolicy, monthly_usd: float | None) -> str | None:
    key = policy.purpose_tag_key
    value = view.tags.get(key)
    if value is None:
        return f"has no {key} tag (one of {'|'.join(PURPOSES)})"
    if value not in PURPOSES:
        return f"has {key}={value!r}, which is not one of {'|'.join(PURPOSES)}"
    if value == "retired":
        cost = f" (about ${monthly_usd:,.0f}/month)" if monthly_usd is not None else ""
        return f"is tagged {key}=retired but still exists and bills{cost}"
    return None


@dataclass
class RetirementCheck:
    endpoint_name: str
    endpoint_arn: str
    account_id: str
    region: str
    verdict: Verdict
    invocations_24h: int | None
    window_hours: int
    served_versions: list[str] = field(default_factory=list)
    current_versions: list[str] = field(default_factory=list)
    purpose: str | None = None
    purpose_problem: str | None = None
    owner: str | None = None
    cost: Cost | None = None
    stale_since: datetime | None = None
    config_name: str = ""
    reasons: list[str] = field(default_factory=list)
    cutover: dict[str, Any] | None = None  # the quiet check after a cut-over (retirement/cutover.py)
    judged_from: datetime | None = None  # younger than the window: not judged before then

    @property
    def next_step(self) -> str:
        name = self.endpoint_name
        if self.verdict is Verdict.STALE_ENDPOINT_ACTIVE:
            return (
                f"Move every caller of {name} (cached client URLs included) to the current endpoint; once it has "
                f"had no invocations for {self.window_hours} h, run `mlgov retire request --endpoint {name}`."
            )
        if self.verdict is Verdict.RETIREMENT_CANDIDATE:
            return f"Retire it: `mlgov retire request --endpoint {name}` (a human approves before anything is deleted)."
        if self.verdict is Verdict.ERROR:
            return f"Fix what could not be read, then `mlgov retire audit --endpoint {name}`."
        if self.judged_from:
            return f"Wait until {iso(self.judged_from)}, then run `mlgov retire audit --endpoint {name}`."
        return "Nothing to do."

    def to_dict(self) -> dict[str, Any]:
        return {
            **endpoint_identity(self),
            "invocations_24h": self.invocations_24h,
            "window_hours": self.window_hours,
            "served_versions": self.served_versions,
            "current_versions": self.current_versions,
            "purpose": self.purpose,
            "purpose_problem": self.purpose_problem,
            "owner": self.owner,
            "monthly_cost_usd": self.cost.monthly_usd if self.cost else None,
            "cost_basis": self.cost.basis if self.cost else None,
            "stale_since": iso(self.stale_since) if self.stale_since else None,
            "reasons": self.reasons,
            "next_step": self.next_step,
            "cutover": self.cutover,
            "judged_from": iso(self.judged_from) if self.judged_from else None,
        }


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _currency(check: RetirementCheck) -> str:
    cost = check.cost
    if cost is None or cost.monthly_usd is None:
        return f"cost unknown: {cost.basis}" if cost else "cost unknown"
    return f"about ${cost.monthly_usd:,.0f}/month ({cost.basis})"


@dataclass(frozen=True)
class ErrorMetric:
    """A client-side error metric that names the endpoint a caller tried (follow-up 4's watch)."""

    namespace: str
    metric_name: str
    dimension_name: str = "EndpointName"

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.metric_name}"


class ErrorCounter(Protocol):
    def errors(
        self, endpoint_name: str, metrics: Iterable[ErrorMetric], start: datetime, end: datetime
    ) -> dict[str, int]:
        """Sum of each metric for this endpoint, keyed by ErrorMetric.label; raises ReadFailure."""
        ...


def check_view(
    view: EndpointView,
    endpoints: EndpointReader,
    counter: InvocationCounter,
    policy: RetirementPolicy,
    now: datetime,
    account_id: str,
    region: str,
) -> RetirementCheck:
    """The verdict of an endpoint already described (the audit describes each listed endpoint once)."""
    name, window = view.name, policy.stale_window_hours
    check = RetirementCheck(
        name,
        endpoint_arn(region, account_id, name),
        account_id,
        region,
        Verdict.ERROR,
        None,
        window,
        purpose=view.tags.get(policy.purpose_tag_key),
        owner=policy.owner(view.tags),
        cost=endpoint_cost((v for v in view.variants if not v.shadow), policy.hourly_prices),
        config_name=view.config_name,
    )
    check.purpose_problem = purpose_problem(view, policy, check.cost.monthly_usd if check.cost else None)

    served: dict[str, set[int]] = {}
    unregistered = False
    for variant in view.variants:
        if variant.shadow:
            continue
        for ref in variant.package_refs:
            parsed = package_version(ref) if ref else None
            if parsed is None:
                unregistered = True
            else:
                served.setdefault(parsed[0], set()).add(parsed[1])
    check.served_versions = [f"{g}/{v}" for g in sorted(served) for v in sorted(served[g])]
    if unregistered:
        check.served_versions.append("unregistered")
    groups = sorted(served) or [g.lower() for g in policy.watched_groups]
    try:
        current = {g: endpoints.current_approved(g) for g in groups}
        invocations = counter.invocations(name, [v.name for v in view.variants], now - timedelta(hours=window), now)
        if view.components:
            invocations += counter.component_invocations(view.components, now - timedelta(hours=window), now)
    except ReadFailure as exc:
        check.reasons.append(str(exc))
        return check
    check.current_versions = [c.label for c in current.values() if c]
    check.invocations_24h = invocations
    if any(c and c.version in served.get(g, ()) for g, c in current.items()):
        check.verdict = Verdict.CURRENT
        check.reasons.append(f"Serves the current Approved version {', '.join(check.current_versions)}.")
        if invocations == 0:
            check.reasons.append(f"No invocations in {window} h.")
        return check

    newest = [c for c in current.values() if c]
    since = [c.since for c in newest if c.since] + ([view.created_at] if view.created_at else [])
    # Redundant since the newer version was approved, or since its own creation if that came later.
    check.stale_since = max(since) if since else None
    serves = ", ".join(check.served_versions) or "no model package"
    if newest:
        check.reasons.append(f"Serves {serves}, not the current Approved {', '.join(c.label for c in newest)}.")
    else:
        check.reasons.append(f"Serves {serves}; group {', '.join(groups)} has no Approved version.")
    if invocations > 0:
        check.verdict = Verdict.STALE_ENDPOINT_ACTIVE
        check.reasons.append(f"Still took {invocations:,} invocations in the last {window} h; {_currency(check)}.")
    elif young := too_young(view, now, window):
        # Not a candidate: the hours before it existed are no data, never zero invocations. No finding either.
        check.verdict, check.judged_from = Verdict.CURRENT, (view.created_at or now) + timedelta(hours=window)
        check.reasons.append(f"No invocations yet, but it was {young}.")
    else:
        check.verdict = Verdict.RETIREMENT_CANDIDATE
        check.reasons.append(f"No invocations in the last {window} h; {_currency(check)}.")
    if check.purpose == "active":
        check.reasons.append(f"It is tagged {policy.purpose_tag_key}=active.")
    return check


def too_young(view: EndpointView, now: datetime, hours: float) -> str | None:
    """Why `view` cannot be judged idle over the last `hours` yet (None: it can)."""
    born = view.created_at or now  # unknown: as if created now
    m = int((now - born).total_seconds() // 60)
    if m >= hours * 60:
        return None
    age = f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min"
    return (
        f"created {age} ago ({iso(born)}), less than the {hours:g} h window, so it can be judged only from "
        f"{iso(born + timedelta(hours=hours))}"
    )


def wasted_usd(hourly_usd: float | None, since: datetime | None, until: datetime) -> float | None:
    """What an endpoint cost from when it stopped being needed until `until`."""
    if hourly_usd is None or since is None or until <= since:
        return None if hourly_usd is None or since is None else 0.0
    return round(hourly_usd * (until - since).total_seconds() / 3600, 2)
