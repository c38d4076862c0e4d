"""The scan's member sessions: assumed-role credentials are re-assumed before they expire, and a member
account/region that cannot be read is named with its cause and the next step (no AWS, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from mlgov_runtime.adapters.aws import assumed_role_session
from mlgov_runtime.adapters.member_accounts import assume_failure, listing_failure
from mlgov_runtime.org_scan.logic import Target

ROLE = "arn:aws:iam::222222222222:role/MlGovMemberAudit"
TARGET = Target("222222222222", "eu-west-1")


class FakeSts:
    """AssumeRole answers with credentials that expire after the given lifetimes, one per call."""

    def __init__(self, lifetimes: list[timedelta]) -> None:
        self.lifetimes = lifetimes
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": f"secret{n}",
                "SessionToken": f"token{n}",
                "Expiration": datetime.now(UTC) + self.lifetimes[min(n, len(self.lifetimes)) - 1],
            }
        }


class FakeBase:
    region_name = "eu-west-1"

    def __init__(self, sts: FakeSts) -> None:
        self.sts = sts

    def client(self, service: str, **_: Any) -> FakeSts:
        assert service == "sts"
        return self.sts


def test_credentials_about_to_expire_are_assumed_again_before_use() -> None:
    # Given a role session whose first credentials expire in 5 minutes (an hour-long scan outlives them)
    sts = FakeSts([timedelta(minutes=5), timedelta(hours=1)])
    session = assumed_role_session(FakeBase(sts), ROLE, "mlgov-org-scan", None, "eu-west-1")
    assert len(sts.calls) == 1  # assumed at once: a role that cannot be assumed fails up front
    # When a client signs a request
    frozen = session.get_credentials().get_frozen_credentials()  # type: ignore[union-attr]
    # Then botocore assumed the role again and signs with the fresh credentials
    assert len(sts.calls) == 2 and frozen.access_key == "ASIA2"
    assert sts.calls[0] == {"RoleArn": ROLE, "RoleSessionName": "mlgov-org-scan"}


def test_credentials_with_time_left_are_not_assumed_again() -> None:
    sts = FakeSts([timedelta(hours=1)])
    session = assumed_role_session(FakeBase(sts), ROLE, "mlgov-org-scan", None, "eu-west-1")
    assert session.get_credentials().get_frozen_credentials().access_key == "ASIA1"  # type: ignore[union-attr]
    assert len(sts.calls) == 1


def error(code: str, message: str = "denied") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


@pytest.mark.parametrize(
    ("code", "reason_code", "words"),
    [
        ("AccessDenied", "ROLE_NOT_ASSUMABLE", ["does not exist in account 222222222222", "MlGovMemberRoleStackSet"]),
        ("RegionDisabledException", "REGION_DISABLED", ["STS is not activated in eu-west-1"]),
        ("Throttling", "THROTTLED", ["later"]),
    ],
)
def test_a_role_that_cannot_be_assumed_is_named_with_what_to_do(code: str, reason_code: str, words: list[str]) -> None:
    unreachable = assume_failure(error(code), TARGET, ROLE)
    assert unreachable.code == reason_code
    for word in words:
        assert word in unreachable.reason
    assert "mlgov scan --accounts 222222222222 --regions eu-west-1" in unreachable.reason


@pytest.mark.parametrize(
    ("exc", "reason_code", "words"),
    [
        (error("UnrecognizedClientException"), "REGION_DISABLED", ["not enabled for the account", "org_scan.regions"]),
        (error("AccessDeniedException"), "ACCESS_DENIED", ["may not list SageMaker endpoints"]),
        (error("ThrottlingException"), "THROTTLED", ["beyond 8 attempts"]),
        (
            EndpointConnectionError(endpoint_url="https://api.sagemaker.xx-nowhere-1.amazonaws.com"),
            "REGION_UNAVAILABLE",
            [],
        ),
    ],
)
def test_a_region_that_cannot_be_listed_is_named_with_its_cause(
    exc: Exception, reason_code: str, words: list[str]
) -> None:
    unreachable = listing_failure(exc, TARGET)
    assert unreachable.code == reason_code
    for word in words:
        assert word in unreachable.reason
