"""Check endpoints and turn problems into findings. Shared by the capacity Lambda, `mlgov capacity`
and the org-wide scan (`CapacityChecker.check_endpoint`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlgov_runtime.capacity.campaign_record import anchors, overdue
from mlgov_runtime.capacity.logic import (
    KIND_CAMPAIGN_OVERDUE,
    KIND_COLD_START,
    KIND_ERROR,
    KIND_NO_AUTOSCALING,
    KIND_SINGLE_INSTANCE,
    KIND_ZERO,
    KINDS,
    AutoscalingIndex,
    CapacityAudit,
    CapacityPolicy,
    CapacityReader,
    CapacityReadError,
    CapacityRules,
    EndpointFacts,
    EndpointGone,
    Verdict,
    is_component_endpoint,
    judge,
    resource_ids,
)
from mlgov_runtime.core.arns import sagemaker_arn
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.core.findings import Finding, FindingSink, endpoint_resolution, store_and_publish

OuResolver = Callable[[str], Sequence[str]]

# (production, not production)
_SEVERITY = {
    KIND_ZERO: ("CRITICAL", "MEDIUM"),
    KIND_ERROR: ("MEDIUM", "MEDIUM"),
    KIND_NO_AUTOSCALING: ("MEDIUM", "LOW"),
    KIND_SINGLE_INSTANCE: ("MEDIUM", "LOW"),
    KIND_COLD_START: ("LOW", "LOW"),
    # Cost, not availability: raised actions only add instances. MEDIUM is the default routing floor (Slack and
    # Jira), below page_severities; the bill is the same whatever the environment tag says.
    KIND_CAMPAIGN_OVERDUE: ("MEDIUM", "MEDIUM"),
}
_TITLE = {
    KIND_ZERO: "can scale to zero instances",
    KIND_ERROR: "capacity could not be checked",
    KIND_NO_AUTOSCALING: "has no autoscaling",
    KIND_SINGLE_INSTANCE: "runs a single instance in business hours",
    KIND_COLD_START: "is serverless without provisioned concurrency (cold starts)",
    KIND_CAMPAIGN_OVERDUE: "still runs a campaign's raised weekly scheduled actions after its end",
}


class CapacityChecker:
    """Checks endpoints of one account/region."""

    def __init__(
        self,
        reader: CapacityReader,
        account_id: str,
        region: str,
        policy: CapacityPolicy,
        exemptions: ExemptionPolicy,
        ou_resolver: OuResolver | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reader, self.account_id, self.region = reader, account_id, region
        self.policy, self.exemptions = policy, exemptions
        self._ou_resolver = ou_resolver
        self._ous: list[str] | None = None
        self._now = now
        self.in_service = False  # the endpoint's InService state change asked

    def _exemption(self, name: str) -> tuple[bool, str | None]:
        if not name.startswith(self.exemptions.endpoint_name_prefix):
            return False, None
        if self._ous is None:
            self._ous = (
                list(self._ou_resolver(self.account_id))
                if self._ou_resolver and self.exemptions.needs_ou_lookup
                else []
            )
        return self.exemptions.decide(name, self.account_id, self._ous)

    def _audit(self, name: str, verdict: Verdict, reason: str, found: bool = True) -> CapacityAudit:
        audit = CapacityAudit(name, None, self.account_id, self.region, verdict=verdict, found=found)
        audit.reasons.append(reason)
        if verdict is Verdict.ERROR:
            audit.problems[KIND_ERROR] = [reason]
        return audit

    def check_endpoint(self, name: str, index: AutoscalingIndex | None = None) -> CapacityAudit:
        """Never raises for AWS trouble: an unreadable endpoint is ERROR (found=False when it does not exist)."""
        try:
            endpoint = self.reader.describe_endpoint(name)
        except EndpointGone:
            return self._audit(name, Verdict.ERROR, f"Endpoint {name} does not exist.", found=False)
        except CapacityReadError as exc:
            return self._audit(name, Verdict.ERROR, f"Endpoint {name} could not be read: {exc}.")
        if endpoint.get("EndpointStatus") == "Deleting":
            return self._audit(name, Verdict.ERROR, f"Endpoint {name} is being deleted.", found=False)
        exempt, why = self._exemption(name)
        if exempt:
            audit = self._audit(name, Verdict.EXEMPT, why or "exempt")
            audit.endpoint_arn = endpoint.get("EndpointArn")
            return audit
        try:
            config = self.reader.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
            arn = endpoint.get("EndpointArn")
            tags = self.reader.list_endpoint_tags(str(arn)) if arn else {}
            components = self.reader.inference_components(name) if is_component_endpoint(config) else []
            described = {c: self.reader.describe_inference_component(c) for c in components}
            if index is None:
                index = AutoscalingIndex.read(self.reader, resource_ids(name, config, components))
        except (EndpointGone, CapacityReadError) as exc:
            audit = self._audit(name, Verdict.ERROR, f"Capacity of endpoint {name} could not be read: {exc}.")
            audit.endpoint_arn = endpoint.get("EndpointArn")
            return audit
        audit = judge(
            EndpointFacts(endpoint, config, tags, components, described),
            index,
            CapacityRules(self.policy, self._now(), self.in_service),
            self.account_id,
            self.region,
        )
        if why:  # a name that looks like an experiment but is not exempt here
            audit.reasons.append(why)
        return note_overdue_campaigns(audit, tags, self._now())

    def check_many(self, names: Iterable[str] | None = None) -> list[CapacityAudit]:
        """The named endpoints, or every endpoint; a scan reads the namespace's autoscaling state once."""
        try:
            listed = list(names) if names is not None else list(self.reader.list_endpoint_names())
            index = AutoscalingIndex.read(self.reader, None) if names is None or len(listed) > 3 else None
        except CapacityReadError as exc:
            return [self._audit("*", Verdict.ERROR, f"Endpoints could not be listed: {exc}.")]
        return [self.check_endpoint(name, index) for name in listed]


