"""Twentieth review: an attacker and failure review of the changes since c8fadb4: (a) the lineage audit's deployment
record of a configuration already re-created or gone at the deploy call's audit (an empty CreationTime), the
capacity check's 6-hour wait on an InService state change (FIRST_IN_SERVICE_S), the SCP statement
DenyLineageChangeOutsidePipeline widened to `sagemaker:*teEndpoint*` with the product's roles exempt by name, and an
inference component's resolved image compared with its package's digests; (b) spec scenario 5 end to end
(retirement: audit, tag, approval, live check, delete, recreate) with the new SCP in mind, as a member-account or
governance-account developer (no deployer, role-admin, break-glass or product role) and as a failure injector.
IAM is judged with mlgov/policy_eval.py over the policies `attachments()` puts on the target; actions and resource
types by cfn-lint's copy of the Service Authorization Reference.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (medium; fixed: `recreate` tags the kept config's package, so the tests below pass) The documented recovery
    of a retired endpoint still called does not pass the guardrails where the
    retirement runs. `mlgov retire recreate` (what RETIRED_ENDPOINT_STILL_CALLED tells to run) creates the endpoint
    with the tags `endpoint_purpose=retiring` and `mlgov:recreated_by` only, no `ModelPackageName`; the retirement
    acts in the governance account, where mlgov-endpoint-lineage is attached, and DenyEndpointWithoutPackageTag
    exempts only break-glass. docs/retirement.md (new in cc69e91) says "run `mlgov retire recreate` as a pipeline or
    break-glass role there": as the pipeline it is refused (DenyEndpointWithoutPackageTagNamed), and
    `break_glass_role_arns` is empty by default, so in a default install no role can re-create the endpoint the
    HIGH finding is about. Reproduction (below): the CLI's own CreateEndpoint request, captured under moto, judged
    for a pipeline role in the governance account. Fix: have `recreate` carry the deleted endpoint's
    `ModelPackageName` tag (the retirement's snapshot records its tags in `evidence.retiring.recreate`, or read it
    from the kept configuration's model package), so the pipeline may run it; or say "break-glass only" in the
    docs and the finding. (The test passes with the first fix; with the second, rewrite it to the docs' claim.)
 2. (medium) The 6-hour wait resolves a page it did not open. Any InService state change within 6 hours of the
    host's creation counts as the first, but an endpoint goes Updating -> InService on every UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities. A host 2 hours old whose components were deleted (DeleteInferenceComponent
    names no endpoint, so docs/capacity.md says "caught at its endpoint's next event"): its next event, an
    UpdateEndpoint, pages CRITICAL ENDPOINT_CAN_SCALE_TO_ZERO, and minutes later that update's InService state
    change is COMPLIANT ("no inference component yet") and RESOLVES the page, while the host serves nothing until
    the weekly scan. In an account the pipeline does not guard a developer can do it on purpose (delete the
    components, then any update); elsewhere a pipeline's own update does it. Reproduction below. Fix: a waiting
    host is a reason that closes nothing (report() as for ERROR for ENDPOINT_CAN_SCALE_TO_ZERO), or wait on
    InService only when no ENDPOINT_CAN_SCALE_TO_ZERO finding is open for it (an open one means its grace already
    ended once).
    Fixed: a waiting host is undecided for ENDPOINT_CAN_SCALE_TO_ZERO (report() closes nothing of that kind, the
    scan's check is inconclusive).
 3. (medium) A deploy call's audit that cannot read the configuration (DescribeEndpointConfig throttled past the
    SDK's retries, or refused) records no CreationTime for it: only ResourceNotFound records "" (gone). The audit
    is ERROR and is not retried, and with nothing recorded the endpoint is "without a record": the nineteenth
    review's hole 1 comes back for that deployment. Reproduction (below, in an account the pipeline does not
    guard): a raw-artifact endpoint is created and its CreateEndpoint audit finds DescribeEndpointConfig throttled
    (the developer floods the account's Describe rate, which the member role shares); the developer deletes the
    configuration and makes it again under its name (same variant name, an Approved model), then
    UpdateEndpointWeightsAndCapacities: that call's audit is COMPLIANT and resolves the ERROR finding, while the
    fleet still serves the raw artifact. Fix: at a deploy call's audit record an unreadable configuration too, as
    unread (later audits: ARTIFACT_MISMATCH "could not be read when its deployment was audited" until a redeploy),
    or fail the event so it is redelivered and record "" once the retries are spent. docs/lineage-audit.md's "where
    there is no record" list does not name this case either.
    Fixed: an unreadable configuration is recorded as "<" and the audit's time; one created after it is
    ARTIFACT_MISMATCH ("after the audit of its deployment ... could not read it"). A re-creation between the call
    and a throttled audit stays with the two older checks (docs/lineage-audit.md).
 4. (low; fixed: the advice is gone, the product's roles are exempt by name) docs/retirement.md still advised,
    where the governance account sits under a guarded OU, adding
    `arn:aws:iam::<account>:role/MlGovEndpointAudit-Retirement*` to `guardrails.pipeline_role_arns`: the settings
    refuse it (pipeline roles must be on the protected path), and it is no longer needed (DenyGovernanceTagChange
    and DenyLineageChangeOutsidePipeline exempt the product's roles by name). Fix: drop the advice.

Held (plain tests below): `sagemaker:*teEndpoint*` matches exactly Create/Update/Delete Endpoint,
UpdateEndpointWeightsAndCapacities and Create/DeleteEndpointConfig in the reference, and a developer keeps Describe,
List and InvokeEndpoint (action names compared case-insensitively, `deleteendpoint` too); in a guarded account a
developer can neither delete nor re-create a production endpoint, nor create a role the product exemption names
(`MlGovEndpointAudit-*`, on any path, `/MlGovEndpointAudit-x/anything` too: DenyProtectedRoleChanges has the same
pattern as the exemption); the retirement's RetirementSteps role deletes where the product runs, a developer there
does not; the challenger's pipeline role (`/mlgov-protected/MlGovDeploymentPipelineChallenger`) still makes its
configuration and updates the endpoint; break-glass re-creates as the CLI asks; a developer in an experiment
account creates and deletes `experiment-` endpoints and still cannot delete a production-named one there;
`mlgov capacity restore` (Application Auto Scaling RegisterScalableTarget) is not decided by the new statement; a
configuration gone at its deploy audit stays ARTIFACT_MISMATCH until a redeploy, and the redeploy (UpdateEndpoint)
records the new configuration so the next weight call is judged on its lineage again.

Left as is:
 - Case: policy_eval (principalmapper) compares ARNs case-insensitively, IAM case-sensitively. Either way the
   exemption (`ArnNotLike aws:PrincipalArn`) and the protection (DenyProtectedRoleChanges' Resource) use the same
   pattern, so a look-alike spelling a developer may create in real IAM (`mlgovendpointaudit-x`) is not exempt
   there either; not tested, since the evaluator cannot show IAM's case rule.
 - CreateEndpoint is authorized on the endpoint and on the endpoint-config (the reference lists both), so in an
   experiment account an `experiment-` endpoint from a configuration named otherwise is refused: stricter, not a
   hole. Whether SageMaker really checks the configuration's ARN for CreateEndpoint was not confirmed.
 - Without `governance_target_ids` (SCPs attached by hand) the deployer's exemption holds in every account, so a
   team's CDK stack there could create a `MlGovEndpointAudit-*` role, now exempt from DeleteEndpoint too; this is
   the documented "out of reach" case (docs/guardrails.md).
 - An inference component's `Specifications` (several containers) are judged against the union of their resolved
   images; a model pinned by one package running another package's digest in a multi-container component was not
   examined further.
 - A configuration deleted and made again during an UpdateEndpoint (an account the pipeline does not guard): the
   deploy call's audit judges the pending configuration without the endpoint, so a pending one already gone records
   no "" (only the current one does), and one re-created before the update completes reads as created before the
   endpoint's LastModifiedTime. Whether that is a hole depends on whether SageMaker reads the configuration only at
   the call or again while it deploys (then the re-created one is what serves); not confirmed, so not tested.
 - Slack, Jira or the findings channel down during a retirement, and throttled metrics at the live check, were
   pinned by earlier reviews (nothing is deleted on an unreadable metric); not re-examined beyond the new SCP.
 - `make demo` scenes run on moto, which enforces no SCP: nothing there changed. `mlgov rollback` makes a
   configuration and updates the endpoint, which DenyLineageChangeOutsidePipeline denied a developer before
   c8fadb4 as well; `mlgov capacity restore` writes only Application Auto Scaling (held, below).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError

from tests.attacker.test_guardrail_gaps import GOV, PROD, WORKLOAD_OU, attached, decision, developer
from tests.attacker.test_nineteenth_review_gaps import _in_service
from tests.attacker.test_seventeenth_review_gaps import _lora_host
from tests.attacker.test_sixteenth_review_gaps import (
    HOTFIX,
    _about_hotfix,
    _delete_config,
    _record,
    _recreate_config,
    _verdict,
    _weights_call,
    indexed,
)
from tests.integration.conftest import ACCOUNT, Sandbox, sandbox
from tests.integration.test_capacity import REGION, CapacityWorld, capacity_world
from tests.integration.test_lineage_audit_handler import create_event
from tests.integration.test_retirement import RetirementWorld, retirement_world, run_cli
from tests.settings_files import NO_SETTINGS

__all__ = ["capacity_world", "indexed", "retirement_world", "sandbox"]

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "mlgov-protected/MlGovDeploymentPipeline-prod"
CHALLENGER = "mlgov-protected/MlGovDeploymentPipelineChallenger"
BREAK_GLASS = "mlgov-protected/MlGovBreakGlass"
RETIREMENT_STEPS = "MlGovEndpointAudit-RetirementStepsFunctionServiceRole12-Ab1"


def _as(account: str, role: str) -> dict[str, Any]:
    return {**developer(account), "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{role}"}


def _sm(account: str, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{account}:{kind}/{name}"


def _judged(account: str, role: str, action: str, resource: str, **keys: Any) -> str:
    """The decision for `role` under the matrix's settings (experiment exemptions and a break-glass role, which the
    default lacks), every statement attached."""
    from mlgov.policy_eval import evaluate
    from tests.unit.test_guardrail_matrix import POLICIES

    return evaluate(POLICIES, action, resource, {**_as(account, role), **keys}).decision


# -- hole 1: `mlgov retire recreate` carries no package tag, and only break-glass may create without one


def _recreate_request(world: RetirementWorld, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CreateEndpoint request `mlgov retire recreate` sends for the estate's idle endpoint, once deleted."""
    from mlgov.retirement_estate import IDLE

    world.sm.delete_endpoint(EndpointName=IDLE)
    sent: list[dict[str, Any]] = []
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "CreateEndpoint":
            sent.append(dict(params))
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    argv = ["retire", "recreate", "--endpoint", IDLE, "--endpoint-config", f"{IDLE}-config", "--config", NO_SETTINGS]
    code, _, err = run_cli(*argv)
    assert code == 0, err
    [request] = sent
    return request


