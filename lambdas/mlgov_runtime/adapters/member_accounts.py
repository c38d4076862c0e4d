"""Reaching a member account/region for the org-wide scan: assume the member role (credentials
refreshed before they expire), list the endpoints, and say in one sentence why an account/region
cannot be read (mlgov_runtime.org_scan.logic.MemberConnector)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from mlgov_runtime.adapters.aws import AwsContext
from mlgov_runtime.core.arns import role_arn
from mlgov_runtime.org_scan.forwarding import deploy_command
from mlgov_runtime.org_scan.logic import Target, Unreachable

_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
_REGION_REJECTS_SESSION = {"UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"}
MEMBER_ROLE_STACK = "MlGovMemberRole"  # stacks/constants.MEMBER_ROLE_STACK_NAME
# Any account of an organization may read its id: the member account's own credentials fill it in.
ORGANIZATION_ID_LOOKUP = "$(aws organizations describe-organization --query Organization.Id --output text)"


def _again(target: Target) -> str:
    return f"`mlgov scan --accounts {target.account_id} --regions {target.region}`"


def member_role_parameters(
    governance_account: str | None, governance_region: str | None, organization_id: str | None
) -> dict[str, str | None]:
    """The member role stack's parameters as the scan knows them; the organization's id, when the settings do not
    name it, is looked up by the deploying shell."""
    return {
        "GovernanceAccountId": governance_account,
        "OrganizationId": organization_id or ORGANIZATION_ID_LOOKUP,
        "GovernanceRegion": governance_region,
    }


def assume_failure(
    exc: Exception,
    target: Target,
    role: str,
    member_role: bool = True,
    parameters: dict[str, str | None] | None = None,
) -> Unreachable:
    """`member_role`: `role` is the product's member role (else one the operator named, e.g. `--role-name`);
    `parameters`: its stack's parameters (member_role_parameters), for the deploy command."""
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    if code in ("AccessDenied", "AccessDeniedException") and not member_role:
        name = role.rsplit("/", 1)[-1]
        return Unreachable(
            f"Cannot assume {role} (AccessDenied): the role does not exist in account {target.account_id}, or it "
            "does not trust your credentials. Next: check that the role exists there and that its trust policy "
            f"names your principal, then `mlgov scan --accounts {target.account_id} --regions {target.region} "
            f"--role-name {name}`.",
            "ROLE_NOT_ASSUMABLE",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        deploy = deploy_command(MEMBER_ROLE_STACK, parameters or member_role_parameters(None, None, None))
        return Unreachable(
            f"Cannot assume {role} (AccessDenied): the role does not exist in account {target.account_id}, or it "
            "does not trust this scan's role. Next: deploy the member role there (StackSet MlGovMemberRoleStackSet, "
            f"or in that account {deploy}), then {_again(target)}.",
            "ROLE_NOT_ASSUMABLE",
        )
    if code == "RegionDisabledException":
        return Unreachable(
            f"STS is not activated in {target.region} for the governance account ({code}). Next: activate the "
            f"region's STS endpoint (IAM > Account settings), then {_again(target)}.",
            "REGION_DISABLED",
        )
    if code in _THROTTLED:
        return Unreachable(
            f"STS throttled AssumeRole into {target.account_id} beyond the retries ({code}). Next: {_again(target)} "
            "later, or lower org_scan.max_concurrency.",
            "THROTTLED",
        )
    return Unreachable(f"Cannot assume {role}: {code}: {exc}. Next: {_again(target)} once fixed.", "ROLE_NOT_ASSUMABLE")


def listing_failure(exc: Exception, target: Target) -> Unreachable:
    where = f"account {target.account_id} in {target.region}"
    if isinstance(exc, EndpointConnectionError):
        return Unreachable(
            f"No SageMaker endpoint answers for {target.region} ({exc}). Next: check the region name in "
            "org_scan.regions.",
            "REGION_UNAVAILABLE",
        )
    if not isinstance(exc, ClientError):
        return Unreachable(f"Listing endpoints in {where} failed: {type(exc).__name__}: {exc}.", "UNAVAILABLE")
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _REGION_REJECTS_SESSION:
        return Unreachable(
            f"{target.region} rejects the session of {where} ({code}): the region is not enabled for the account "
            "(an opt-in region). Next: enable it (Account > AWS Regions) or remove it from org_scan.regions.",
            "REGION_DISABLED",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return Unreachable(
            f"The member role may not list SageMaker endpoints in {where} ({code}): an older member role, or an "
            f"SCP denies it. Next: update the StackSet MlGovMemberRoleStackSet to the current template, then "
            f"{_again(target)}.",
            "ACCESS_DENIED",
        )
    if code in _THROTTLED:
        return Unreachable(
            f"SageMaker throttled ListEndpoints in {where} beyond 8 attempts with backoff ({code}). Next: "
            f"{_again(target)} later, or lower org_scan.max_concurrency.",
            "THROTTLED",
        )
    return Unreachable(f"Listing endpoints in {where} failed: {code}: {exc}.", "UNAVAILABLE")


AssumeFailure = Callable[[Exception, Target], Unreachable]


class AwsMemberAccount:
    def __init__(self, aws: AwsContext, target: Target, assume_failed: AssumeFailure | None = None) -> None:
        """`assume_failed`: what a failed AssumeRole says; in another region (`in_region`) the role is assumed
        again only when its credentials are renewed."""
        self._aws, self._target, self._assume_failed = aws, target, assume_failed
        self._lock = threading.Lock()
        self._other_region = False

    def client(self, service: str) -> Any:
        with self._lock:  # clients are thread-safe; creating them is not
            if self._other_region:
                return self._aws.client_in(service, self._target.region)
            return self._aws.client(service)

    def in_region(self, region: str) -> AwsMemberAccount:
        """The same account in another region on the same session: STS credentials are global, so one
        AssumeRole serves every region (the sweep of regions outside org_scan.regions)."""
        view = AwsMemberAccount(self._aws, Target(self._target.account_id, region), self._assume_failed)
        view._other_region = region != self._target.region
        return view

    def endpoint_names(self) -> list[str]:
        names: list[str] = []
        try:
            for page in (
                self.client("sagemaker").get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 100})
            ):
                names += [str(e["EndpointName"]) for e in page.get("Endpoints", [])]
        except (ClientError, BotoCoreError) as exc:
            # Renewing the credentials assumes the role again: a refusal there is the role's, as at connect.
            renewal = isinstance(exc, ClientError) and exc.operation_name == "AssumeRole"
            if renewal and self._other_region and self._assume_failed:
                raise self._assume_failed(exc, self._target) from exc
            raise listing_failure(exc, self._target) from exc
        return names


