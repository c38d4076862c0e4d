"""One synthesized app per test session: each synth pays jsii start-up."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Template

from app import build_app
from stacks.constants import ACCOUNT_GUARDRAILS_STACK_NAME, AUDIT_STACK_NAME, GUARDRAILS_STACK_NAME


@pytest.fixture(scope="session")
def app() -> Any:
    return build_app(
        context={
            "mlgov": {
                "experiment_exemptions": {"organizational_unit_ids": ["ou-ab12-cdef3456"]},
                "guardrails": {"target_ou_ids": ["ou-ab12-prodwork", "ou-ab12-stagingx"]},
                "alert_routing": {"security_hub": True},  # off by default; on here so its grants are synthesized
            }
        }
    )


@pytest.fixture(scope="session")
def synthesized(app: Any) -> Any:
    stack = app.node.find_child(AUDIT_STACK_NAME)
    template = Template.from_stack(stack)  # runs the cdk-nag aspects too
    return stack, template


@pytest.fixture(scope="session")
def guardrail_templates(app: Any) -> dict[str, Any]:
    return {
        name: (app.node.find_child(name), Template.from_stack(app.node.find_child(name)))
        for name in (GUARDRAILS_STACK_NAME, ACCOUNT_GUARDRAILS_STACK_NAME)
    }


@pytest.fixture(scope="session")
def template(synthesized: Any) -> Template:
    return synthesized[1]


@pytest.fixture(scope="session")
def nag_annotations(synthesized: Any) -> Annotations:
    return Annotations.from_stack(synthesized[0])
