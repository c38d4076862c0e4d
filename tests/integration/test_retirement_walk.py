"""What a new user's walk through the README found in `mlgov retire`, under moto with the real CLI and handlers:
an endpoint younger than the stale window is no retirement candidate (nor deletable), and a cancel whose tag write
AWS refuses loses nothing and names who can finish it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.retirement_estate import IDLE, INSTANCE, RETURNING
from mlgov.sandbox import FakeContext, load_event
from mlgov_runtime.core.findings import iso
from tests.attacker.inject import fail_calls
from tests.cli.conftest import answering_ok
from tests.integration.test_retirement import ACCOUNT, REGION, RetirementWorld, retirement_world, run_cli
from tests.settings_files import NO_SETTINGS

__all__ = ["retirement_world"]  # the fixture

YOUNG = "manga-recommender-v1-canary"  # watched by its name; serves v1, created by the test (minutes ago)


def _create_young(sm: Any) -> datetime:
    sm.create_endpoint_config(
        EndpointConfigName=f"{YOUNG}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "manga-rec-retire-v1",
                "InitialInstanceCount": 1,
                "InstanceType": INSTANCE,
            }
        ],
    )
    sm.create_endpoint(
        EndpointName=YOUNG,
        EndpointConfigName=f"{YOUNG}-config",
        Tags=[{"Key": "endpoint_purpose", "Value": "testing"}],
    )
    created: datetime = sm.describe_endpoint(EndpointName=YOUNG)["CreationTime"]
    return created.astimezone(UTC)


def _age(name: str, hours: float) -> None:
    """In-process emulator only: the endpoint's creation `hours` ago (the API cannot set it)."""
    from moto.sagemaker.models import sagemaker_backends

    endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints[name]
    endpoint.creation_time = (datetime.now(UTC) - timedelta(hours=hours)).replace(tzinfo=None)


def test_an_endpoint_created_minutes_ago_is_no_retirement_candidate_until_a_full_window_has_passed(
    retirement_world: RetirementWorld,
) -> None:
    # Given an endpoint serving the old version v1, created just now, that nobody has called yet
    created = _create_young(retirement_world.sm)
    judged = iso(created + timedelta(hours=24))
    # When the operator audits it
    code, out, err = run_cli("retire", "audit", "--endpoint", YOUNG, "--format", "json", "--config", NO_SETTINGS)
    # Then it is not a candidate: no invocations in a window it did not exist for says nothing
    assert code == 0, err
    [row] = json.loads(out)["endpoints"]
    assert (row["verdict"], row["invocations_24h"], row["judged_from"]) == ("CURRENT", 0, judged)
    said = " ".join(row["reasons"])
    assert "No invocations in the last 24 h" not in said
    assert f"min ago ({iso(created)}), less than the 24 h window, so it can be judged only from {judged}." in said
    assert row["next_step"] == f"Wait until {judged}, then run `mlgov retire audit --endpoint {YOUNG}`."
    # And the table says so too (a CURRENT row shows its reasons only when it was not judged)
    code, out, _ = run_cli("retire", "audit", "--endpoint", YOUNG, "--config", NO_SETTINGS)
    assert code == 0 and f"  {YOUNG}: Serves manga-recommender/1, not the current Approved" in out
    assert f"    next: Wait until {judged}" in out
    # And a deletion request is refused before anything is asked of the approval service
    code, out, err = run_cli(
        "retire", "request", "--endpoint", YOUNG, "--approval-url", "http://127.0.0.1:9/", "--config", NO_SETTINGS
    )
    assert (code, out) == (2, "")
    assert f"refused: {YOUNG} is not yet a retirement candidate: " in err and f"Next: Wait until {judged}" in err
    # And the monthly audit raises no finding about it
    handler = retirement_world.handler()
    result = handler.handler(load_event("scheduled_retirement_audit.json"), FakeContext())
    assert result["verdicts"]["CURRENT"] == 2  # the live v2 endpoint and this one
    assert not [f for f in retirement_world.published() if f["resource_arn"].endswith(YOUNG) and f["status"] == "OPEN"]
    # Once it has existed for the whole window with no invocations, it is a candidate
    _age(YOUNG, 24.1)
    code, out, _ = run_cli("retire", "audit", "--endpoint", YOUNG, "--format", "json", "--config", NO_SETTINGS)
    [row] = json.loads(out)["endpoints"]
    assert (row["verdict"], row["judged_from"]) == ("RETIREMENT_CANDIDATE", None)


def test_a_candidates_request_to_a_url_that_is_not_the_approval_service_is_a_refusal(
    retirement_world: RetirementWorld,
) -> None:
    """What tests/cli/test_user_path.py checked in a sandbox seeded minutes ago, where no endpoint is a candidate
    any more: a request sent to some other local service answering 200 is refused, naming the URL."""
    with answering_ok() as url:
        code, out, err = run_cli(
            "retire", "request", "--endpoint", IDLE, "--approval-url", url, "--config", NO_SETTINGS
        )
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert f"{url} answered 200 without " in line and "it is not the approval service" in line, line
    assert line.endswith("to the stack output ApprovalServiceUrl"), line


