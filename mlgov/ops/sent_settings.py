"""The settings variable a construct sends the challenger and retirement functions, built from the app's settings
by the CLI, the sandbox and tests (the constructs send the same from the validated settings)."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.challenger import settings as challenger_settings
from mlgov_runtime.core.env import Env
from mlgov_runtime.core.model import received, received_environment
from mlgov_runtime.retirement import settings as retirement_settings
from mlgov_runtime.retirement.logic import RetirementPolicy


class _Sent:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def challenger_environment(
    challenger: Any,
    thresholds: Any,
    pipeline_role_arns: list[str],
    approvers: dict[str, list[str]] | None = None,
    idempotency_ttl_seconds: int = 3600,
) -> dict[str, str]:
    """The challenger function's settings variable from these parts."""
    sent = {
        "challenger": challenger,
        "thresholds": thresholds,
        "guardrails": challenger_settings.PipelineRoles(pipeline_role_arns=list(pipeline_role_arns)),
        "approvals": challenger_settings.Approvers(approvers=approvers or {}),  # type: ignore[arg-type]
        "idempotency_ttl_seconds": idempotency_ttl_seconds,
    }
    return received_environment(_Sent(sent), challenger_settings.Received)


def retirement_environment(settings: Any) -> dict[str, str]:
    """The retirement functions' settings variable (what `Received` reads back) from the app's settings, for the
    CLI and the scenes (the construct sends the same)."""
    return received_environment(settings, retirement_settings.Received)


def policy_from_env(env: Env) -> RetirementPolicy:
    return retirement_settings.policy_from(received(env, retirement_settings.Received))
