"""One synthesized governance stack (Slack buttons on) per session: the attacker tests judge calls by its policies."""

from __future__ import annotations

from typing import Any

import pytest

GOV = "999988887777"


@pytest.fixture(scope="session")
def governance_template() -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    app = build_app(
        context={
            "mlgov": {
                "guardrails": {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [GOV]},
                "approvals": {
                    "slack_buttons": True,
                    "approvers": {"retirement": [f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver"]},
                    "slack_approvers": {"U0APPROVER": f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver"},
                },
            }
        }
    )
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    return dict(Template.from_stack(stack).to_json())