def deletion_request(world: RetirementWorld, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A RUNNING deletion execution for the idle endpoint with its approval request open, and the steps' handler."""
    from mlgov_runtime.core import env
    from tests.integration.test_approvals import mac_key, open_request, running_execution

    execution = running_execution(monkeypatch, IDLE)
    mac_key(monkeypatch)
    env.reset_all()
    open_request(execution, IDLE)
    return execution, world.handler()


def test_the_deletion_steps_check_the_endpoints_age_themselves(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_approvals import approve_directly

    execution, handler = deletion_request(retirement_world, monkeypatch)
    state: dict[str, Any] = {"endpoint_name": IDLE}
    step = {"state": state, "execution": execution}
    state["prepared"] = handler.step({**step, "step": "prepare"}, FakeContext())
    assert state["prepared"]["eligible"] is True  # idle for 30 h, created in May
    # Given the endpoint deleted and created again under its name after that check (an execution prepared by an
    # older release reaches the acting steps with a young endpoint the same way)
    sm = retirement_world.sm
    sm.delete_endpoint(EndpointName=IDLE)
    sm.create_endpoint(
        EndpointName=IDLE, EndpointConfigName=f"{IDLE}-config", Tags=[{"Key": "endpoint_purpose", "Value": "retiring"}]
    )
    again = handler.step({**step, "step": "prepare"}, FakeContext())
    assert again["eligible"] is False
    assert again["reason"].startswith(f"Endpoint {IDLE} is not a retirement candidate: it was created ")
    assert "less than the 24 h window, so it can be judged only from " in again["reason"]
    handler.step({**step, "step": "request_approval", "token": "t"}, FakeContext())
    approve_directly(retirement_world.ddb, execution)
    retirement_world.published()
    # When the approved request's live checks run
    for name in ("check_idle", "delete"):
        state[name] = result = handler.step({**step, "step": name}, FakeContext())
        # Then each refuses on the age it reads itself, naming when to ask again
        assert result["outcome"] == "aborted", result
        assert result["reason"].startswith(f"{IDLE} was created ")
        assert f"; nothing deleted: `mlgov retire request --endpoint {IDLE}` then" in result["reason"]
    assert sm.describe_endpoint(EndpointName=IDLE)["EndpointStatus"] == "InService"
    retiring = [f for f in retirement_world.published() if f["kind"] == "ENDPOINT_RETIRING"]
    assert retiring and all(f["status"] == "OPEN" and "Deletion aborted at" in f["detail"] for f in retiring)


def _retiring_item(world: RetirementWorld) -> dict[str, Any]:
    from mlgov_runtime.adapters.findings_store import FindingsStore
    from mlgov_runtime.core.findings import finding_id

    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{RETURNING}"
    store = FindingsStore(world.ddb, None, world.resources["FINDINGS_TABLE_NAME"], "")
    item = store.get(finding_id("ENDPOINT_RETIRING", ACCOUNT, REGION, arn))
    assert item is not None
    return {"status": item["status"], **json.loads(item["finding"])}


def test_a_cancel_whose_tag_write_aws_refuses_reopens_the_retirement_and_names_who_may_tag(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an open retirement of an endpoint tagged retiring
    retirement_world.handler().handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())
    retirement_world.published()
    before = _retiring_item(retirement_world)
    assert before["status"] == "OPEN"
    r = retirement_world.resources
    # When a caller the guardrails (or IAM) refuse sagemaker:AddTags on endpoint_purpose cancels it
    with monkeypatch.context() as patch:
        seen = fail_calls(patch, "AddTags", "AccessDeniedException")
        code, out, err = run_cli(
            "retire", "cancel", "--endpoint", RETURNING, "--reason", "EU traffic moves in January",
            "--findings-table", r["FINDINGS_TABLE_NAME"], "--findings-topic-arn", r["FINDINGS_TOPIC_ARN"],
            "--config", NO_SETTINGS,
        )  # fmt: skip
    assert seen == ["AddTags"]
    # Then it fails with one line: refused, nothing changed, and who may write the tag (not a command that the
    # same refusal stops)
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("mlgov: error: refused: ") and f"may not tag {RETURNING} endpoint_purpose=active (" in line
    assert "AccessDeniedException" in line and "so nothing changed: its retirement is open again as before" in line
    pipeline = "arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"  # the default pipeline_role_arns
    assert "DenyGovernanceTagChange" in line and f"mlgov.guardrails.pipeline_role_arns: {pipeline}" in line
    assert "mlgov.guardrails.operator_role_arns: arn:*:iam::*:role/mlgov-protected/MlGovOperator*" in line
    assert f"`mlgov retire cancel --endpoint {RETURNING} --reason ...` as a role that is both" in line
    assert "aws sagemaker add-tags" not in line
    # And the retirement is as it was: open, same deadline and owner; the tag still says retiring
    after = _retiring_item(retirement_world)
    assert after["status"] == "OPEN" and after["evidence"] == before["evidence"]
    assert retirement_world.tags(RETURNING)["endpoint_purpose"] == "retiring"
    told = [(f["kind"], f["status"]) for f in retirement_world.published()]
    assert told == [("ENDPOINT_RETIRING", "RESOLVED"), ("ENDPOINT_RETIRING", "OPEN")]  # closed, then open again
    # And the next daily check finds the same retirement open (it does not start a new one with a new deadline)
    next_day = {**load_event("scheduled_retiring_deadlines.json"), "event_id": "next-day"}
    retirement_world.handler().handler(next_day, FakeContext())
    deadline = _retiring_item(retirement_world)["evidence"]["retiring"]["deadline"]
    assert deadline == before["evidence"]["retiring"]["deadline"]
