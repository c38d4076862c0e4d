"""boto3 clients with the retry policy every adapter uses."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

# Adaptive mode rate-limits the client itself after throttling, on top of exponential backoff.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
)


def assumed_role_session(
    base: Any, role_arn: str, session_name: str, endpoint_url: str | None, region: str | None
) -> boto3.session.Session:
    """A session on the role's credentials that botocore assumes again before they expire: an
    assumed role lasts about an hour, and a long scan or a warm Lambda container outlives that.
    The first AssumeRole happens here, so a role that cannot be assumed fails at once."""
    sts = base.client("sts", endpoint_url=endpoint_url, config=RETRY_CONFIG)

    def assume() -> dict[str, str]:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=assume(), refresh_using=assume, method="sts-assume-role"
    )
    core: Any = botocore.session.get_session()
    core._credentials = credentials  # botocore's documented way to hand a session refreshable credentials
    return boto3.session.Session(botocore_session=core, region_name=region or base.region_name)


class AwsContext:
    """Where clients point: region, optional profile, optional emulator URL, optional role to assume
    (credentials refreshed before they expire), optional connection pool size for threaded callers."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        role_arn: str | None = None,
        *,
        session_name: str = "mlgov-audit",
        pool: int | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._config = RETRY_CONFIG.merge(Config(max_pool_connections=pool)) if pool else RETRY_CONFIG
        self._session = boto3.session.Session(profile_name=profile, region_name=region)
        if role_arn:
            self._session = assumed_role_session(self._session, role_arn, session_name, endpoint_url, region)
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()  # `mlgov audit` asks for clients from its worker threads

    @property
    def region(self) -> str:
        region = self._session.region_name
        if not region:
            raise ValueError("no AWS region configured: pass --region or set AWS_REGION")
        return str(region)

    def client(self, service: str) -> Any:
        """A client of `service`; `service@region` names one in another region (a closure over `client`,
        as the checks get, can still reach an image's ECR region with this context's retries and URL)."""
        name, _, region = service.partition("@")
        if region:
            return self.client_in(name, region)
        with self._lock:
            return self._client(service)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            session: Any = self._session
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url, config=self._config)
        return self._clients[service]

    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def credentials(self) -> Any:
        """This session's credentials (None when there are none): to sign a request to a function URL."""
        return self._session.get_credentials()

    def client_in(self, service: str, region: str) -> Any:
        """A client for another region (an image's ECR registry), same credentials and emulator URL."""
        if region == self._session.region_name:
            return self.client(service)
        with self._lock:
            return self._client_in(service, region)

    def _client_in(self, service: str, region: str) -> Any:
        key = f"{service}@{region}"
        if key not in self._clients:
            session: Any = self._session
            self._clients[key] = session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
            )
        return self._clients[key]


@lru_cache(maxsize=32)
def context_for(region: str | None, role_arn: str | None = None) -> AwsContext:
    """Lambda-side cache: one context (and its clients) per region/role for the container's life."""
    return AwsContext(region=region, role_arn=role_arn)


class AccountNotReachable(Exception):
    """An event from another account, and no member role configured to read it."""


def context_for_account(account_id: str, region: str, own_account: str, member_role_name: str | None) -> AwsContext:
    """Clients for the account an event came from: this function's own, or the member role assumed there."""
    if account_id == own_account:
        return context_for(region)
    if not member_role_name:
        raise AccountNotReachable(
            f"event from account {account_id}, but MEMBER_AUDIT_ROLE_NAME is not set "
            "so this function can only check its own account"
        )
    from mlgov_runtime.core.arns import role_arn

    return context_for(region, role_arn(region, account_id, member_role_name))
