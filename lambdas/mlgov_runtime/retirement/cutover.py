"""Did the old endpoint go quiet after the cut-over? Pure rules; signal and verdicts: docs/retirement.md."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlgov_runtime.retirement.logic import (
    EndpointView,
    ReadFailure,
    RetirementCheck,
    RetirementPolicy,
    Verdict,
    iso,
    package_version,
)


class QuietStatus(enum.StrEnum):
    QUIET = "QUIET"  # no invocation since the grace period ended, and CloudWatch shows it
    STILL_CALLED = "STILL_CALLED"  # invocations after the grace period: clients still pinned to it
    NO_DATA = "NO_DATA"  # no datapoint at all and nothing shows CloudWatch was recording: not proof of quiet
    PENDING = "PENDING"  # the grace period has not ended yet
    ERROR = "ERROR"  # metrics unreadable


@dataclass(frozen=True)
class Cutover:
    at: datetime
    signal: str
    successor: str | None = None


Hourly = Mapping[str, Mapping[str, float]]  # series name -> {hour ISO: Sum}, only hours with data


class HourlyInvocations(Protocol):
    def hourly_invocations(
        self,
        endpoint_name: str,
        variant_names: Iterable[str],
        components: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> tuple[Hourly, Hourly]:
        """(by variant, by inference component) AWS/SageMaker Invocations by hour; raises ReadFailure."""
        ...


def served_labels(view: EndpointView) -> set[str]:
    labels = set()
    for variant in view.variants:
        if variant.shadow:
            continue
        for ref in variant.package_refs:
            parsed = package_version(ref) if ref else None
            if parsed:
                labels.add(f"{parsed[0]}/{parsed[1]}")
    return labels


def find_cutover(check: RetirementCheck, others: Sequence[EndpointView], policy: RetirementPolicy) -> Cutover | None:
    """The old endpoint's cut-over, or None when nothing took over (and it is not tagged retiring)."""
    if check.verdict in (Verdict.CURRENT, Verdict.ERROR):
        return None
    current = set(check.current_versions)
    successors = [v for v in others if v.name != check.endpoint_name and current & served_labels(v)]
    if successors:
        newest = max(successors, key=lambda v: v.modified_at or v.created_at or datetime.min.replace(tzinfo=UTC))
        moments = [m for m in (newest.modified_at or newest.created_at, check.stale_since) if m]
        if moments:
            serves = ", ".join(sorted(current & served_labels(newest)))
            return Cutover(max(moments), f"{newest.name} serves the current version {serves}", newest.name)
    if check.purpose == "retiring" and check.stale_since:
        return Cutover(
            check.stale_since, f"tagged {policy.purpose_tag_key}=retiring; no endpoint serves the current version"
        )
    return None


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class QuietCheck:
    status: QuietStatus
    cutover_at: datetime
    signal: str
    successor: str | None
    grace_hours: float
    due_at: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    hours: list[dict[str, Any]] = field(default_factory=list)  # {"hour", "invocations": int | None}
    by_variant: dict[str, list[int | None]] = field(default_factory=dict)
    by_inference_component: dict[str, list[int | None]] = field(default_factory=dict)
    invocations: int | None = None  # after the grace period; None: no datapoint
    successor_invocations: int | None = None
    reason: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "cutover_at": iso(self.cutover_at),
            "signal": self.signal,
            "successor": self.successor,
            "grace_hours": self.grace_hours,
            "due_at": iso(self.due_at),
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)}
            if self.window_start and self.window_end
            else None,
            "invocations": self.invocations,
            "hours": self.hours,
            "by_variant": self.by_variant,
            "by_inference_component": self.by_inference_component,
            "successor_invocations": self.successor_invocations,
            "reason": self.reason,
            "fix": self.fix,
        }


def _series(hourly: Hourly, hours: list[str]) -> dict[str, list[int | None]]:
    return {name: [round(points[h]) if h in points else None for h in hours] for name, points in sorted(hourly.items())}


def _total(rows: Iterable[list[int | None]], i: int) -> int | None:
    values = [r[i] for r in rows if r[i] is not None]
    return sum(v for v in values if v is not None) if values else None


def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/endpoints/{name}"


