"""One synthesized app per test session: each synth pays jsii start-up."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Template

from app import build_app
from stacks.constants import AUDIT_STACK_NAME


@pytest.fixture(scope="session")
def synthesized() -> Any:
    app = build_app(context={"mlgov": {"experiment_exemptions": {"organizational_unit_ids": ["ou-ab12-cdef3456"]}}})
    stack = app.node.find_child(AUDIT_STACK_NAME)
    template = Template.from_stack(stack)  # runs the cdk-nag aspects too
    return stack, template


@pytest.fixture(scope="session")
def template(synthesized: Any) -> Template:
    return synthesized[1]


@pytest.fixture(scope="session")
def annotations(synthesized: Any) -> Annotations:
    return Annotations.from_stack(synthesized[0])
