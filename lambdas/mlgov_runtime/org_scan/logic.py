"""The org-wide scan's plan and worker (docs/org-scan.md). Pure: AWS arrives through ports tests fake."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.core.checks import CheckContext, Clients, EndpointCheck, EndpointGone
from mlgov_runtime.core.findings import Finding
from mlgov_runtime.core.pool import bounded_map
from mlgov_runtime.org_scan import forwarding, regions

OK, ERROR = "OK", "ERROR"


@dataclass(frozen=True, order=True)
class Target:
    account_id: str
    region: str

    @property
    def key(self) -> str:
        return f"{self.account_id}-{self.region}"

    def to_dict(self) -> dict[str, str]:
        return {"account_id": self.account_id, "region": self.region}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(str(data["account_id"]), str(data["region"]))


# -- planning


@dataclass(frozen=True)
class Scope:
    """Which accounts and regions a scan covers (settings `org_scan`; filters combine with AND)."""

    regions: tuple[str, ...]
    account_ids: frozenset[str] = frozenset()  # only these (empty: every ACTIVE account)
    organizational_unit_ids: frozenset[str] = frozenset()  # only accounts under these OUs (nested included)
    account_tags: Mapping[str, str] = field(default_factory=dict)  # only accounts with all these tags
    exclude_account_ids: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "regions": list(self.regions),
            "account_ids": sorted(self.account_ids),
            "organizational_unit_ids": sorted(self.organizational_unit_ids),
            "account_tags": dict(self.account_tags),
            "exclude_account_ids": sorted(self.exclude_account_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        return cls(
            regions=tuple(data.get("regions") or ()),
            account_ids=frozenset(data.get("account_ids") or ()),
            organizational_unit_ids=frozenset(data.get("organizational_unit_ids") or ()),
            account_tags=dict(data.get("account_tags") or {}),
            exclude_account_ids=frozenset(data.get("exclude_account_ids") or ()),
        )


class Organization(Protocol):
    def active_accounts(self) -> list[str]: ...
    def accounts_under(self, ou_id: str) -> set[str]: ...
    def account_tags(self, account_id: str) -> dict[str, str]: ...


@dataclass
class Plan:
    targets: list[Target]
    skipped: dict[str, str]  # account id -> why it is not scanned although the settings name it


def plan_targets(org: Organization, scope: Scope) -> Plan:
    """ACTIVE accounts that pass every filter, times the regions; sorted, so runs compare."""
    active = set(org.active_accounts())
    accounts = set(active)
    skipped = {a: "not an ACTIVE account of the organization" for a in sorted(scope.account_ids - active)}
    if scope.account_ids:
        accounts &= scope.account_ids
    if scope.organizational_unit_ids:
        under: set[str] = set()
        for ou in sorted(scope.organizational_unit_ids):
            under |= org.accounts_under(ou)
        accounts &= under
    if scope.account_tags:
        accounts = {
            a for a in accounts if all(org.account_tags(a).get(k) == v for k, v in sorted(scope.account_tags.items()))
        }
    accounts -= scope.exclude_account_ids
    return Plan([Target(a, r) for a in sorted(accounts) for r in scope.regions], skipped)


# -- one account/region


class Unreachable(Exception):
    """The account/region could not be read at all. `reason` says why and what to do."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


class MemberAccount(Protocol):
    def client(self, service: str) -> Any: ...
    def endpoint_names(self) -> list[str]:  # raises Unreachable
        ...
    def in_region(self, region: str) -> MemberAccount:  # the same session (one AssumeRole), another region
        ...


class MemberConnector(Protocol):
    def connect(self, target: Target) -> MemberAccount:  # raises Unreachable
        ...


