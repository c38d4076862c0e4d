"""Per-function settings from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    pass


def _csv(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(p.strip() for p in value.split(",") if p.strip())
    return frozenset(value) if isinstance(value, (list, tuple, set, frozenset)) else frozenset()


class EndpointAuditSettings(BaseModel):
    findings_table: str = Field(min_length=3, alias="FINDINGS_TABLE_NAME")
    findings_topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:", alias="FINDINGS_TOPIC_ARN")
    idempotency_table: str = Field(min_length=3, alias="IDEMPOTENCY_TABLE_NAME")
    idempotency_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS")
    exempt_prefix: str = Field(default="experiment-", alias="EXEMPT_ENDPOINT_PREFIX")
    exempt_account_ids: frozenset[str] = Field(default=frozenset(), alias="EXEMPT_ACCOUNT_IDS")
    exempt_ou_ids: frozenset[str] = Field(default=frozenset(), alias="EXEMPT_OU_IDS")
    member_audit_role_name: str | None = Field(default=None, alias="MEMBER_AUDIT_ROLE_NAME")

    @field_validator("exempt_account_ids", "exempt_ou_ids", mode="before")
    @classmethod
    def _split(cls, value: object) -> frozenset[str]:
        return _csv(value)


def load_endpoint_audit_settings(environ: Mapping[str, str] | None = None) -> EndpointAuditSettings:
    env = os.environ if environ is None else environ
    try:
        return EndpointAuditSettings.model_validate({k: v for k, v in env.items() if v != ""})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise SettingsError(f"environment variable {key}: {err['msg']}") from None