def note_overdue_campaigns(audit: CapacityAudit, tags: dict[str, str], now: datetime) -> CapacityAudit:
    """A campaign past its end whose raised actions are still recorded is a finding of its own; added after the
    verdict is settled, which it never changes (settle ignores the kind too)."""
    # The end and the minimum come from the campaign's own one-time actions (tag rights cannot write them).
    one_time = anchors(a for c in audit.capacities for a in c.schedule)
    late = overdue(tags, audit.endpoint_name, audit.region, now, one_time)
    for campaign in late:
        audit.problem(KIND_CAMPAIGN_OVERDUE, campaign.reason)
    if late:
        audit.fixes[KIND_CAMPAIGN_OVERDUE] = " && ".join(c.command for c in late)
    return audit


def endpoint_arn(audit: CapacityAudit) -> str:
    return audit.endpoint_arn or (
        sagemaker_arn(audit.region, audit.account_id, f"endpoint/{audit.endpoint_name.lower()}")
    )


def finding_for(audit: CapacityAudit, kind: str, source: str) -> Finding:
    severity = _SEVERITY[kind][0 if audit.production else 1]
    fix = audit.fix_command(kind)
    reasons = audit.problems[kind]
    return Finding(
        kind=kind,
        severity=severity,
        account_id=audit.account_id,
        region=audit.region,
        resource_arn=endpoint_arn(audit),
        title=f"Endpoint {audit.endpoint_name} {_TITLE[kind]}",
        detail=f"{' '.join(reasons)} Fix: `{fix}`.",
        source=source,
        # Only what defines the problem: a changed instance count alone publishes nothing new.
        evidence={
            "endpoint_name": audit.endpoint_name,
            "verdict": audit.verdict.value,
            "production": audit.production,
            "reasons": reasons,
            "minimum": audit.minimum,
            "business_hours_minimum": audit.business_hours_minimum,
            "fix_command": fix,
        },
    )


def resolution(audit: CapacityAudit, kind: str, source: str, why: str) -> Finding:
    return endpoint_resolution(audit, endpoint_arn(audit), kind, source, why, endpoint_name=audit.endpoint_name)


@dataclass
class CapacityOutcome:
    audit: CapacityAudit
    published: list[Finding] = field(default_factory=list)


def report(audit: CapacityAudit, sink: FindingSink, source: str) -> CapacityOutcome:
    """Store and publish what changed: each problem's finding, and the end of problems that are gone.
    An unreadable endpoint closes nothing (its state is unknown); a deleted or exempt one closes all."""
    outcome = CapacityOutcome(audit)
    for kind in KINDS:
        if not audit.found:
            finding = resolution(audit, kind, source, "endpoint deleted")
        elif kind in audit.problems:
            finding = finding_for(audit, kind, source)
        elif audit.verdict is Verdict.ERROR or (kind == KIND_ZERO and audit.waiting):
            continue  # undecided closes nothing (a page its grace did not open stays open)
        else:
            finding = resolution(audit, kind, source, audit.verdict.value.lower())
        if store_and_publish(sink, finding):
            outcome.published.append(finding)
    return outcome