class MemberAccounts:
    """The governance account's own account/regions are read directly; every other one through the role."""

    def __init__(
        self,
        *,
        own_account: str,
        role_name: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        pool: int = 10,
        session_name: str = "mlgov-org-scan",
        member_role: bool = True,
        governance_region: str | None = None,
        organization_id: str | None = None,
    ) -> None:
        """`governance_region`, `organization_id`: what the member role's deploy command is filled in with."""
        self.own_account, self.role_name, self.member_role = own_account, role_name, member_role
        self.parameters = member_role_parameters(own_account, governance_region, organization_id)
        self._profile, self._endpoint_url = profile, endpoint_url
        self._pool, self._session_name = pool, session_name

    def role_arn(self, target: Target) -> str | None:
        if target.account_id == self.own_account:
            return None
        return role_arn(target.region, target.account_id, self.role_name)

    def connect(self, target: Target) -> AwsMemberAccount:
        role = self.role_arn(target)
        try:
            aws = AwsContext(
                region=target.region,
                profile=self._profile,
                endpoint_url=self._endpoint_url,
                role_arn=role,
                session_name=self._session_name,
                pool=self._pool,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._assume_failure(exc, target) from exc
        return AwsMemberAccount(aws, target, self._assume_failure)

    def _assume_failure(self, exc: Exception, target: Target) -> Unreachable:
        role = self.role_arn(target) or "this account's credentials"
        return assume_failure(exc, target, role, self.member_role, self.parameters)