@dataclass
class TargetResult:
    account_id: str
    region: str
    status: str  # OK | ERROR
    reason: str = ""
    reason_code: str = ""  # ROLE_NOT_ASSUMABLE | REGION_DISABLED | ACCESS_DENIED | THROTTLED | ... when ERROR
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # OPEN findings the checks reported
    seconds: float = 0.0
    forwarding: str = ""  # OK | MISSING | DISABLED | TAMPERED | UNKNOWN | N/A (the governance account), "" unchecked
    forwarding_reason: str = ""
    # The account's other regions, looked at from here: endpoints by region, why incomplete.
    swept: bool = False
    outside: dict[str, list[str]] = field(default_factory=dict)
    outside_reason: str = ""
    listed: list[str] = field(default_factory=list)  # regions whose endpoints the sweep listed in full

    @property
    def target(self) -> Target:
        return Target(self.account_id, self.region)

    @classmethod
    def unreachable(cls, target: Target, reason: str, code: str) -> TargetResult:
        return cls(target.account_id, target.region, ERROR, reason, code)

    def summary(self) -> dict[str, Any]:
        """What the worker hands back to the Map state (small: the full result goes to S3)."""
        return {
            "account_id": self.account_id,
            "region": self.region,
            "status": self.status,
            "reason": self.reason,
            "endpoints": len(self.endpoints),
            "findings": len(self.findings),
        }

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["findings"] = [f.to_dict() for f in self.findings]
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetResult:
        fields = {f.name for f in dataclasses.fields(Finding)}
        return cls(
            account_id=str(data["account_id"]),
            region=str(data["region"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            reason_code=str(data.get("reason_code") or ""),
            endpoints=list(data.get("endpoints") or []),
            findings=[Finding(**{k: v for k, v in f.items() if k in fields}) for f in data.get("findings") or []],
            seconds=float(data.get("seconds") or 0.0),
            forwarding=str(data.get("forwarding") or ""),
            forwarding_reason=str(data.get("forwarding_reason") or ""),
            swept=bool(data.get("swept")),
            outside={str(k): [str(n) for n in v] for k, v in (data.get("outside") or {}).items()},
            outside_reason=str(data.get("outside_reason") or ""),
            listed=[str(r) for r in data.get("listed") or []],
        )


Progress = Callable[[Target, str], None]


def _check_endpoint(
    ctx: CheckContext, checks: Sequence[EndpointCheck], name: str
) -> tuple[dict[str, Any], list[Finding]] | None:
    """Every check on one endpoint; None when the endpoint disappeared meanwhile."""
    row: dict[str, Any] = {"endpoint_name": name, "account_id": ctx.account_id, "region": ctx.region}
    findings: list[Finding] = []
    inconclusive: list[str] = []
    errors: dict[str, str] = {}
    for check in checks:
        try:
            result = check.check_endpoint(ctx, name)
        except EndpointGone:
            return None
        except Exception as exc:  # one check's failure must neither hide the others nor the endpoint
            errors[check.NAME] = f"{type(exc).__name__}: {exc}"
            inconclusive.append(check.NAME)
            continue
        row.update(result.row)
        findings += result.findings
        if result.inconclusive:
            inconclusive.append(check.NAME)
    if "verdict" not in row:  # the lineage check did not answer: never COMPLIANT by default
        row.update(verdict="ERROR", reasons=[f"Check {n} failed: {e}" for n, e in errors.items()], variants=[])
    if inconclusive:
        row["inconclusive_checks"] = inconclusive
    if errors:
        row["check_errors"] = errors
    return row, findings


def scan_target(
    target: Target,
    connector: MemberConnector,
    checks: Sequence[EndpointCheck],
    *,
    options: Mapping[str, Any],
    source: str,
    now: datetime,
    concurrency: int,
    home_clients: Clients,
    progress: Progress | None = None,
    prepare: Callable[[CheckContext], None] | None = None,
    home_account: str | None = None,
    home_region: str | None = None,
    forwarding_stack: str = "MlGovMemberEventForwarding",
    scan_regions: Sequence[str] = (),
) -> TargetResult:
    """Every check on every endpoint of one account/region (unreadable: an ERROR result), forwarding, sweep."""
    started = time.monotonic()
    try:
        member = connector.connect(target)
        names = member.endpoint_names()
    except Unreachable as exc:
        result = TargetResult.unreachable(target, exc.reason, exc.code)
        result.seconds = time.monotonic() - started
        return result
    ctx = CheckContext(
        target.account_id,
        target.region,
        clients=member.client,
        home_clients=home_clients,
        options=options,
        source=source,
        now=now,
    )
    if prepare:
        prepare(ctx)

    done = (lambda name: progress(target, name)) if progress else None
    checked = bounded_map(
        lambda name: _check_endpoint(ctx, checks, name), names, concurrency, done=done, name=f"scan-{target.key}"
    )
    outcomes = [o for o in checked if o is not None]
    result = TargetResult(
        target.account_id,
        target.region,
        OK,
        endpoints=[row for row, _ in outcomes],
        findings=[f for _, found in outcomes for f in found],
    )
    if home_account is not None:
        if target.account_id == home_account:
            result.forwarding = forwarding.NOT_APPLICABLE  # the governance account's own rules hear it
        else:
            bus = forwarding.governance_bus(home_account, home_region or target.region)
            result.forwarding, result.forwarding_reason = forwarding.check(member.client("events"), bus)
            if result.forwarding in forwarding.PROBLEMS:
                result.findings.append(
                    forwarding.finding(
                        target.account_id,
                        target.region,
                        result.forwarding,
                        result.forwarding_reason,
                        source,
                        forwarding_stack,
                        bus,
                    )
                )
    if scan_regions and target.region == scan_regions[0]:

        def names_in(region: str) -> list[str]:
            names = member.in_region(region).endpoint_names()  # every page, or it raises
            result.listed.append(region)
            return names

        result.swept = True
        result.outside, result.outside_reason = regions.sweep(member.client("ec2"), scan_regions, names_in)
        for region, names in sorted(result.outside.items()):
            result.findings.append(regions.finding(target.account_id, region, names, scan_regions, source))
    result.seconds = time.monotonic() - started
    return result