def _create_keys(request: dict[str, Any]) -> dict[str, Any]:
    tags = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)}


def test_the_pipeline_may_run_mlgov_retire_recreate_where_the_retirement_runs(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _recreate_request(retirement_world, monkeypatch)
    keys = _create_keys(request)
    for kind, name in (("endpoint", request["EndpointName"]), ("endpoint-config", request["EndpointConfigName"])):
        assert _judged(GOV, PIPELINE, "sagemaker:CreateEndpoint", _sm(GOV, kind, name), **keys) == "Allow", kind


def test_break_glass_may_run_mlgov_retire_recreate_and_a_developer_may_not(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: what the docs promise of break-glass, and the SCP's point (a developer re-creates no production host)."""
    request = _recreate_request(retirement_world, monkeypatch)
    keys = _create_keys(request)
    # hole 1's fix: the kept config's package, so the pipeline passes DenyEndpointWithoutPackageTag
    assert re.fullmatch(
        r"arn:aws:sagemaker:\S+:model-package/manga-recommender/\d+", keys["aws:RequestTag/ModelPackageName"]
    )
    endpoint = _sm(GOV, "endpoint", request["EndpointName"])
    assert _judged(GOV, BREAK_GLASS, "sagemaker:CreateEndpoint", endpoint, **keys) == "Allow"
    assert _judged(GOV, "Developer", "sagemaker:CreateEndpoint", endpoint, **keys) == "Deny"


# -- hole 2: an update's InService within 6 hours of creation resolves the page its own call opened


def _update_endpoint_event(host: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "update-endpoint",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {
            "eventSource": "sagemaker.amazonaws.com",
            "eventName": "UpdateEndpoint",
            "awsRegion": REGION,
            "requestParameters": {"endpointName": host, "endpointConfigName": f"{host}-config"},
        },
    }


def _in_service_event(host: str, event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"EndpointName": host, "EndpointStatus": "IN_SERVICE"},
    }


def _zero_page(world: CapacityWorld) -> list[str]:
    return [f["status"] for f in world.published() if f["kind"] == "ENDPOINT_CAN_SCALE_TO_ZERO"]


def test_an_updates_in_service_does_not_resolve_the_page_of_a_host_without_components(
    capacity_world: CapacityWorld,
) -> None:
    world = capacity_world
    host = _lora_host(world)
    # Created 2 hours ago, components deleted since (_in_service deletes them, backdates the host and checks it), the
    # host's next event: an UpdateEndpoint (its CloudTrail check pages, as docs/capacity.md promises).
    _in_service(world, host, created_minutes_ago=120)
    world.published()
    [row] = world.invoke(_update_endpoint_event(host))["results"]
    assert row["verdict"] == "CAN_SCALE_TO_ZERO", row
    assert _zero_page(world) == ["OPEN"]
    # The update completes: InService, 2 hours after the host's creation, still without a component.
    assert not world.sm.list_inference_components(EndpointNameEquals=host)["InferenceComponents"]
    [row] = world.invoke(_in_service_event(host, "updated"))["results"]
    assert "RESOLVED" not in _zero_page(world), row


def test_a_host_without_components_pages_at_its_next_call_after_the_grace(capacity_world: CapacityWorld) -> None:
    """Held: the CloudTrail check of the host's next call keeps the 30-minute grace (hole 2 is what follows it)."""
    world = capacity_world
    host = _lora_host(world)
    _in_service(world, host, created_minutes_ago=120)
    world.published()
    [row] = world.invoke(_update_endpoint_event(host))["results"]
    assert row["verdict"] == "CAN_SCALE_TO_ZERO" and _zero_page(world) == ["OPEN"], row


# -- hole 3: a deploy audit that cannot read the configuration records nothing for it


def _throttled(monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    """DescribeEndpointConfig of `config` throttled beyond the SDK's retries (the account's Describe rate spent)."""
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "DescribeEndpointConfig" and params.get("EndpointConfigName") == config:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, name)  # type: ignore[arg-type]
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def test_a_configuration_unreadable_at_its_deploy_audit_is_not_trusted_after_a_weight_call(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _throttled(patch, f"{HOTFIX}-config")
        assert _verdict(indexed.invoke(create_event(HOTFIX, "deploy"))) == "ERROR"
    _recreate_config(indexed, "AllTraffic")
    row = _weights_call(indexed, HOTFIX, "weights")
    # What serves is still the raw artifact HOTFIX was created with.
    assert row["verdict"] != "COMPLIANT", row
    assert "RESOLVED" not in {f["status"] for f in _about_hotfix(indexed.stored())}


def test_a_configuration_gone_at_its_deploy_audit_is_trusted_again_after_a_redeploy(indexed: Sandbox) -> None:
    """Held: the '' record holds until a redeploy, and the redeploy's audit records the configuration it names."""
    _delete_config(indexed)
    assert _verdict(indexed.invoke(create_event(HOTFIX, "deploy"))) != "COMPLIANT"
    assert _record(indexed, HOTFIX) is not None
    _recreate_config(indexed, "AllTraffic", deleted=True)
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "ARTIFACT_MISMATCH"
    event = create_event(HOTFIX, "redeploy")
    event["detail"]["eventName"] = "UpdateEndpoint"
    event["detail"]["requestParameters"]["endpointConfigName"] = f"{HOTFIX}-config"
    assert _verdict(indexed.invoke(event)) == "COMPLIANT"
    record = _record(indexed, HOTFIX)
    assert record is not None and record["configs"][f"{HOTFIX}-config"] != ""
    assert _weights_call(indexed, HOTFIX, "after")["verdict"] == "COMPLIANT"


# -- hole 4: the retirement docs advise a pipeline role the settings refuse


def test_the_retirement_docs_advise_no_setting_the_settings_refuse() -> None:
    from mlgov.settings import SettingsError, parse_settings

    text = (ROOT / "docs" / "retirement.md").read_text()
    advised = re.findall(r"`(arn:aws:iam::<account>:role/[^`]+)`", text)
    refused = []
    for arn in advised:
        try:
            parse_settings({"guardrails": {"pipeline_role_arns": [arn.replace("<account>", GOV)]}})
        except SettingsError:
            refused.append(arn)
    assert not refused, refused


# -- what held: the SCP's wildcard, the product exemption by name, experiments, capacity restore


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("sagemaker:CreateEndpoint", "Deny"),
        ("sagemaker:UpdateEndpoint", "Deny"),
        ("sagemaker:DeleteEndpoint", "Deny"),
        ("sagemaker:deleteendpoint", "Deny"),
        ("sagemaker:UpdateEndpointWeightsAndCapacities", "Deny"),
        ("sagemaker:CreateEndpointConfig", "Deny"),
        ("sagemaker:DeleteEndpointConfig", "Deny"),
        ("sagemaker:DescribeEndpoint", "Allow"),
        ("sagemaker:DescribeEndpointConfig", "Allow"),
        ("sagemaker:ListEndpoints", "Allow"),
        ("sagemaker:InvokeEndpoint", "Allow"),
    ],
)
def test_a_developer_keeps_the_reads_and_loses_the_endpoint_changes(action: str, expected: str) -> None:
    kind = "endpoint-config" if action.lower().endswith("endpointconfig") else "endpoint"
    tags = {"aws:RequestTag/ModelPackageName": f"arn:aws:sagemaker:us-east-1:{PROD}:model-package/manga/3"}
    keys = {**tags, "aws:TagKeys": ["ModelPackageName"]} if action.endswith("CreateEndpoint") else {}
    assert decision(WORKLOAD_OU, PROD, action, _sm(PROD, kind, "manga-recommender-prod"), **keys) == expected


