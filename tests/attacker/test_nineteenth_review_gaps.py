"""Nineteenth review: an attacker and failure review of the fixes made since 73e100c: (a) the serving index's
deployment record (the lineage audit of CreateEndpoint/UpdateEndpoint records the configurations' CreationTime,
later audits and the weekly scan compare, the ServingIndex table sealed); (b) the capacity fixes (inference
component copies, SuspendedState, a host without components and its 30-minute grace, the SCP's
`sagemaker:*teInferenceComponent*`); (c) human decisions (the Identity Center same-person rule, the Slack press's
pressed-button confirm check, decided_via, 60 s proofs); (d) the org scan's one-session sweep and report.py's "a
listed endpoint is never gone". Reviewed as a member-account developer where the pipeline does not guard serving
(the sixteenth review's hole 2 is about such accounts), a governance-account operator who may publish findings (the
eighteenth review's hole 2), and as an ordinary deployment looking for false pages.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) The deployment record is written only when the deploy call's own audit finds the configuration not
    re-created; when it does (the configuration was deleted and made again between the CreateEndpoint call and its
    audit, which runs after CloudTrail's delivery, while the endpoint is still Creating), the audit says
    ARTIFACT_MISMATCH and records nothing. The endpoint then looks like one deployed before the product: after a
    weight call (LastModifiedTime moves) the weight call's own audit is COMPLIANT and RESOLVES the open
    UNREGISTERED_ENDPOINT finding, while the fleet still serves the configuration first deployed. Reproduction
    (below): a developer in an unguarded account runs CreateEndpoint, at once DeleteEndpointConfig and
    CreateEndpointConfig (same name, same variant name, an Approved model), waits for InService, then
    UpdateEndpointWeightsAndCapacities. Fix: record at every deploy call's audit, whatever it finds, with the call's
    own time (CloudTrail's eventTime): a configuration created after the deploy call that names it is not what the
    call deployed, so later audits compare with the call's time, not only with a CreationTime read afterwards (a
    record whose configuration was already re-created keeps it ARTIFACT_MISMATCH until a pipeline redeploy).
    Fixed: a deploy call's audit records whatever it finds; a configuration already re-created (or gone) then is
    recorded as such (an empty CreationTime), and whatever later bears its name is ARTIFACT_MISMATCH until a
    redeploy. (The call's eventTime was not used: a configuration created in the call's second reads as later.)
 2. (medium) The Slack press check reads the pressed button's confirm dialog for the request's subject (an endpoint
    NAME) and account only, not its region. An operator publishes an OPEN finding about
    arn:aws:sagemaker:eu-west-1:<account>:endpoint/<name> (a scratch copy of the same name in another region)
    carrying the pending retirement request of <name> in us-east-1; the dialog reads "Approve: deletion of
    ...eu-west-1...", the worker finds the name and the account, and the press approves the deletion in us-east-1.
    Fix: compare the region too (the execution ARN's region, where the steps act), or better, have the worker
    rebuild the dialog text from the record (decision, subject, account, region, as messages._about writes it) and
    require that exact text.
    Fixed: the dialog must also name the region of the request's execution (as a whole word).
 3. (medium) The dialog's verb is the finding's, not the request's: messages._about says "promotion of" when the
    finding's evidence.approval_request.decision is "challenger", and the worker does not check it. An operator's
    finding titled as a challenger promotion of endpoint <name>, carrying <name>'s pending RETIREMENT request, shows
    "Approve: promotion of ...endpoint/<name>"; an approver who approves promotions presses, and <name> is
    deleted. Fix: as hole 2 (the dialog text rebuilt from the record, whose decision says deletion or promotion).
    Fixed: the dialog must say "deletion of" for a retirement request and "promotion of" for a challenger one.
 4. (medium, false page) The 30-minute grace counts from the host's CreationTime, but a component can be created
    only once the host is InService, and the capacity Lambda checks the host on its InService state change. A host
    whose creation takes longer than 30 minutes (large GPU instances, or an instance type SageMaker retries for
    capacity) is CRITICAL ENDPOINT_CAN_SCALE_TO_ZERO at the very event that lets the pipeline add its first
    component: every such deploy pages. Fix: on the InService state change of a host without components, a
    reason, not a finding (the pipeline's CreateInferenceComponent checks again, the weekly scan after); or count
    the grace from when the host went InService. Not from LastModifiedTime alone: a weight call moves it, and a
    host whose components were deleted would get its grace back.
    Fixed: the check of the InService state change waits for a host up to 6 hours old (FIRST_IN_SERVICE_S); older,
    it is an update and pages as before (the held week-old test).
 5. (low) The grace re-opens whenever the host is created again, and in a guarded account a developer may: the
    guardrails deny neither sagemaker:DeleteEndpoint nor a CreateEndpoint tagged ModelPackageName with any
    package-shaped ARN (DenyEndpointWithoutPackageTag checks the shape only) from the host's existing
    configuration. The host comes back without components inside its grace; the CreateEndpoint and InService
    checks give reasons, and no check follows the grace's end, so a host serving nothing is silent until the weekly
    scan (and the DeleteEndpoint itself took production down without the retirement's approval). Fix: deny
    DeleteEndpoint outside the pipeline, the product's RetirementSteps role and break-glass in guarded accounts (as
    DenyLineageChangeOutsidePipeline does for UpdateEndpoint), and end the grace in a check (a one-time schedule
    at CreationTime + 30 minutes, or the next hourly run), not in silence.
    Fixed (the SCP half): DenyLineageChangeOutsidePipeline is `sagemaker:*teEndpoint*`, exactly Create/Update/Delete
    Endpoint, UpdateEndpointWeightsAndCapacities and Create/DeleteEndpointConfig (cfn-lint's reference), except
    pipeline, break-glass and the product's roles by name (the retirement deletes). Not done: a check at the grace's
    end; in a guarded account only those roles can re-create a host now, and the weekly scan sees one left empty.

Held (plain tests below): a failed (AccessDenied) UpdateEndpoint is never audited, so a developer cannot make the
audit record the configuration they re-created; the SCP's `sagemaker:*teInferenceComponent*` denies exactly
Create/Update/Delete InferenceComponent and UpdateInferenceComponentRuntimeConfig in a production account and leaves
Describe/List to developers (no other action is so named); CreateEndpoint without a package-shaped ModelPackageName
tag is denied there; a host ten minutes old waits (a reason, no finding); the dialog about the request's own
endpoint in its own region still approves; Identity Center's same-person rule is per account (a session of the
same name in another account is another person), ignores the session name's case, and gains nothing for a role not
named AWSReservedSSO_*. (d): no hole found; the sweep's one AssumeRole per account and a refused
renewal are pinned in tests/integration/test_org_scan.py, a refused Query resolving nothing in the sixteenth review.

Left as is:
 - A record written by the audit of a CreateEndpoint whose configuration was re-created AFTER that audit but before
   InService is the sixteenth review's documented case (the record tells, ARTIFACT_MISMATCH), not a hole.
 - A developer creating a role named AWSReservedSSO_<x> in the governance account and requesting under a session
   named like an approver blocks that approver's approval of that request only (same_person refuses more); the
   request is the developer's own and another approver decides.
 - Two Slack users mapped to one principal through different spellings (the role ARN and a session ARN of it) pass
   the duplicate-mapping refusal; decided_via records the Slack user under the MAC, which is what that refusal was
   for (the eighteenth review's hole 3).
 - The approval service bounds X-Amz-Expires (60 s) but not X-Amz-Date against its own clock: a proof signed on a
   machine whose clock runs ahead lives as long as STS's allowance for a future date, not 60 s. A proof is bound
   to its body and to this service, so a captured one only repeats the same request, which the record refuses;
   moto does not check SigV4, so it is not tested here.
 - report.py's "listed" set compares the finding's resource name in lower case with the rows' names: an endpoint
   deleted and another created under the same name in another case keeps the first's finding open until it is
   audited (SageMaker endpoint names are unique without regard to case, so it is the same name).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from unittest.mock import ANY

import pytest

from tests.attacker.test_eighteenth_review_gaps import ACCOUNT, IDC_APPROVER, _forged_finding, _press, _press_body
from tests.attacker.test_seventeenth_review_gaps import _audit, _lora_host
from tests.attacker.test_sixteenth_review_gaps import (
    HOTFIX,
    _about_hotfix,
    _audit_by_scratch_delete_model,
    _delete_config,
    _endpoint_touched_since,
    _record,
    _recreate_config,
    _verdict,
    _weights_call,
    indexed,
)
from tests.integration.conftest import Sandbox, sandbox
from tests.integration.test_approvals import ApprovalWorld, world
from tests.integration.test_capacity import REGION, CapacityWorld, capacity_world
from tests.integration.test_lineage_audit_handler import create_event

__all__ = ["capacity_world", "indexed", "sandbox", "world"]


# -- hole 1: the deploy audit that finds the configuration already re-created records nothing


def test_a_configuration_recreated_before_its_deploy_audit_stays_flagged_after_a_weight_call(
    indexed: Sandbox,
) -> None:
    # The estate's HOTFIX endpoint was just created (its CreateEndpoint not yet audited); the configuration is
    # deleted and made again under its name, same variant name, naming the Approved v2 model.
    _recreate_config(indexed, "AllTraffic")
    assert _verdict(indexed.invoke(create_event(HOTFIX, "deploy"))) == "ARTIFACT_MISMATCH"
    assert {f["kind"]: f["status"] for f in _about_hotfix(indexed.stored())} == {"UNREGISTERED_ENDPOINT": "OPEN"}
    row = _weights_call(indexed, HOTFIX, "weights")
    # Was: no record (the deploy audit saw the configuration re-created), COMPLIANT, the finding RESOLVED.
    assert row["verdict"] != "COMPLIANT", row
    assert {f["kind"]: f["status"] for f in _about_hotfix(indexed.stored())}["UNREGISTERED_ENDPOINT"] == "OPEN"


def test_a_configuration_gone_at_its_deploy_audit_stays_flagged_once_made_again(indexed: Sandbox) -> None:
    """Hole 1's other half: deleted before the deploy call's audit and made again after it, under the same names."""
    _delete_config(indexed)
    assert _verdict(indexed.invoke(create_event(HOTFIX, "deploy"))) != "COMPLIANT"
    assert _record(indexed, HOTFIX) == {"endpoint_created": ANY, "configs": {f"{HOTFIX}-config": ""}}
    _recreate_config(indexed, "AllTraffic", deleted=True)
    row = _weights_call(indexed, HOTFIX, "weights")
    assert row["verdict"] == "ARTIFACT_MISMATCH" and "already been re-created or deleted" in str(row["reasons"]), row


def test_a_failed_update_endpoint_records_nothing(indexed: Sandbox) -> None:
    """Held: a developer's UpdateEndpoint refused by the guardrails (CloudTrail records it, with errorCode) is not a
    deploy: the audit refuses the event and the record of the real deploy stays."""
    assert _verdict(indexed.invoke(create_event(HOTFIX, "deploy"))) == "UNREGISTERED"
    recorded = _record(indexed, HOTFIX)
    assert recorded is not None
    _recreate_config(indexed, "AllTraffic")
    _endpoint_touched_since(indexed)  # else the re-created configuration is caught by its time alone
    event = create_event(HOTFIX, "denied")
    event["detail"].update(eventName="UpdateEndpoint", errorCode="AccessDenied", errorMessage="explicit deny in an SCP")
    answer = indexed.invoke(event)
    assert answer["status"] == "rejected" and "AccessDenied" in answer["reason"], answer
    assert _record(indexed, HOTFIX) == recorded
    assert _audit_by_scratch_delete_model(indexed, "after")["verdict"] == "ARTIFACT_MISMATCH"


# -- holes 2 and 3: the confirm dialog is checked for the subject's name and account only


def _about_elsewhere(request_id: str, region: str = "us-east-1", decision: str | None = None) -> dict[str, Any]:
    """An operator's OPEN finding about manga-recommender-v1-ab (the pending request's endpoint name) with its id."""
    finding = _forged_finding(request_id)
    name = "manga-recommender-v1-ab"
    finding.update(
        finding_id=f"ENDPOINT_RETIRING#{ACCOUNT}#{region}#{name}",
        region=region,
        resource_arn=f"arn:aws:sagemaker:{region}:{ACCOUNT}:endpoint/{name}",
        title=f"{'Challenger promotion' if decision else 'Retirement requested'}: {name}",
        detail="Scratch copy." if not decision else "The challenger won its test: promote it.",
    )
    if decision:
        finding["evidence"]["approval_request"]["decision"] = decision
    return finding


def _dialog(message: dict[str, Any]) -> str:
    [block] = [b for b in message["blocks"] if b["type"] == "actions"]
    return str(block["elements"][0]["confirm"]["text"]["text"])


def test_a_press_on_a_message_about_the_same_name_in_another_region_approves_nothing(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.notifier.messages import slack_message

    assert ":us-east-1:" in world.execution  # the request's steps act in us-east-1
    message = slack_message(_about_elsewhere(world.request_id, region="eu-west-1"))
    assert "eu-west-1" in _dialog(message) and "us-east-1" not in _dialog(message)
    _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message=message))
    assert world.status() == "PENDING"


def test_a_press_on_a_dialog_saying_promotion_does_not_approve_a_deletion(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.notifier.messages import slack_message

    message = slack_message(_about_elsewhere(world.request_id, decision="challenger"))
    assert _dialog(message).startswith("Approve: promotion of") and "deletion" not in json.dumps(message)
    _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message=message))
    assert world.status() == "PENDING"


def test_the_dialog_about_the_requests_own_endpoint_and_region_still_approves(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fixes of holes 2 and 3 must keep."""
    from mlgov_runtime.notifier.messages import slack_message

    message = slack_message(_about_elsewhere(world.request_id))
    assert _dialog(message).startswith("Approve: deletion of") and "us-east-1" in _dialog(message)
    _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message=message))
    assert world.status() == "APPROVED"


