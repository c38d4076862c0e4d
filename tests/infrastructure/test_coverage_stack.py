"""The coverage check's construct: exactly its declared actions."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from tests.infrastructure.templates import _role_actions
from tests.infrastructure.test_retraining_stack import COMMON

pytestmark = pytest.mark.infrastructure


def test_coverage_role_grants_exactly_its_declared_actions(template: Template) -> None:
    from stacks.permissions import coverage as p

    assert _role_actions(template, "CoverageCoverageCheck") == COMMON | set(p.SNAPSHOT_READ + p.PIPELINE_START)
