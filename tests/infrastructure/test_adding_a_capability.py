"""The new-capability walk-through of docs/adding-a-capability.md, done for real.

tests/toy_capability/ holds what a new capability adds: its runtime folder (mlgov_runtime/toy: settings
model, handler), its construct (stacks/toy.py) and its declared permissions (stacks/permissions/toy.py).
Given those files laid into the tree and ONE registry line, when the product's settings are composed and
the governance stack is synthesized, then cdk.json's `toy` section and `thresholds` knob are validated
like every other setting, reach the toy's function as one variable, and its handler reads them back.
Nothing else is edited."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

import mlgov_runtime
import stacks
import stacks.permissions
from mlgov.settings import SettingsError, parse_settings, settings_model
from mlgov_runtime import registry
from mlgov_runtime.core import env
from mlgov_runtime.registry import Capability

TOY = Path(__file__).resolve().parents[1] / "toy_capability"
# The one line a new capability adds to mlgov_runtime/registry.py's CAPABILITIES.
REGISTRY_LINE = Capability("toy", "Greets a few endpoints", "Toy", section="toy")


@pytest.fixture
def toy_in_the_tree(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Capability, ...]]:
    """The toy's folders as if copied into lambdas/mlgov_runtime/, stacks/ and stacks/permissions/, and its registry
    line."""
    monkeypatch.setattr(mlgov_runtime, "__path__", [*mlgov_runtime.__path__, str(TOY / "mlgov_runtime")])
    monkeypatch.setattr(stacks, "__path__", [*stacks.__path__, str(TOY / "stacks")])
    monkeypatch.setattr(stacks.permissions, "__path__", [*stacks.permissions.__path__, str(TOY / "stacks/permissions")])
    capabilities = (*registry.CAPABILITIES, REGISTRY_LINE)
    monkeypatch.setattr(registry, "CAPABILITIES", capabilities)
    yield capabilities
    for name in [m for m in sys.modules if m.startswith(("mlgov_runtime.toy", "stacks.toy", "stacks.permissions.toy"))]:
        del sys.modules[name]


TOY_CONTEXT = {
    "toy": {"greeting": "konnichiwa", "endpoints": ["manga-a", "manga-b", "manga-c"]},
    "thresholds": {"max_greetings": 2, "ctr_test_alpha": 0.02},
}


def test_the_toy_section_is_composed_into_the_settings_and_validated(toy_in_the_tree: Any) -> None:
    model = settings_model(toy_in_the_tree)
    settings: Any = parse_settings(TOY_CONTEXT, model)
    assert settings.toy.greeting == "konnichiwa" and settings.thresholds.max_greetings == 2
    assert settings.thresholds.ctr_test_alpha == 0.02  # the other capabilities' knobs are still there
    with pytest.raises(SettingsError, match=r"'mlgov\.toy\.greeting': String should have at least 1 character"):
        parse_settings({"toy": {"greeting": ""}}, model)
    with pytest.raises(SettingsError, match=r"'mlgov\.thresholds\.max_greetings': Input should be less than or"):
        parse_settings({"thresholds": {"max_greetings": 11}}, model)
    with pytest.raises(SettingsError, match=r"'mlgov\.toy\.greting': unknown setting"):
        parse_settings({"toy": {"greting": "hi"}}, model)
    # Without the registry line, the toy's section is an unknown key like any typo.
    with pytest.raises(SettingsError, match=r"'mlgov\.toy': unknown setting"):
        parse_settings({"toy": TOY_CONTEXT["toy"]})


def test_the_toy_synthesizes_and_its_handler_reads_what_cdk_json_said(
    toy_in_the_tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks import audit_stack

    settings = parse_settings(TOY_CONTEXT, settings_model(toy_in_the_tree))
    monkeypatch.setattr(audit_stack, "CAPABILITIES", toy_in_the_tree)
    app = App()
    stack = audit_stack.GovernanceAuditStack(
        app, "ToyGovernance", settings=settings, env=Environment(account="123456789012", region="us-east-1")
    )
    template = Template.from_stack(stack)
    [toy_function] = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "mlgov_runtime.toy.handler.handler"
    ]
    variables = toy_function["Environment"]["Variables"]
    assert set(variables) == {"MLGOV_TOY_SETTINGS", "POWERTOOLS_METRICS_NAMESPACE"}
    assert json.loads(variables["MLGOV_TOY_SETTINGS"]) == {
        "toy": {"greeting": "konnichiwa", "endpoints": ["manga-a", "manga-b", "manga-c"]},
        "thresholds": {"max_greetings": 2},
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    env.reset_all()
    from mlgov_runtime.toy import handler

    assert handler.handler({}, None) == {"greetings": ["konnichiwa, manga-a", "konnichiwa, manga-b"]}
    env.reset_all()


def test_the_permission_meta_test_finds_the_toys_declared_actions_beside_its_construct(toy_in_the_tree: Any) -> None:
    # stacks/permissions/<name>.py, outside the Lambda asset: what tests/integration/test_registry.py compares.
    import importlib

    module = importlib.import_module(REGISTRY_LINE.permissions_module)
    assert Path(module.__file__ or "") == TOY / "stacks" / "permissions" / "toy.py"
    assert registry.declared_actions(REGISTRY_LINE) == frozenset()


def test_a_hand_edited_toy_variable_fails_at_cold_start(toy_in_the_tree: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MLGOV_TOY_SETTINGS", json.dumps({"toy": {"greeting": "hi"}, "thresholds": {"max_greetings": 0}})
    )
    env.reset_all()
    from mlgov_runtime.toy import handler

    with pytest.raises(env.SettingsError, match=r"MLGOV_TOY_SETTINGS: 'mlgov\.thresholds\.max_greetings'"):
        handler.handler({}, None)
    env.reset_all()
