"""Closed hole: a product EventBridge rule was a second door into the ChallengerSteps function.

The rules (`ChallengerPackageRegistered`, `ChallengerPackageApproved`) now target the ChallengerEvents function,
and no rule targets ChallengerSteps (tests/attacker/test_template_gaps.py: no events.amazonaws.com permission on
it): only the state machine's role invokes it. Whoever may write those rules can still set a constant `Input`
on their target, and EventBridge delivers that JSON verbatim to the Events function. That function runs no step
(a step payload is refused) and its role cannot change a package or an endpoint, so the forgery below, built
from read-only calls (DescribeExecution, the endpoint config), rejects nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlgov.sandbox import FakeContext
from stacks.permissions.challenger import EVENTS_ACTIONS
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


def test_a_constant_rule_input_cannot_reject_a_running_challenger(lab: Lab) -> None:
    # Given a real experiment, running, that the gate has not judged (its look says CONTINUE)
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 10, 70, 0.08)
    look = lab.step("watch", state, at(6))
    assert look["decision"] == "CONTINUE"
    before = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    lab.published()
    # When the rules' target (the Events function) receives a constant Input built from read-only calls
    event = constant_input(lab, state["execution"], {**look["result"], "reasons": ["forged by a rule target"]})
    answer = lab.handler.handler(json.loads(json.dumps(event)), FakeContext())
    # Then it is refused: the package keeps its status, the challenger its traffic, no finding goes out
    assert answer["status"] == "rejected"
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    variant = state["challenger"]["challenger_variant"]
    assert live[variant]["CurrentWeight"] == before[variant]["CurrentWeight"] > 0
    assert lab.published() == []


def test_the_events_functions_role_could_not_reject_even_if_it_ran_a_step() -> None:
    # Whatever its code did with a payload: rejecting needs UpdateModelPackage, weight 0 UpdateEndpointWeights...
    assert not {"sagemaker:UpdateModelPackage", "sagemaker:UpdateEndpointWeightsAndCapacities"} & EVENTS_ACTIONS
    assert not {a for a in EVENTS_ACTIONS if a.startswith("sagemaker:") and not a.startswith("sagemaker:Describe")}