def test_the_wildcard_names_exactly_the_six_changes_in_the_reference() -> None:
    import fnmatch

    from tests.unit.test_guardrail_matrix import _reference

    actions = _reference()["sagemaker"]["Actions"]
    assert sorted(a for a in actions if fnmatch.fnmatchcase(a, "*teendpoint*")) == [
        "createendpoint",
        "createendpointconfig",
        "deleteendpoint",
        "deleteendpointconfig",
        "updateendpoint",
        "updateendpointweightsandcapacities",
    ]


@pytest.mark.parametrize(
    "role", ["MlGovEndpointAudit-Retire", "MlGovEndpointAudit-x/anything", "team/MlGovEndpointAudit-Retire"]
)
def test_a_developer_cannot_make_a_role_the_product_exemption_names(role: str) -> None:
    # The first two match the exemption (a wildcard spans the path) and are protected by the same pattern; the third
    # is on another path, which the exemption does not match.
    arn = f"arn:aws:iam::{PROD}:role/{role}"
    from mlgov.policy_eval import evaluate

    created = decision(WORKLOAD_OU, PROD, "iam:CreateRole", arn)
    as_it = evaluate(
        attached(WORKLOAD_OU), "sagemaker:DeleteEndpoint", _sm(PROD, "endpoint", "manga-prod"), _as(PROD, role)
    )
    assert created == "Deny" or as_it.decision == "Deny", (created, as_it)


