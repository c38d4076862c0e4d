"""The toy's construct: one function that receives the toy's settings."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from constructs import Construct

from stacks.building_blocks import GovernedFunction
from stacks.capability import CapabilityConstruct


class Toy(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.function = GovernedFunction(
            self,
            "Greeter",
            description="Greets the configured endpoints",
            handler=self.capability.handler,
            environment=self.received_environment(),
            statements=[],
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.seconds(10),
        )