def test_identity_center_sessions_are_one_person_per_account_only() -> None:
    """Held: the same-person rule is per account (one Identity Center user name in two accounts may be two people
    and never decides in the other's account), and a role only named like Identity Center's is not believed."""
    from mlgov_runtime.approvals.identity import same_person

    ops = IDC_APPROVER.replace("AWSReservedSSO_Approver_fedcba9876543210", "AWSReservedSSO_MLOps_0123456789abcdef")
    assert same_person(IDC_APPROVER, ops) and same_person(IDC_APPROVER, ops.replace("/alice", "/ALICE"))
    assert not same_person(IDC_APPROVER, ops.replace(ACCOUNT, "210987654321"))
    assert not same_person(IDC_APPROVER, ops.replace("AWSReservedSSO_MLOps_0123456789abcdef", "MLOps"))


# -- hole 4: the grace counts from CreationTime, the first component comes after InService


def _in_service(world: CapacityWorld, host: str, created_minutes_ago: int) -> dict[str, Any]:
    """The host with no component yet (the pipeline adds them once it is InService), created that long ago, and the
    capacity Lambda's check on its InService state change."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    for component in ("manga-lora-v2", "manga-lora-hotfix"):
        world.sm.delete_inference_component(InferenceComponentName=component)
    sagemaker_backends[ACCOUNT][REGION].endpoints[host].creation_time = utcnow() - timedelta(
        minutes=created_minutes_ago
    )
    event: dict[str, Any] = {
        "version": "0",
        "id": f"in-service-{created_minutes_ago}",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"EndpointName": host, "EndpointStatus": "IN_SERVICE"},
    }
    [row] = world.invoke(event)["results"]
    return dict(row)


def test_a_host_that_took_45_minutes_to_create_does_not_page_when_it_goes_in_service(
    capacity_world: CapacityWorld,
) -> None:
    world = capacity_world
    row = _in_service(world, _lora_host(world), created_minutes_ago=45)
    assert row["verdict"] == "COMPLIANT", row
    assert not [f for f in world.published() if f["kind"] == "ENDPOINT_CAN_SCALE_TO_ZERO"]


def test_a_host_ten_minutes_old_waits_for_its_components(capacity_world: CapacityWorld) -> None:
    """Held: within the grace, a reason and no page."""
    world = capacity_world
    row = _in_service(world, _lora_host(world), created_minutes_ago=10)
    assert row["verdict"] == "COMPLIANT", row
    assert not [f for f in world.published() if f["kind"] == "ENDPOINT_CAN_SCALE_TO_ZERO"]


def test_a_week_old_host_without_components_still_pages_through_the_lambda(capacity_world: CapacityWorld) -> None:
    """Held: what hole 4's fix must keep (the seventeenth review's hole 5, through the CLI there)."""
    world = capacity_world
    host = _lora_host(world)
    row = _in_service(world, host, created_minutes_ago=7 * 24 * 60)
    assert row["verdict"] == "CAN_SCALE_TO_ZERO", row
    code, audited = _audit(host)
    assert audited["verdict"] == "CAN_SCALE_TO_ZERO" and code == 3


# -- the SCP's inference-component wildcard, per the Service Authorization Reference's action names


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("sagemaker:CreateInferenceComponent", "Deny"),
        ("sagemaker:UpdateInferenceComponent", "Deny"),
        ("sagemaker:UpdateInferenceComponentRuntimeConfig", "Deny"),
        ("sagemaker:DeleteInferenceComponent", "Deny"),
        ("sagemaker:DescribeInferenceComponent", "Allow"),
        ("sagemaker:ListInferenceComponents", "Allow"),
    ],
)
def test_the_inference_component_wildcard_denies_the_changes_and_leaves_the_reads(action: str, expected: str) -> None:
    from tests.attacker.test_guardrail_gaps import PROD, WORKLOAD_OU, decision

    component = f"arn:aws:sagemaker:us-east-1:{PROD}:inference-component/manga-lora-v2"
    assert decision(WORKLOAD_OU, PROD, action, component) == expected


# -- hole 5: the grace re-opens when the host is re-created, and a developer may re-create it


def test_a_developer_cannot_reopen_a_hosts_grace_by_recreating_it() -> None:
    from tests.attacker.test_guardrail_gaps import PROD, WORKLOAD_OU, decision

    endpoint = f"arn:aws:sagemaker:us-east-1:{PROD}:endpoint/manga-lora-host"
    # What does hold: CreateEndpoint without a package-shaped ModelPackageName tag (DenyEndpointWithoutPackageTag).
    assert decision(WORKLOAD_OU, PROD, "sagemaker:CreateEndpoint", endpoint) == "Deny"
    tagged = {
        "aws:RequestTag/ModelPackageName": f"arn:aws:sagemaker:us-east-1:{PROD}:model-package/manga-recommender/3",
        "aws:TagKeys": ["ModelPackageName"],
    }
    assert decision(WORKLOAD_OU, PROD, "sagemaker:DeleteEndpoint", endpoint) == "Deny"
    assert decision(WORKLOAD_OU, PROD, "sagemaker:CreateEndpoint", endpoint, **tagged) == "Deny"


def test_a_recreated_host_is_in_its_grace_again(capacity_world: CapacityWorld) -> None:
    """Where hole 5 ends: the grace counts from CreationTime alone, so a host created again minutes ago without a
    component is a deployment under way, whoever made it (no check follows once the grace is over)."""
    world = capacity_world
    row = _in_service(world, _lora_host(world), created_minutes_ago=5)
    assert row["verdict"] == "COMPLIANT" and any("no inference component yet" in r for r in row["reasons"]), row