def test_the_retirement_deletes_where_the_product_runs_and_a_developer_there_does_not() -> None:
    endpoint = _sm(GOV, "endpoint", "manga-recommender-v1-ab")
    assert _judged(GOV, RETIREMENT_STEPS, "sagemaker:DeleteEndpoint", endpoint) == "Allow"
    assert _judged(GOV, "Developer", "sagemaker:DeleteEndpoint", endpoint) == "Deny"
    assert decision(GOV, GOV, "sagemaker:DeleteEndpoint", endpoint) == "Deny"


@pytest.mark.parametrize(
    ("action", "kind"),
    [("sagemaker:CreateEndpointConfig", "endpoint-config"), ("sagemaker:UpdateEndpoint", "endpoint")],
)
def test_the_challengers_deploy_still_passes(action: str, kind: str) -> None:
    name = "manga-recommender-prod-challenger-7" if kind == "endpoint-config" else "manga-recommender-prod"
    assert _judged(GOV, CHALLENGER, action, _sm(GOV, kind, name)) == "Allow"


def test_experiment_endpoints_stay_a_developers_in_an_experiment_account() -> None:
    from tests.unit.test_guardrail_matrix import EXPERIMENT

    keys = {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"]}
    for action in ("sagemaker:CreateEndpoint", "sagemaker:DeleteEndpoint"):
        ours = _sm(EXPERIMENT, "endpoint", "experiment-lora-r16")
        assert _judged(EXPERIMENT, "Developer", action, ours, **keys) == "Allow", action
    production = _sm(EXPERIMENT, "endpoint", "manga-recommender-prod")
    assert _judged(EXPERIMENT, "Developer", "sagemaker:DeleteEndpoint", production, **keys) == "Deny"


def test_capacity_restore_is_not_decided_by_the_endpoint_statement() -> None:
    target = f"arn:aws:application-autoscaling:us-east-1:{PROD}:scalable-target/sagemaker-prod"
    assert decision(WORKLOAD_OU, PROD, "application-autoscaling:RegisterScalableTarget", target) == "Allow"


def test_a_ten_minute_old_host_going_in_service_still_waits(capacity_world: CapacityWorld) -> None:
    """Held: what a fix of hole 2 must keep (a genuinely new host is not paged at its first InService)."""
    world = capacity_world
    row = _in_service(world, _lora_host(world), created_minutes_ago=50)
    assert row["verdict"] == "COMPLIANT" and any("no inference component yet" in r for r in row["reasons"]), row
    assert not _zero_page(world)