def check_quiet(
    check: RetirementCheck,
    view: EndpointView,
    cutover: Cutover,
    successor: EndpointView | None,
    metrics: HourlyInvocations,
    now: datetime,
    grace_hours: float,
    window_hours: int,
) -> QuietCheck:
    name = check.endpoint_name
    due = cutover.at + timedelta(hours=grace_hours)
    result = QuietCheck(QuietStatus.PENDING, cutover.at, cutover.signal, cutover.successor, grace_hours, due)
    recheck = f"mlgov retire audit --went-quiet --endpoint {name}"
    if now - due < timedelta(minutes=1):
        result.reason = f"Cut over at {iso(cutover.at)}; the check is due at {iso(due)} ({grace_hours:g} h later)."
        result.fix = f"Rerun after {iso(due)}: `{recheck}`."
        return result
    start = max(due, now - timedelta(hours=window_hours))
    result.window_start, result.window_end = start, now
    hours = []
    hour = _hour(start)
    while hour < now:
        hours.append(iso(hour))
        hour += timedelta(hours=1)
    try:
        variants, components = metrics.hourly_invocations(
            name, [v.name for v in view.variants], view.components, start, now
        )
        control = None
        if successor is not None:
            s_variants, s_components = metrics.hourly_invocations(
                successor.name, [v.name for v in successor.variants], successor.components, start, now
            )
            points = [p for series in (*s_variants.values(), *s_components.values()) for p in series.values()]
            control = round(sum(points)) if points else None
    except ReadFailure as exc:
        result.status, result.reason = QuietStatus.ERROR, str(exc)
        result.fix = f"Fix the metric read (cloudwatch:GetMetricStatistics, ListMetrics), then `{recheck}`."
        return result
    result.by_variant = _series(variants, hours)
    result.by_inference_component = _series(components, hours)
    result.successor_invocations = control
    for i, label in enumerate(hours):
        totals = [
            t
            for t in (_total(result.by_variant.values(), i), _total(result.by_inference_component.values(), i))
            if t is not None
        ]
        # Variant and component series count the same requests: the larger, never their sum.
        result.hours.append({"hour": label, "invocations": max(totals) if totals else None})
    seen = [h["invocations"] for h in result.hours if h["invocations"] is not None]
    result.invocations = sum(seen) if seen else None
    since = f"since {iso(start)} (cut over at {iso(cutover.at)}: {cutover.signal}; due quiet {grace_hours:g} h later)"
    link = console_url(check.region, name)
    if result.invocations:
        called = [h["hour"][11:16] for h in result.hours if h["invocations"]]
        where = [
            f"{kind} {series} {sum(v or 0 for v in values):,}"
            for kind, table in (("variant", result.by_variant), ("inference component", result.by_inference_component))
            for series, values in table.items()
            if any(values)
        ]
        result.status = QuietStatus.STILL_CALLED
        result.reason = (
            f"{name} still took {result.invocations:,} invocations {since}, in {len(called)} of {len(hours)} "
            f"hours, the last from {called[-1]} UTC ({'; '.join(where)})."
        )
        result.fix = (
            f"Clients still resolve {name} (a cached URL, an old app version, a config not reloaded): move them to "
            f"{cutover.successor or 'the current endpoint'}, watch the hourly series ({link}), then `{recheck}`; "
            f"once it passes, `mlgov retire request --endpoint {name}`."
        )
    elif seen:
        result.status = QuietStatus.QUIET
        result.reason = f"SageMaker recorded 0 invocations of {name} in every hour with data {since}."
        result.fix = f"Retire it: `mlgov retire request --endpoint {name}` (a live check still runs before deleting)."
    elif control:
        result.status = QuietStatus.QUIET
        result.reason = (
            f"No Invocations datapoint for {name} {since}, while {cutover.successor} recorded {control:,} in the "
            "same window: CloudWatch was recording, so no request reached it."
        )
        result.fix = f"Retire it: `mlgov retire request --endpoint {name}` (a live check still runs before deleting)."
    else:
        result.status = QuietStatus.NO_DATA
        result.reason = (
            f"No Invocations datapoint for {name} {since}, and nothing shows CloudWatch was recording "
            f"({'no successor' if successor is None else f'{successor.name} has none either'}): no data, not quiet."
        )
        result.fix = (
            f"Confirm from the callers' side (their logs, {link}) that nothing calls {name}, then `{recheck}` once "
            f"the successor takes traffic, or `mlgov retire request --endpoint {name}` (its live check still runs)."
        )
    return result
