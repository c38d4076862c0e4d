"""Hole: a product EventBridge rule is a second door into the ChallengerSteps function.

The function is the target of two rules (`ChallengerPackageRegistered`, `ChallengerPackageApproved`); its
resource policy lets events.amazonaws.com invoke it for those rule ARNs. `DenyProductFunctionInvoke` stops
principals, not EventBridge, and no guardrail keeps `events:PutRule`/`PutTargets` on the product's rules. So
whoever may write those rules sets a schedule and a constant `Input` on the existing target, and EventBridge
delivers that JSON verbatim to the handler. The step check (a RUNNING execution whose recorded input names the
package) passes for a real, running experiment: everything it needs is in `DescribeExecution`.

This test plays EventBridge: the payload below is what a target's constant `Input` delivers. It rejects a
challenger that no look ever judged (the gate said CONTINUE), with a rejection text the sender wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlgov.sandbox import FakeContext
from tests.integration.test_challenger_handler import ENDPOINT, Lab, at, lab_context, traffic


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    with lab_context(monkeypatch) as value:
        yield value


def constant_input(lab: Lab, execution: str, watch_result: dict[str, Any]) -> dict[str, Any]:
    """What an outsider builds from read-only calls: DescribeExecution (recorded input) and the endpoint config."""
    recorded = json.loads(lab.sfn.describe_execution(executionArn=execution)["input"])
    package = recorded["model_package_arn"]
    version = package.rsplit("/", 1)[1]
    challenger = {
        "model_package_arn": package,
        "version": int(version),
        "endpoint_name": ENDPOINT,
        "production_variant": "AllTraffic",
        "challenger_variant": f"challenger-v{version}",
        "traffic_fraction": 0.1,
    }
    state = {"execution": execution, "input": recorded, "challenger": challenger, "watch": {"result": watch_result}}
    return {"step": "reject", "execution": execution, "state": state, "now": at(9)}


def test_a_constant_rule_input_rejects_a_running_challenger_the_gate_never_judged(lab: Lab) -> None:
    # Given a real experiment, running, that the gate has not judged (its look says CONTINUE)
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 10, 70, 0.08)
    look = lab.step("watch", state, at(6))
    assert look["decision"] == "CONTINUE"
    # When the ChallengerSteps function receives a rule target's constant Input (built from read-only calls)
    event = constant_input(lab, state["execution"], {**look["result"], "reasons": ["forged by a rule target"]})
    lab.handler.handler(json.loads(json.dumps(event)), FakeContext())
    # Then the healthy challenger is Rejected in the registry and has lost its traffic: a forgery rejected
    assert lab.package(arn)["ModelApprovalStatus"] == "Rejected"
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert live[state["challenger"]["challenger_variant"]]["CurrentWeight"] == 0
    assert [f["kind"] for f in lab.published()] == ["CHALLENGER_REJECTED"]
