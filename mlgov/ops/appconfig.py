"""The recommendation route in AppConfig: which backend the recommender calls (the fine-tuned endpoint or
the fallback). Reads what clients see through the data plane, writes a new hosted configuration
version and deploys it. moto 5.2.5 lacks the data plane and StartDeployment: mlgov/emulator.py adds them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class RouteError(RuntimeError):
    """The route could not be read or switched; the message says where it stopped."""


@dataclass(frozen=True)
class RouteTarget:
    application_id: str
    environment_id: str
    configuration_profile_id: str
    deployment_strategy_id: str = "AppConfig.AllAtOnce"
    route_key: str = "recommendation_backend"


class AppConfigRoute:
    # A deployment delivers the configuration to every client before it bakes.
    DELIVERED = ("BAKING", "COMPLETE")

    def __init__(
        self,
        appconfig: Any,
        appconfigdata: Any,
        target: RouteTarget,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 5.0,
        max_polls: int = 120,
    ) -> None:
        self._ac, self._data, self.target = appconfig, appconfigdata, target
        self._sleep, self._poll, self._max_polls = sleep, poll_seconds, max_polls

    def _document(self) -> dict[str, Any]:
        t = self.target
        token = self._data.start_configuration_session(
            ApplicationIdentifier=t.application_id,
            EnvironmentIdentifier=t.environment_id,
            ConfigurationProfileIdentifier=t.configuration_profile_id,
        )["InitialConfigurationToken"]
        body = self._data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()
        try:
            document = json.loads(body)
        except ValueError:
            raise RouteError("the route configuration is not a JSON document") from None
        if not isinstance(document, dict) or t.route_key not in document:
            raise RouteError(f"the route configuration has no key {t.route_key!r}")
        return document

    def current(self) -> str:
        return str(self._document()[self.target.route_key])

    def value(self, key: str) -> Any:
        """What clients read under `key` now (RouteError when the document has no such key)."""
        document = self._document()
        if key not in document:
            raise RouteError(f"the route configuration has no key {key!r}")
        return document[key]

    def switch(self, value: str, why: str) -> str:
        return self.set_value(self.target.route_key, value, why)

    def set_value(self, key: str, value: Any, why: str) -> str:
        """A new hosted version with `key` set, deployed and waited for until delivered."""
        t = self.target
        document = self._document()
        if key not in document:
            raise RouteError(f"the route configuration has no key {key!r}")
        document[key] = value
        version = self._ac.create_hosted_configuration_version(
            ApplicationId=t.application_id,
            ConfigurationProfileId=t.configuration_profile_id,
            Content=json.dumps(document).encode(),
            ContentType="application/json",
            Description=why[:1024],
        )["VersionNumber"]
        number = self._ac.start_deployment(
            ApplicationId=t.application_id,
            EnvironmentId=t.environment_id,
            DeploymentStrategyId=t.deployment_strategy_id,
            ConfigurationProfileId=t.configuration_profile_id,
            ConfigurationVersion=str(version),
            Description=why[:1024],
        )["DeploymentNumber"]
        for _ in range(self._max_polls):
            state = self._ac.get_deployment(
                ApplicationId=t.application_id, EnvironmentId=t.environment_id, DeploymentNumber=number
            )["State"]
            if state in self.DELIVERED:
                return f"{key}={value} (configuration version {version}, deployment {number} {state})"
            if state in ("ROLLING_BACK", "ROLLED_BACK", "REVERTED"):
                raise RouteError(f"deployment {number} of {key}={value} was {state}")
            self._sleep(self._poll)
        raise RouteError(f"deployment {number} of {key}={value} did not finish in time")
