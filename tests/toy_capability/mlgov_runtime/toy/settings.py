"""The toy's settings, declared once: the `toy` section of cdk.json and one knob under `thresholds`."""

from __future__ import annotations

from mlgov_runtime.core.env import Lazy
from mlgov_runtime.core.model import received, setting, settings_model


@settings_model
class Toy:
    """A greeting for a few endpoints."""

    greeting: str = setting(default="hello", min_length=1, max_length=40)
    endpoints: list[str] = setting(factory=list, max_length=5)


@settings_model
class Thresholds:
    """The toy's knob under `thresholds`."""

    max_greetings: int = setting(default=3, ge=1, le=10)


Section = Toy


@settings_model
class Received:
    """What the toy's function receives from the settings."""

    toy: Toy = setting(factory=Toy)
    thresholds: Thresholds = setting(factory=Thresholds)


settings = Lazy(lambda env: received(env, Received))
