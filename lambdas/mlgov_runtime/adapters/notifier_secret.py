"""The notifier's credentials: one Secrets Manager secret (JSON), read with Powertools parameters.

{"slack_webhooks": {"#channel": "https://hooks.slack.com/services/..."},
 "jira": {"base_url": "https://example.atlassian.net", "user": "bot@example.com", "api_token": "..."}}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mlgov_runtime.adapters.aws import context_for


class SecretError(RuntimeError):
    """Missing or malformed secret: the message says which field; the SQS message stays retryable."""


@dataclass(frozen=True)
class NotifierSecret:
    slack_webhooks: dict[str, str]
    jira_base_url: str | None
    jira_user: str | None
    jira_token: str | None

    @property
    def has_jira(self) -> bool:
        return bool(self.jira_base_url and self.jira_user and self.jira_token)


def parse_notifier_secret(name: str, value: Any) -> NotifierSecret:
    if not isinstance(value, dict):
        raise SecretError(f"secret {name}: expected a JSON object")
    webhooks = value.get("slack_webhooks", {})
    if not isinstance(webhooks, dict):
        raise SecretError(f"secret {name}: slack_webhooks must map '#channel' to a webhook URL")
    for channel, url in webhooks.items():
        if not isinstance(url, str) or not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise SecretError(f"secret {name}: slack_webhooks[{channel!r}] is not an https URL")
    jira = value.get("jira") or {}
    if not isinstance(jira, dict):
        raise SecretError(f"secret {name}: jira must be an object with base_url, user, api_token")
    present = [k for k in ("base_url", "user", "api_token") if jira.get(k)]
    if present and len(present) < 3:
        missing = sorted({"base_url", "user", "api_token"} - set(present))
        raise SecretError(f"secret {name}: jira.{missing[0]} is missing")
    return NotifierSecret(dict(webhooks), jira.get("base_url"), jira.get("user"), jira.get("api_token"))


@lru_cache(maxsize=4)
def _provider(client: Any) -> Any:
    """One Powertools provider, and so one secret cache, per client: Powertools' default provider would
    keep its first client (and endpoint) for good, past `context_for.cache_clear()`."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client)


def load_notifier_secret(name: str, max_age: int = 300) -> NotifierSecret:
    from aws_lambda_powertools.utilities import parameters

    try:
        provider = _provider(context_for(None).client("secretsmanager"))
        value = provider.get(name, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError:
        raise SecretError(f"secret {name}: not valid JSON") from None
    except parameters.exceptions.GetParameterError as exc:
        raise SecretError(f"secret {name}: cannot be read ({exc})") from None
    return parse_notifier_secret(name, value)
