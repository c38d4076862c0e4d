"""The guardrail policy builder lives in the installed package (mlgov.guardrails) so the CLI works outside
the checkout; this name stays for the stacks and anything that imported it from here."""

from mlgov.guardrails import (
    SCP_MAX_CHARS,
    SCPS_PER_TARGET,
    GuardrailLimitError,
    NamedPolicy,
    account_policies,
    attachments,
    guardrail_policies,
    minified,
    permissions_boundary,
)

__all__ = [
    "SCPS_PER_TARGET",
    "SCP_MAX_CHARS",
    "GuardrailLimitError",
    "NamedPolicy",
    "account_policies",
    "attachments",
    "guardrail_policies",
    "minified",
    "permissions_boundary",
]
