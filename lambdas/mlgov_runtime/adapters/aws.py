"""boto3 clients with the retry policy every adapter uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

# Adaptive mode rate-limits the client itself after throttling, on top of exponential backoff.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
)


class AwsContext:
    """Where clients point: region, optional profile, optional emulator URL, optional role to assume."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        role_arn: str | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session = boto3.session.Session(profile_name=profile, region_name=region)
        if role_arn:
            sts = self._session.client("sts", endpoint_url=endpoint_url, config=RETRY_CONFIG)
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="mlgov-audit")["Credentials"]
            self._session = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region or self._session.region_name,
            )
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str:
        region = self._session.region_name
        if not region:
            raise ValueError("no AWS region configured: pass --region or set AWS_REGION")
        return str(region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            session: Any = self._session
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url, config=RETRY_CONFIG)
        return self._clients[service]

    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


@lru_cache(maxsize=32)
def context_for(region: str | None, role_arn: str | None = None) -> AwsContext:
    """Lambda-side cache: one context (and its clients) per region/role for the container's life."""
    return AwsContext(region=region, role_arn=role_arn)
