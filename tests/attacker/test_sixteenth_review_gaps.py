"""Sixteenth review: "nothing serves a model that is not an Approved registry version", as the real-time and the
weekly org-wide lineage audit and `mlgov scan` check it, reviewed as a member-account developer who wants to serve an
unapproved model without a finding (or to make one resolve), and as a failure injector.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) The weekly scan plans no account at all on ListAccounts answers without the `Status` field, which
    AWS Organizations retires on 2026-09-09 (the API reference's notice; `State` replaces it).
    OrganizationAccounts.active_accounts keeps `Status == "ACTIVE"`; on such answers no account has it, so the plan
    is empty, the run is COMPLETE ("0 of 0 account/regions reached"), the summary counts no violation, and every
    account named in `org_scan.account_ids` is listed as "not an ACTIVE account". Missing data reads as zero
    endpoints. (`mlgov scan --organization` plans nothing too, but says "nothing scanned" and exits 3.) Fix: read
    `State` (fall back to `Status`), and fail the plan (SCAN_FAILED) when an account carries neither.
    Fixed: account_state reads State, then Status; neither fails the plan (SCAN_FAILED; the CLI exits 1) naming it.
 2. (high) An endpoint configuration deleted and re-created under the same name under a live endpoint makes the
    endpoint COMPLIANT, and resolves its open UNREGISTERED finding, while the old, unregistered model still serves.
    DescribeEndpoint names the configuration by name only; the audit reads whatever configuration now has that name
    and judges its models against that configuration's CreationTime (the re-created-model check), never the
    configuration's against the endpoint's LastModifiedTime, nor the configuration's variant names against the
    endpoint's own ProductionVariants (DeployedImages are looked up by the new variant names, so a new name skips
    them; with the same image they match anyway). Any audited call (a DeleteModel of a scratch model) triggers
    the resolving audit at once. Under the guardrails Create/DeleteEndpointConfig are the pipeline's and
    break-glass's (pinned below); SageMaker lets a configuration in use be deleted (it only warns that the instance
    type may be lost from view), so this is an unguarded account's developer (which only the weekly scan
    watches), or a pipeline or break-glass role. Fix: a configuration created after the endpoint's LastModifiedTime,
    or whose variant names are not the endpoint's, is not what serves: ARTIFACT_MISMATCH (HIGH, evidence missing),
    never COMPLIANT, and it closes nothing (see "Left as is" for why LastModifiedTime alone is not enough).
    Fixed: a configuration newer than the endpoint's LastModifiedTime or naming other variants is ARTIFACT_MISMATCH
    (HIGH, evidence missing, its variants unjudged) and closes nothing; same names after a weight call: still open.
    Fixed: the audit of CreateEndpoint/UpdateEndpoint records each configuration's CreationTime (ServingIndex);
    later real-time audits judge another CreationTime under that name ARTIFACT_MISMATCH. No record: as before.
    Fixed: the ServingIndex table's policy keeps item writes (the records) to the audit's and the scan worker's roles,
    its controls to the deployer: a developer's forged, altered or deleted record is refused.
    Fixed: the weekly scan's worker reads the records (by account, region) and compares with the same code: the same
    names after a weight call are ARTIFACT_MISMATCH there and the open finding is not resolved; a record it cannot
    read makes the lineage ERROR, and an endpoint listed but left without an ARN by a failed check is not "gone".
 3. (medium) A container that names an Approved package and adds an environment variable that makes the package's
    own image load other weights is COMPLIANT when the key is not on REDIRECTING_ENV and the value is not an
    s3:// or https:// URI. The AWS vLLM DLC turns every `SM_VLLM_*` variable into a `vllm serve` flag
    (aws/deep-learning-containers vllm/build_artifacts/sagemaker_entrypoint.sh): `SM_VLLM_MODEL=<hub id>` serves
    any Hugging Face model, `SM_VLLM_LORA_MODULES` any adapter, under an Approved package's name. Fix: judge the
    environment by an allow list (a key the package does not set, or a value it sets differently, is a mismatch
    unless the key is a known tuning knob), or at least refuse the DLCs' prefixes (`SM_VLLM_`, `OPTION_`, `HF_`).
    Fixed: keys starting SM_VLLM_, OPTION_ or HF_ (any case) that the package does not set so are ARTIFACT_MISMATCH.
 4. (medium) An Approved package whose own inference specification loads its weights from the Hugging Face hub
    (`HF_MODEL_ID=<org>/<repo>` in its Environment, no ModelDataUrl) is COMPLIANT with no pin and no word: whoever
    may push to that hub repository changes what serves, the same hole UNPINNED_MODEL_DATA closes for S3 prefixes.
    Fix: a package container whose Environment names a model source (REDIRECTING_ENV keys, s3/https values) is
    UNPINNED_MODEL_DATA, naming the variable and `mlgov register` as the fix.
    Fixed: a package Environment value s3://, https:// or a weight-source key naming no local path: UNPINNED_MODEL_DATA.
 5. (medium) Under the settings docs/deploy.md gives for several accounts (`org_scan.member_role_target_ou_ids`,
    `organization_id`), the member StackSet deploys the forwarding rule and the member role `MlGovMemberAudit`,
    but `member_audit_role_name` stays unset (its default), so the audit Lambda answers every forwarded member event
    "skipped": a log line and the AuditEventRejected metric, which no alarm watches (stacks/lineage_audit.py alarms
    on the violation metric, the DLQ and the function's errors only). The weekly scan meanwhile reports that
    account's forwarding `OK`. Real-time coverage of every member account is off while everything says it is on;
    an unregistered endpoint there waits up to a week. (With the name set and the role missing, AssumeRole's
    AccessDenied fails the invocation: retries, the DLQ and its alarm; that held.) Fix: default the audit's member
    role to `member_role_name(settings)` (the scan's), or refuse at synth a member StackSet without
    `member_audit_role_name`; and alarm on AuditEventRejected.
    Fixed: the member StackSet's settings default member_audit_role_name to MlGovMemberAudit; a skip is alarmed.
 6. (medium) The weekly scan covers `org_scan.regions` only (default: the stack's one region) and no SCP keeps
    SageMaker to those regions: an unguarded member account's endpoint in any other region is never listed, and
    nothing says a region was left out (the report reads "every endpoint of every ACTIVE account"). Under the
    guardrails CreateModel is the pipeline's in every region (held), so this is the unguarded accounts the weekly
    scan exists for. Fix: plan every region enabled for each account (`account:ListRegions`, or
    `ec2:DescribeRegions` through the member role) and at least list endpoints there, or deny SageMaker hosting
    outside `org_scan.regions` with an `aws:RequestedRegion` SCP attached at the root.
    Fixed: once per account the worker lists its enabled regions (member role) and the endpoints outside
    org_scan.regions: ENDPOINTS_OUTSIDE_SCANNED_REGIONS (HIGH) and report rows; not audited there (add the region).
 7. (low) UpdateEndpointWeightsAndCapacities is not among the CloudTrail calls the real-time rule hears (nor parsed
    by the audit): the call moves traffic shares, which is what UNDER_EVALUATION judges (a challenger's share at
    most `challenger_traffic_fraction`); a challenger moved to all the traffic is seen only if SageMaker's endpoint
    state change reaches IN_SERVICE again (not verified anywhere), else at the weekly scan. Fix: add it to
    ENDPOINT_CALLS (its requestParameters carry endpointName).
    Fixed: UpdateEndpointWeightsAndCapacities is in ENDPOINT_CALLS, so in the synthesized rule and the parser.

Left as is (seen, not shown to be holes here): hole 2's deployment record is read by the audit function and the
weekly scan's worker only (`mlgov scan` and `mlgov audit` judge by LastModifiedTime and variant names alone, so
there the same names after a weight call still pass), and an endpoint deployed before the product, or whose deploy
call never reached the audit, has no record (docs/lineage-audit.md). Whether an inference component's
LastModifiedTime moves on UpdateInferenceComponentRuntimeConfig (which would let a model re-created before such a
call pass the component's re-created-model check) was not verifiable without AWS. A forwarding rule whose targets
cannot be read is `UNKNOWN`, a report row and no finding (by design; the member role that reads it is under
DenyMemberRoleChanges). With `package_account_ids` unset (the default) a package counts in its own account, so in an
account outside the guardrails a developer's own group and self-approved version is COMPLIANT in the weekly scan
(documented under FOREIGN_PACKAGE; the org estate models member registries so): set `package_account_ids` to the
central registry wherever member accounts are scanned. An inference component's `DeployedImage` (its resolved
digest) is not compared with its package's `ImageDigest` as an endpoint's `DeployedImages` are; the emulator gives
components none, so it is not shown here. Fixed since: compared as a variant's
(tests/unit/test_lineage_audit_bypasses.py).

What held (passing tests below, or named): a model re-created under a live endpoint is ARTIFACT_MISMATCH
(tests/integration); a deleted configuration under a live endpoint is ERROR, HIGH, and keeps the open violation open
(below: the first half of hole 2); under the guardrails a developer can neither delete nor create an endpoint
configuration, nor create a model or an inference component, and an inference experiment's promote (which
SageMaker runs as the experiment's RoleArn) is refused to a developer's role while the pipeline role cannot be passed
(below, the project's evaluator on `attachments()`);
`HF_MODEL_ID`, `OPTION_MODEL_ID` and an s3:// value on a container naming an Approved package are ARTIFACT_MISMATCH
(below); a raw (adapter) component with no model is UNREGISTERED in real time and its deletion resolves the
finding once (tests/integration/test_lineage_audit_handler.py), a component overriding its model's artifact is
ARTIFACT_MISMATCH, a package of another account is FOREIGN_PACKAGE before it is described, and components that
cannot be listed make the verdict ERROR (tests/unit/test_lineage_audit_bypasses.py); ModelDataSource and
AdditionalModelDataSources are UNPINNED_MODEL_DATA (fourteenth review); a package state change naming another
account's package re-audits nothing elsewhere (tests/integration/test_serving_index.py); an unreachable account/region
is an ERROR row and a SCAN_ACCOUNT_UNREACHABLE finding and resolves nothing (tests/integration/test_org_scan.py); a
plan that fails (Organizations refusing) is SCAN_FAILED, no account scanned (tests/infrastructure/
test_org_scan_stack.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import botocore.exceptions
import pytest
from moto import mock_aws

from mlgov.estate import GROUP, ROLE_ARN, SERVING_INDEX, create_serving_index
from mlgov.org_estate import create_organization, deploy_member_role, member_session
from mlgov.sandbox import emf_metric, function_settings
from mlgov_runtime.adapters.organizations import AccountStateUnknown, OrganizationAccounts
from mlgov_runtime.lineage_audit.events import parse_audit_request
from mlgov_runtime.lineage_audit.logic import stamp
from mlgov_runtime.org_scan.logic import Scope, plan_targets
from tests.attacker.resource_policies import DEPLOYER, DEVELOPER, OPERATOR, act_as, role_arn, table_policy
from tests.attacker.scp_judge import PROD, REGION, WORKLOAD_OU, judge
from tests.attacker.test_review_gaps import _table, both
from tests.conftest import load_event
from tests.integration.conftest import ACCOUNT, Sandbox, runtime_env, sandbox
from tests.integration.test_lineage_audit_handler import create_event
from tests.integration.test_org_scan import OrgWorld, org_world
from tests.settings_files import NO_SETTINGS

__all__ = ["org_world", "sandbox"]

MEMBER = "210987654321"


def _verdict(result: dict[str, Any]) -> str:
    return str(result["results"][0].get("verdict"))


def _serve(sandbox: Sandbox, endpoint: str, container: dict[str, Any]) -> None:
    """What a developer with CreateModel/CreateEndpointConfig/CreateEndpoint deploys (an unguarded account)."""
    model = f"{endpoint}-model"
    sandbox.sm.create_model(
        ModelName=model, ExecutionRoleArn=ROLE_ARN.format(account=ACCOUNT), PrimaryContainer=container
    )
    variant = {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}
    sandbox.sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-config", ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.2xlarge"}]
    )
    sandbox.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")


def _approved(sandbox: Sandbox, container: dict[str, Any]) -> str:
    arn: str = sandbox.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return arn


# The AWS vLLM DLC for SageMaker, pinned by digest as registration pins it.
VLLM_DIGEST = "sha256:" + "7" * 64
VLLM_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/vllm:0.9-gpu-py312-ec2@{VLLM_DIGEST}"


# -- 1. Organizations' retired Status field: the plan is empty, the run COMPLETE


@pytest.fixture
def organization() -> Iterator[tuple[Any, list[str]]]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        session = boto3.session.Session(region_name=REGION)
        _, ids = create_organization(session, None, ["recsys-prod", "recsys-dev"])
        yield session.client("organizations"), sorted(ids.values())


def _answers_without(client: Any, *fields: str) -> None:
    """ListAccounts with these fields dropped from every account (moto sends both State and Status)."""

    def strip(parsed: dict[str, Any], **_: Any) -> None:
        for account in parsed.get("Accounts", []):
            for name in fields:
                account.pop(name, None)

    client.meta.events.register("after-call.organizations.ListAccounts", strip)


def _answers_since_2026_09_09(client: Any) -> None:
    """ListAccounts as AWS answers since the `Status` field was retired (2026-09-09): `State` only."""
    _answers_without(client, "Status")


def test_the_scan_plans_every_active_account_on_todays_organizations_answers(
    organization: tuple[Any, list[str]],
) -> None:
    client, members = organization
    _answers_since_2026_09_09(client)
    planned = plan_targets(OrganizationAccounts(client), Scope(regions=(REGION,), account_ids=frozenset(members)))
    # Was: no target, and both accounts "skipped: not an ACTIVE account of the organization".
    assert {t.account_id for t in planned.targets} == set(members), planned.skipped
    assert planned.skipped == {}


def test_the_plan_reads_active_accounts_while_status_is_still_sent(organization: tuple[Any, list[str]]) -> None:
    # Held (and the control for hole 1): with the retired field still present, every member account is planned.
    client, members = organization
    planned = plan_targets(OrganizationAccounts(client), Scope(regions=(REGION,), account_ids=frozenset(members)))
    assert {t.account_id for t in planned.targets} == set(members)


def _no_status_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client's ListAccounts answer as AWS gives it since 2026-09-09 (the scan's own clients included)."""
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        answer = original(self, name, params)
        if name == "ListAccounts":
            for account in answer.get("Accounts", []):
                account.pop("Status", None)
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def test_the_weekly_run_on_todays_organizations_answers_reaches_the_member_accounts(
    org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_status_anywhere(monkeypatch)
    result = org_world.execute()
    # Was: "COMPLETE", "0 of 0 account/regions reached", no violation, the hotfix endpoints in prod unseen.
    assert result["status_line"] == "2 of 3 account/regions reached", result["status_line"]
    assert result["status"] == "PARTIAL"


def test_mlgov_scan_of_the_organization_on_todays_answers_scans_every_active_account(
    org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hole 1 in the CLI: it planned nothing and said "nothing scanned" (exit 3) on Status-less answers.
    from mlgov.cli import main

    _no_status_anywhere(monkeypatch)
    code = main(["scan", "--organization", "--regions", REGION, "--format", "json", "--config", NO_SETTINGS])
    out, err = capsys.readouterr()
    assert "nothing scanned" not in err
    accounts = {row["account_id"] for row in json.loads(out)["accounts"]}
    assert accounts == {m.account_id for m in org_world.org.members.values()} | {org_world.org.governance_account}
    assert code == 3  # the estate's unregistered endpoints, seen


@pytest.mark.parametrize(
    "dropped,planned",
    [((), True), (("Status",), True), (("State",), True)],
    ids=["both", "state-only", "status-only"],
)
def test_the_plan_reads_state_and_falls_back_to_status(
    organization: tuple[Any, list[str]], dropped: tuple[str, ...], planned: bool
) -> None:
    client, members = organization
    _answers_without(client, *dropped)
    plan = plan_targets(OrganizationAccounts(client), Scope(regions=(REGION,), account_ids=frozenset(members)))
    assert {t.account_id for t in plan.targets} == set(members)


def test_state_decides_over_the_retired_status(organization: tuple[Any, list[str]]) -> None:
    # A suspended account whose answer still carries the old Status ACTIVE is not planned.
    client, members = organization

    def suspend(parsed: dict[str, Any], **_: Any) -> None:
        for account in parsed.get("Accounts", []):
            if account["Id"] == members[0]:
                account["State"], account["Status"] = "SUSPENDED", "ACTIVE"

    client.meta.events.register("after-call.organizations.ListAccounts", suspend)
    plan = plan_targets(OrganizationAccounts(client), Scope(regions=(REGION,), account_ids=frozenset(members)))
    assert {t.account_id for t in plan.targets} == {members[1]}
    assert plan.skipped == {members[0]: "not an ACTIVE account of the organization"}


def test_an_account_with_neither_state_nor_status_fails_the_plan_naming_it(
    organization: tuple[Any, list[str]],
) -> None:
    # Missing is not zero: an account whose state is unknown fails the plan (the state machine's SCAN_FAILED),
    # rather than being left out as "not ACTIVE".
    client, members = organization
    _answers_without(client, "State", "Status")
    with pytest.raises(AccountStateUnknown, match=r"account \d{12} with neither State nor Status"):
        plan_targets(OrganizationAccounts(client), Scope(regions=(REGION,), account_ids=frozenset(members)))


def test_the_weekly_plan_and_mlgov_scan_fail_when_no_account_carries_a_state(
    org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        answer = original(self, name, params)
        if name == "ListAccounts":
            for account in answer.get("Accounts", []):
                account.pop("Status", None)
                account.pop("State", None)
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    # The weekly run: the plan step raises; the state machine's catch turns that into SCAN_FAILED with this cause.
    with pytest.raises(AccountStateUnknown, match="neither State nor Status"):
        org_world.execute()
    code = main(["scan", "--organization", "--regions", REGION, "--format", "json", "--config", NO_SETTINGS])
    err = capsys.readouterr().err
    assert code == 1
    assert "neither State nor Status" in err and "nothing was scanned" in err, err


# -- 2. an endpoint configuration re-created under a live endpoint


HOTFIX = "manga-recommender-hotfix"  # the estate's endpoint serving a raw S3 artifact (UNREGISTERED)


def _open_violation(sandbox: Sandbox) -> dict[str, Any]:
    assert _verdict(sandbox.invoke(create_event(HOTFIX, "before"))) == "UNREGISTERED"
    [opened] = sandbox.published()
    assert opened["status"] == "OPEN"
    return opened


def _about_hotfix(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if str(f.get("resource_arn", "")).endswith(f":endpoint/{HOTFIX}")]


def _delete_config(sandbox: Sandbox) -> None:
    sandbox.sm.delete_endpoint_config(EndpointConfigName=f"{HOTFIX}-config")


def _audit_by_scratch_delete_model(sandbox: Sandbox, event_id: str) -> dict[str, Any]:
    """Any audited call re-audits every endpoint of the account: a DeleteModel of a scratch model will do."""
    sandbox.sm.create_model(
        ModelName="scratch", ExecutionRoleArn=ROLE_ARN.format(account=ACCOUNT), PrimaryContainer={"Image": "x"}
    )
    sandbox.sm.delete_model(ModelName="scratch")
    event = create_event(HOTFIX, event_id)
    event["detail"]["eventName"] = "DeleteModel"
    event["detail"]["requestParameters"] = {"modelName": "scratch"}
    result = sandbox.invoke(event)
    [row] = [r for r in result["results"] if r["endpoint_name"] == HOTFIX]
    return row


def test_a_configuration_deleted_under_a_live_endpoint_is_a_high_error_that_closes_nothing(sandbox: Sandbox) -> None:
    # Held: the first half of hole 2.
    _open_violation(sandbox)
    _delete_config(sandbox)
    row = _audit_by_scratch_delete_model(sandbox, "deleted")
    assert row["verdict"] == "ERROR", row
    published = _about_hotfix(sandbox.published())
    assert [f["kind"] for f in published] == ["ENDPOINT_AUDIT_ERROR"], published
    assert published[0]["severity"] == "HIGH"
    assert {f["kind"]: f["status"] for f in _about_hotfix(sandbox.stored())} == {
        "UNREGISTERED_ENDPOINT": "OPEN",
        "ENDPOINT_AUDIT_ERROR": "OPEN",
    }


@pytest.mark.parametrize("variant_name", ["AllTraffic", "AllTraffic2"])
def test_a_configuration_recreated_under_a_live_endpoint_never_makes_it_compliant(
    sandbox: Sandbox, variant_name: str
) -> None:
    _open_violation(sandbox)
    # Given the configuration deleted and made again under its name, naming the Approved v2 model; the endpoint
    # was not updated, so its fleet still serves the raw artifact.
    _delete_config(sandbox)
    variant = {"VariantName": variant_name, "ModelName": "manga-rec-v2", "InitialInstanceCount": 1}
    sandbox.sm.create_endpoint_config(
        EndpointConfigName=f"{HOTFIX}-config", ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.2xlarge"}]
    )
    row = _audit_by_scratch_delete_model(sandbox, "recreated")
    # Was: COMPLIANT, and the UNREGISTERED finding RESOLVED.
    assert row["verdict"] != "COMPLIANT", row
    assert not [f for f in _about_hotfix(sandbox.published()) if f["status"] == "RESOLVED"]
    assert {f["kind"]: f["status"] for f in _about_hotfix(sandbox.stored())}["UNREGISTERED_ENDPOINT"] == "OPEN"


def _recreate_config(sandbox: Sandbox, variant_name: str, deleted: bool = False) -> None:
    if not deleted:
        _delete_config(sandbox)
    variant = {"VariantName": variant_name, "ModelName": "manga-rec-v2", "InitialInstanceCount": 1}
    sandbox.sm.create_endpoint_config(
        EndpointConfigName=f"{HOTFIX}-config", ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.2xlarge"}]
    )


def _endpoint_touched_since(sandbox: Sandbox) -> None:
    """What UpdateEndpointWeightsAndCapacities does to DescribeEndpoint's LastModifiedTime (moto's leaves it)."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[ACCOUNT][REGION].endpoints[HOTFIX].last_modified_time = utcnow()


def test_a_recreated_configuration_is_a_high_mismatch_that_says_why_and_what_to_do(sandbox: Sandbox) -> None:
    _open_violation(sandbox)
    _recreate_config(sandbox, "AllTraffic")
    row = _audit_by_scratch_delete_model(sandbox, "recreated")
    assert row["verdict"] == "ARTIFACT_MISMATCH"
    [finding] = [f for f in _about_hotfix(sandbox.published()) if f["status"] == "OPEN"]
    assert finding["severity"] == "HIGH"
    assert "re-created under the live endpoint" in finding["detail"]
    assert "describe-endpoint" in finding["detail"] and "deployment pipeline" in finding["detail"]
    # Its variants are not judged as if they served.
    assert finding["evidence"]["variants"] == []


def test_a_recreated_configuration_with_other_variant_names_is_caught_after_the_endpoint_changed(
    sandbox: Sandbox,
) -> None:
    # LastModifiedTime alone does not hold (a weight call moves it); the variant names still differ.
    _open_violation(sandbox)
    _recreate_config(sandbox, "AllTraffic2")
    _endpoint_touched_since(sandbox)
    row = _audit_by_scratch_delete_model(sandbox, "recreated")
    assert row["verdict"] == "ARTIFACT_MISMATCH", row
    assert {f["kind"]: f["status"] for f in _about_hotfix(sandbox.stored())}["UNREGISTERED_ENDPOINT"] == "OPEN"


def test_a_configuration_deleted_then_recreated_closes_neither_finding(sandbox: Sandbox) -> None:
    _open_violation(sandbox)
    _delete_config(sandbox)
    assert _audit_by_scratch_delete_model(sandbox, "deleted")["verdict"] == "ERROR"
    _recreate_config(sandbox, "AllTraffic", deleted=True)
    assert _audit_by_scratch_delete_model(sandbox, "recreated")["verdict"] == "ARTIFACT_MISMATCH"
    assert not [f for f in _about_hotfix(sandbox.published()) if f["status"] == "RESOLVED"]
    assert {f["kind"]: f["status"] for f in _about_hotfix(sandbox.stored())} == {
        "UNREGISTERED_ENDPOINT": "OPEN",
        "ENDPOINT_AUDIT_ERROR": "OPEN",
    }


@pytest.fixture
def indexed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The sandbox with the audit's ServingIndex table, as the stack deploys it (the deployment records live there)."""
    with runtime_env(monkeypatch, create_serving_index(sandbox.ddb)):
        yield sandbox


def _record(sandbox: Sandbox, endpoint: str) -> dict[str, Any] | None:
    from mlgov_runtime.adapters.serving_index import ServingIndex

    return ServingIndex(sandbox.ddb, SERVING_INDEX).deployment(ACCOUNT, REGION, endpoint)


def _created(sandbox: Sandbox, config: str) -> str:
    return str(stamp(sandbox.sm.describe_endpoint_config(EndpointConfigName=config)["CreationTime"]))


def _weights_call(sandbox: Sandbox, endpoint: str, event_id: str) -> dict[str, Any]:
    """UpdateEndpointWeightsAndCapacities on the endpoint (LastModifiedTime moves) and its real-time audit."""
    sandbox.sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 1.0}]
    )
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[ACCOUNT][REGION].endpoints[endpoint].last_modified_time = utcnow()
    event = create_event(endpoint, event_id)
    event["detail"]["eventName"] = "UpdateEndpointWeightsAndCapacities"
    event["detail"]["requestParameters"] = {
        "endpointName": endpoint,
        "desiredWeightsAndCapacities": [{"variantName": "AllTraffic", "desiredWeight": 1.0}],
    }
    [row] = sandbox.invoke(event)["results"]
    return dict(row)


def test_the_audit_of_a_deploy_call_records_the_configurations_creation_time(indexed: Sandbox) -> None:
    assert _record(indexed, HOTFIX) is None
    _open_violation(indexed)  # the audit of CreateEndpoint
    endpoint = indexed.sm.describe_endpoint(EndpointName=HOTFIX)
    assert _record(indexed, HOTFIX) == {
        "endpoint_created": stamp(endpoint["CreationTime"]),
        "configs": {f"{HOTFIX}-config": _created(indexed, f"{HOTFIX}-config")},
    }
    # Other audited calls compare, never record: the re-created configuration is not written over the record.
    recorded = _record(indexed, HOTFIX)
    _recreate_config(indexed, "AllTraffic")
    _weights_call(indexed, HOTFIX, "weights")
    _audit_by_scratch_delete_model(indexed, "scratch")
    assert _record(indexed, HOTFIX) == recorded


def test_a_weight_call_on_an_unchanged_configuration_stays_compliant(indexed: Sandbox) -> None:
    # No false alarm: a normal traffic shift after a recorded deploy.
    prod = "manga-recommender-prod"
    assert _verdict(indexed.invoke(create_event(prod, "deploy"))) == "COMPLIANT"
    assert _record(indexed, prod) is not None
    row = _weights_call(indexed, prod, "weights")
    assert row["verdict"] == "COMPLIANT", row
    assert indexed.published() == []


def test_a_recreated_configuration_with_the_same_names_after_a_weight_call_is_not_compliant(
    indexed: Sandbox,
) -> None:
    _open_violation(indexed)
    _recreate_config(indexed, "AllTraffic")
    _endpoint_touched_since(indexed)
    row = _audit_by_scratch_delete_model(indexed, "recreated")
    # Was: COMPLIANT, and the UNREGISTERED finding RESOLVED: nothing DescribeEndpoint gives tells the two apart.
    assert row["verdict"] == "ARTIFACT_MISMATCH", row
    [finding] = [f for f in _about_hotfix(indexed.published()) if f["status"] == "OPEN"]
    assert finding["severity"] == "HIGH"
    assert "as when the audit of its deployment read it" in finding["detail"]
    assert "describe-endpoint" in finding["detail"] and "deployment pipeline" in finding["detail"]
    assert {f["kind"]: f["status"] for f in _about_hotfix(indexed.stored())}["UNREGISTERED_ENDPOINT"] == "OPEN"
    # The weight call's own audit says the same.
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "ARTIFACT_MISMATCH"


def test_an_update_endpoint_records_the_new_configuration(indexed: Sandbox) -> None:
    # A redeploy through UpdateEndpoint (here to a re-created configuration) is what serves from then on.
    _open_violation(indexed)
    variant = {"VariantName": "AllTraffic", "ModelName": "manga-rec-v2", "InitialInstanceCount": 1}
    indexed.sm.create_endpoint_config(
        EndpointConfigName="hotfix-v2", ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.2xlarge"}]
    )
    indexed.sm.update_endpoint(EndpointName=HOTFIX, EndpointConfigName="hotfix-v2")
    event = create_event(HOTFIX, "update")
    event["detail"]["eventName"] = "UpdateEndpoint"
    event["detail"]["requestParameters"]["endpointConfigName"] = "hotfix-v2"  # what the call names
    assert _verdict(indexed.invoke(event)) == "COMPLIANT"
    record = _record(indexed, HOTFIX)
    assert record is not None and record["configs"]["hotfix-v2"] == _created(indexed, "hotfix-v2")
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "COMPLIANT"


def test_a_redeploy_of_a_recreated_configuration_by_update_endpoint_is_recorded_not_flagged(indexed: Sandbox) -> None:
    # UpdateEndpoint names the configuration it deploys: its audit records the new one instead of comparing.
    _open_violation(indexed)
    _recreate_config(indexed, "AllTraffic")
    indexed.sm.update_endpoint(EndpointName=HOTFIX, EndpointConfigName=f"{HOTFIX}-config")
    event = create_event(HOTFIX, "redeploy")
    event["detail"]["eventName"] = "UpdateEndpoint"
    assert _verdict(indexed.invoke(event)) == "COMPLIANT"
    record = _record(indexed, HOTFIX)
    assert record is not None and record["configs"][f"{HOTFIX}-config"] == _created(indexed, f"{HOTFIX}-config")
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "COMPLIANT"


def test_without_a_record_todays_checks_decide(indexed: Sandbox) -> None:
    # An endpoint deployed before the product (no CreateEndpoint audited): no record. The other checks still run
    # (other variant names are caught); the same names after a weight call are not (docs/lineage-audit.md).
    _recreate_config(indexed, "AllTraffic2")
    _endpoint_touched_since(indexed)
    assert _audit_by_scratch_delete_model(indexed, "renamed")["verdict"] == "ARTIFACT_MISMATCH"
    _recreate_config(indexed, "AllTraffic")
    _endpoint_touched_since(indexed)
    assert _record(indexed, HOTFIX) is None
    assert _audit_by_scratch_delete_model(indexed, "same-names")["verdict"] == "COMPLIANT"


@pytest.mark.parametrize("record", ["not json", "[]", '{"endpoint_created": "x", "configs": ["a"]}'])
def test_a_malformed_record_is_as_none(indexed: Sandbox, record: str) -> None:
    # Whoever wrote it, a record that does not parse neither fails the audit nor decides it: the other checks do.
    key = {"model_package_arn": {"S": f"deployed#{ACCOUNT}#{REGION}#{HOTFIX}"}, "endpoint_key": {"S": "deployed"}}
    indexed.ddb.put_item(TableName=SERVING_INDEX, Item={**key, "record": {"S": record}})
    assert _record(indexed, HOTFIX) is None
    _recreate_config(indexed, "AllTraffic2")
    assert _audit_by_scratch_delete_model(indexed, "renamed")["verdict"] == "ARTIFACT_MISMATCH"


def test_a_record_of_an_earlier_endpoint_of_the_same_name_is_ignored(indexed: Sandbox) -> None:
    from mlgov_runtime.adapters.serving_index import ServingIndex

    # A record left by a deleted endpoint whose CreateEndpoint for the new one never reached the audit.
    ServingIndex(indexed.ddb, SERVING_INDEX).record_deployment(
        ACCOUNT, REGION, "manga-recommender-prod", "2020-01-01T00:00:00+00:00", {"manga-recommender-prod-config": "x"}
    )
    row = _weights_call(indexed, "manga-recommender-prod", "weights")
    assert row["verdict"] == "COMPLIANT", row


# The weekly scan's worker reads the same records (keyed by account and region) and compares as the real-time
# audit does: the same names after a weight call stay ARTIFACT_MISMATCH there too, and resolve nothing.
STAGING_HOTFIX = "recs-staging-hotfix"  # the org estate's staging endpoint on a raw artifact (UNREGISTERED)


def _staging(world: OrgWorld) -> Any:
    return member_session(boto3.client("sts", region_name=REGION), world.account("staging"), REGION).client("sagemaker")


def _recorded_then_recreated(world: OrgWorld, record: bool = True) -> None:
    """The deploy as the real-time audit of its CreateEndpoint recorded it, then the configuration re-created under
    the same name and variant name (naming an Approved model), then a weight call (LastModifiedTime moves)."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    from mlgov_runtime.adapters.serving_index import ServingIndex

    sm, staging, config = _staging(world), world.account("staging"), f"{STAGING_HOTFIX}-config"
    created = stamp(sm.describe_endpoint(EndpointName=STAGING_HOTFIX)["CreationTime"])
    config_created = stamp(sm.describe_endpoint_config(EndpointConfigName=config)["CreationTime"])
    if record:
        ServingIndex(world.ddb, SERVING_INDEX).record_deployment(
            staging, REGION, STAGING_HOTFIX, str(created), {config: str(config_created)}
        )
    sm.delete_endpoint_config(EndpointConfigName=config)
    variant = {"VariantName": "AllTraffic", "ModelName": "rec-fresh", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName=config, ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.xlarge"}]
    )
    sagemaker_backends[staging][REGION].endpoints[STAGING_HOTFIX].last_modified_time = utcnow()


def _weekly(world: OrgWorld) -> tuple[str, list[dict[str, Any]]]:
    """The weekly run: the hotfix endpoint's verdict and its lineage findings published."""
    report = world.execute()["body"]
    [row] = [r for r in report["endpoints"] if r["endpoint_name"] == STAGING_HOTFIX]
    about = [
        f
        for f in world.published()
        if f["kind"] == "UNREGISTERED_ENDPOINT" and str(f["resource_arn"]).endswith(f":endpoint/{STAGING_HOTFIX}")
    ]
    return str(row["verdict"]), about


@pytest.fixture
def indexed_org(org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrgWorld]:
    with runtime_env(monkeypatch, create_serving_index(org_world.ddb)):
        verdict, about = _weekly(org_world)
        assert verdict == "UNREGISTERED" and [f["status"] for f in about] == ["OPEN"]
        yield org_world


def test_the_weekly_scan_reads_the_record_and_keeps_the_violation_open(indexed_org: OrgWorld) -> None:
    _recorded_then_recreated(indexed_org)
    verdict, about = _weekly(indexed_org)
    # Was: COMPLIANT, and the UNREGISTERED finding the real-time audit or an earlier run opened RESOLVED.
    assert verdict == "ARTIFACT_MISMATCH"
    assert not [f for f in about if f["status"] == "RESOLVED"], about
    [finding] = about
    assert finding["severity"] == "HIGH" and "as when the audit of its deployment read it" in finding["detail"]


def test_the_weekly_scan_without_a_record_judges_by_the_two_checks(indexed_org: OrgWorld) -> None:
    # No record (deployed before the product, or its deploy call never reached the audit): as before.
    _recorded_then_recreated(indexed_org, record=False)
    verdict, about = _weekly(indexed_org)
    assert verdict == "COMPLIANT" and [f["status"] for f in about] == ["RESOLVED"]


def test_a_record_of_another_account_decides_nothing_there(indexed_org: OrgWorld) -> None:
    # The record is the staging endpoint's: the same name in prod is not compared with it.
    from mlgov_runtime.adapters.serving_index import ServingIndex

    prod = indexed_org.account("prod")
    ServingIndex(indexed_org.ddb, SERVING_INDEX).record_deployment(
        prod, REGION, STAGING_HOTFIX, "2020-01-01T00:00:00+00:00", {f"{STAGING_HOTFIX}-config": "x"}
    )
    _recorded_then_recreated(indexed_org, record=False)
    assert _weekly(indexed_org)[0] == "COMPLIANT"


def test_a_record_the_worker_cannot_read_resolves_nothing(
    indexed_org: OrgWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ground the scan cannot see (the table refused, throttled): the lineage check errs, the finding stays open.
    _recorded_then_recreated(indexed_org)
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def refuse_query(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "Query" and params.get("TableName") == SERVING_INDEX:
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform dynamodb:Query"}}
            raise botocore.exceptions.ClientError(error, name)  # type: ignore[arg-type]
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse_query)
    verdict, about = _weekly(indexed_org)
    assert verdict == "ERROR"
    assert not [f for f in about if f["status"] == "RESOLVED"], about


# The record's writers: the ServingIndex table's own policy keeps item writes to the two roles that keep the index
# (the audit function's, the org scan worker's) and its controls to the deployer, whatever IAM allows a developer.
INDEX_TABLE = ("LineageAuditServingIndex", _table("LineageAuditServingIndexDE033C9D"))
INDEX_WRITES = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
]


@pytest.mark.parametrize("action", INDEX_WRITES)
def test_only_the_audit_and_the_scan_worker_write_the_deployment_records(
    governance_template: dict[str, Any], action: str
) -> None:
    prefix, arn = INDEX_TABLE
    policy = table_policy(governance_template, prefix)
    for outsider in (DEVELOPER, OPERATOR, DEPLOYER, role_arn(governance_template, "NotifierNotifyRole")):
        assert both(policy, outsider, action, arn) == "Deny", outsider
    for writer in ("LineageAuditRole", "OrgScanWorkerRole"):
        assert both(policy, role_arn(governance_template, writer), action, arn) == "Allow", writer


@pytest.mark.parametrize(
    "action",
    [
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DeleteTable",
    ],
)
def test_only_the_deployer_changes_the_serving_index_tables_controls(
    governance_template: dict[str, Any], action: str
) -> None:
    prefix, arn = INDEX_TABLE
    policy = table_policy(governance_template, prefix)
    assert both(policy, DEVELOPER, action, arn) == "Deny"
    assert both(policy, role_arn(governance_template, "LineageAuditRole"), action, arn) == "Deny"
    assert both(policy, DEPLOYER, action, arn) == "Allow"


def test_a_developers_forged_record_is_refused_and_the_recreation_stays_a_mismatch(
    indexed: Sandbox, governance_template: dict[str, Any]
) -> None:
    """What hiding a re-creation takes: a record naming the re-created configuration's CreationTime (or none).
    Every write path a developer with dynamodb:* has is refused by the table's policy."""
    from mlgov_runtime.adapters.serving_index import ServingIndex

    _open_violation(indexed)
    recorded = _record(indexed, HOTFIX)
    assert recorded is not None
    _recreate_config(indexed, "AllTraffic")
    _endpoint_touched_since(indexed)
    forger = act_as(
        boto3.client("dynamodb", region_name=REGION), DEVELOPER, table_policy(governance_template, INDEX_TABLE[0])
    )
    forged = {**recorded, "configs": {f"{HOTFIX}-config": _created(indexed, f"{HOTFIX}-config")}}
    key = {"model_package_arn": {"S": f"deployed#{ACCOUNT}#{REGION}#{HOTFIX}"}, "endpoint_key": {"S": "deployed"}}
    attempts = [
        lambda: ServingIndex(forger, SERVING_INDEX).record_deployment(
            ACCOUNT, REGION, HOTFIX, forged["endpoint_created"], forged["configs"]
        ),
        lambda: forger.update_item(
            TableName=SERVING_INDEX,
            Key=key,
            UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "record"},
            ExpressionAttributeValues={":r": {"S": json.dumps(forged)}},
        ),
        lambda: forger.delete_item(TableName=SERVING_INDEX, Key=key),
        lambda: forger.batch_write_item(RequestItems={SERVING_INDEX: [{"DeleteRequest": {"Key": key}}]}),
        lambda: forger.execute_statement(
            Statement=f'DELETE FROM "{SERVING_INDEX}" WHERE model_package_arn = ? AND endpoint_key = ?',
            Parameters=[key["model_package_arn"], key["endpoint_key"]],
        ),
    ]
    for attempt in attempts:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert _record(indexed, HOTFIX) == recorded
    assert _audit_by_scratch_delete_model(indexed, "recreated")["verdict"] == "ARTIFACT_MISMATCH"


@pytest.mark.parametrize(
    "action,resource",
    [
        ("sagemaker:DeleteEndpointConfig", f"arn:aws:sagemaker:{REGION}:{PROD}:endpoint-config/{HOTFIX}-config"),
        ("sagemaker:CreateEndpointConfig", f"arn:aws:sagemaker:{REGION}:{PROD}:endpoint-config/{HOTFIX}-config"),
        ("sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{PROD}:model/manga-rec-v2-env"),
        ("sagemaker:CreateInferenceComponent", f"arn:aws:sagemaker:{REGION}:{PROD}:inference-component/adapter"),
    ],
)
def test_under_the_guardrails_a_developer_cannot_make_what_holes_2_and_3_need(action: str, resource: str) -> None:
    # Held: scopes holes 2 and 3 to unguarded accounts (the weekly scan's) and the pipeline and break-glass roles.
    assert judge(WORKLOAD_OU, PROD, "Developer", action, resource) == "Deny"


def test_an_inference_experiments_promote_cannot_serve_what_the_pipeline_did_not_deploy() -> None:
    # Held: StopInferenceExperiment (ModelVariantActions shadow=Promote) is open to a developer, but SageMaker makes
    # the change as the experiment's RoleArn: a developer's own role is refused the endpoint change, and the pipeline
    # role (on the protected path) cannot be passed to it.
    endpoint = f"arn:aws:sagemaker:{REGION}:{PROD}:endpoint/manga-recommender-prod"
    assert judge(WORKLOAD_OU, PROD, "DevExperimentRole", "sagemaker:UpdateEndpoint", endpoint) == "Deny"
    config = f"arn:aws:sagemaker:{REGION}:{PROD}:endpoint-config/promoted"
    assert judge(WORKLOAD_OU, PROD, "DevExperimentRole", "sagemaker:CreateEndpointConfig", config) == "Deny"
    pipeline = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovDeploymentPipeline"
    assert judge(WORKLOAD_OU, PROD, "Developer", "iam:PassRole", pipeline) == "Deny"


# -- 3. environment variables that make an Approved package's image load other weights


@pytest.mark.parametrize(
    "key,value",
    [
        ("SM_VLLM_MODEL", "attacker/uncensored-llama"),
        ("SM_VLLM_LORA_MODULES", "rogue=attacker/rogue-adapter"),
        ("sm_vllm_model", "attacker/uncensored-llama"),
        ("OPTION_ENTRYPOINT", "attacker_handler"),
        ("HF_HUB_ENABLE_HF_TRANSFER", "1"),
    ],
)
def test_a_vllm_flag_in_the_environment_never_serves_other_weights_as_compliant(
    sandbox: Sandbox, key: str, value: str
) -> None:
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST})
    _serve(sandbox, "manga-vllm", {"ModelPackageName": package, "Environment": {key: value}})
    result = sandbox.invoke(create_event("manga-vllm"))
    # Was: COMPLIANT (the package's own image, with a flag that makes it serve a hub model).
    assert _verdict(result) == "ARTIFACT_MISMATCH", result


@pytest.mark.parametrize(
    "key,value",
    [
        ("HF_MODEL_ID", "attacker/uncensored-llama"),
        ("OPTION_MODEL_ID", "attacker/uncensored-llama"),
        ("hf_model_id", "attacker/uncensored-llama"),
        ("WEIGHTS", "s3://ml-scratch-bucket/rogue/"),
    ],
)
def test_known_redirecting_variables_on_an_approved_package_are_a_mismatch(
    sandbox: Sandbox, key: str, value: str
) -> None:
    # Held: the deny list's keys (any case) and s3:// values.
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST})
    _serve(sandbox, "manga-vllm", {"ModelPackageName": package, "Environment": {key: value}})
    assert _verdict(sandbox.invoke(create_event("manga-vllm"))) == "ARTIFACT_MISMATCH"


def test_an_approved_package_served_as_registered_is_compliant(sandbox: Sandbox) -> None:
    # The control for holes 3 and 4: the same package with no environment of its own.
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST})
    _serve(sandbox, "manga-vllm", {"ModelPackageName": package})
    assert _verdict(sandbox.invoke(create_event("manga-vllm"))) == "COMPLIANT"


def test_a_loader_option_the_package_itself_sets_is_compliant_when_served_unchanged(sandbox: Sandbox) -> None:
    # The prefix rule judges what a deployment adds or changes, not what the approver approved.
    env = {"SM_VLLM_MAX_MODEL_LEN": "4096"}
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST, "Environment": env})
    _serve(sandbox, "manga-vllm", {"ModelPackageName": package, "Environment": env})
    assert _verdict(sandbox.invoke(create_event("manga-vllm"))) == "COMPLIANT"
    _serve(sandbox, "manga-vllm-2", {"ModelPackageName": package, "Environment": {"SM_VLLM_MAX_MODEL_LEN": "65536"}})
    assert _verdict(sandbox.invoke(create_event("manga-vllm-2", "evt-2"))) == "ARTIFACT_MISMATCH"


# -- 4. an Approved package whose weights come from the hub


def test_an_approved_package_loading_its_weights_from_the_hub_is_never_compliant(sandbox: Sandbox) -> None:
    package = _approved(
        sandbox,
        {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST, "Environment": {"HF_MODEL_ID": "recsys-org/manga-rec"}},
    )
    _serve(sandbox, "manga-hub", {"ModelPackageName": package})
    result = sandbox.invoke(create_event("manga-hub"))
    # Was: COMPLIANT with no pins row: a push to recsys-org/manga-rec on the hub changes what serves.
    assert _verdict(result) == "UNPINNED_MODEL_DATA", result


@pytest.mark.parametrize(
    "environment",
    [
        {"SM_VLLM_MODEL": "recsys-org/manga-rec"},
        {"SM_VLLM_LORA_MODULES": "manga=/opt/ml/model/manga rogue=recsys-org/adapter"},
        {"OPTION_MODEL_ID": "s3://ml-scratch-bucket/weights/"},
        {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://ml-scratch-bucket/code/sourcedir.tar.gz"},
    ],
)
def test_every_remote_weight_source_in_a_packages_environment_is_unpinned(
    sandbox: Sandbox, environment: dict[str, str]
) -> None:
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST, "Environment": environment})
    _serve(sandbox, "manga-hub", {"ModelPackageName": package})
    result = sandbox.invoke(create_event("manga-hub"))
    assert _verdict(result) == "UNPINNED_MODEL_DATA", result
    [published] = sandbox.published()
    [(key, value)] = environment.items()
    # The reason names the variable and the fix.
    assert f"{key}={value}" in published["detail"] and "mlgov register" in published["detail"]
    assert published["severity"] == "MEDIUM"


@pytest.mark.parametrize(
    "environment",
    [{"HF_MODEL_ID": "/opt/ml/model"}, {"SM_VLLM_LORA_MODULES": "manga=/opt/ml/model/manga"}, {"HF_TASK": "x"}],
)
def test_a_package_loading_from_inside_its_container_is_not_unpinned(
    sandbox: Sandbox, environment: dict[str, str]
) -> None:
    package = _approved(sandbox, {"Image": VLLM_IMAGE, "ImageDigest": VLLM_DIGEST, "Environment": environment})
    _serve(sandbox, "manga-local", {"ModelPackageName": package})
    assert _verdict(sandbox.invoke(create_event("manga-local"))) == "COMPLIANT"


# -- 5. member events forwarded by the StackSet, dropped by the audit under the default settings


# A multi-account deploy as docs/deploy.md describes it (the member StackSet with its forwarding rule, the bus open
# to the organization), with member_audit_role_name left at its default: unset.
MULTI_ACCOUNT = {
    "organization_id": "o-a1b2c3d4e5",
    "experiment_exemptions": {"account_ids": [ACCOUNT]},
    "org_scan": {
        "member_role_target_ou_ids": [WORKLOAD_OU],
        "governance_account_id": ACCOUNT,
        "regions": [REGION],
    },
}


def _forwarded(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]) -> dict[str, Any]:
    """A CreateEndpoint in the member account, forwarded; the member role there as the StackSet deploys it."""
    there = member_session(boto3.client("sts", region_name=REGION), MEMBER, REGION)
    deploy_member_role(there, None, "MlGovMemberAudit", ACCOUNT)
    with runtime_env(monkeypatch, function_settings(context)):
        event = create_event(HOTFIX)
        event["account"] = event["detail"]["recipientAccountId"] = MEMBER
        return sandbox.invoke(event)


def test_events_the_member_stackset_forwards_are_audited_under_the_default_settings(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _forwarded(sandbox, monkeypatch, MULTI_ACCOUNT)
    # Was: {"status": "skipped"}: a log line and AuditEventRejected, which no alarm watches; the scan reports the
    # account's forwarding OK. Safe: the member role the StackSet deployed (MlGovMemberAudit) is assumed.
    assert result["status"] == "audited", result


def test_the_member_stackset_settings_name_the_audits_member_role() -> None:
    from mlgov.settings import parse_settings

    assert parse_settings(MULTI_ACCOUNT).member_audit_role_name == "MlGovMemberAudit"
    named = parse_settings({**MULTI_ACCOUNT, "member_audit_role_name": "OurAuditRole"})
    assert named.member_audit_role_name == "OurAuditRole"  # a name given is kept
    # No member StackSet: nothing to assume, events of other accounts stay skipped (and alarmed).
    assert parse_settings({"org_scan": {"regions": [REGION]}}).member_audit_role_name is None


def test_a_skipped_forwarded_event_is_counted_for_its_alarm(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without a member StackSet and without a name, an event of another account is skipped and counted.
    result = _forwarded(sandbox, monkeypatch, {"experiment_exemptions": {"account_ids": [ACCOUNT]}})
    assert result["status"] == "skipped", result
    assert emf_metric(capsys.readouterr().out, "AuditEventSkipped") == 1


def test_with_the_member_role_named_a_forwarded_event_is_audited(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for hole 5: the same deploy naming the role reads the member account (moto: nothing there).
    result = _forwarded(sandbox, monkeypatch, {**MULTI_ACCOUNT, "member_audit_role_name": "MlGovMemberAudit"})
    assert result["status"] == "audited", result
    assert result["results"][0]["outcome"] == "endpoint_not_found"


# -- 7. UpdateEndpointWeightsAndCapacities


def test_a_traffic_shift_is_audited_in_real_time() -> None:
    event = load_event("cloudtrail_update_endpoint.json")
    event["detail"]["eventName"] = "UpdateEndpointWeightsAndCapacities"
    event["detail"]["requestParameters"] = {
        "endpointName": "manga-recommender-prod",
        "desiredWeightsAndCapacities": [{"variantName": "challenger-v3", "desiredWeight": 1.0}],
    }
    request = parse_audit_request(event)
    assert request.endpoint_name == "manga-recommender-prod"


def test_a_traffic_shift_on_an_endpoint_audits_it(sandbox: Sandbox) -> None:
    event = create_event(HOTFIX, "weights")
    event["detail"]["eventName"] = "UpdateEndpointWeightsAndCapacities"
    event["detail"]["requestParameters"] = {
        "endpointName": HOTFIX,
        "desiredWeightsAndCapacities": [{"variantName": "AllTraffic", "desiredWeight": 1.0}],
    }
    result = sandbox.invoke(event)
    assert result["status"] == "audited", result
    assert _verdict(result) == "UNREGISTERED"


# -- 6. a region outside org_scan.regions


def test_an_unregistered_endpoint_in_another_region_of_a_member_account_is_reported(org_world: OrgWorld) -> None:
    # Given staging (reached, member role deployed) serving a raw artifact in eu-west-1, outside org_scan.regions;
    # no SCP keeps SageMaker to those regions, and staging is outside the guarded OUs.
    staging = org_world.org.members["staging"]
    there = member_session(boto3.client("sts", region_name=REGION), staging.account_id, "eu-west-1")
    sm = there.client("sagemaker")
    sm.create_model(
        ModelName="eu-hotfix",
        ExecutionRoleArn=ROLE_ARN.format(account=staging.account_id),
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://ml-scratch-bucket-eu/model.tar.gz"},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "eu-hotfix", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="eu-hotfix", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
    )
    sm.create_endpoint(EndpointName="recs-eu-hotfix", EndpointConfigName="eu-hotfix")
    result = org_world.execute()
    published = org_world.published()
    # Was: no row, no finding, no word that a region was left out: the weekly scan never looks there.
    said = json.dumps(result["body"]) + json.dumps(published)
    assert "recs-eu-hotfix" in said
    body = result["body"]
    assert body["run"]["regions"] == [REGION]  # the report says which regions it audited
    assert body["outside_scanned_regions"] == [
        {"account_id": staging.account_id, "region": "eu-west-1", "endpoints": ["recs-eu-hotfix"]}
    ]
    [found] = [f for f in published if f["kind"] == "ENDPOINTS_OUTSIDE_SCANNED_REGIONS"]
    assert (found["account_id"], found["region"], found["severity"]) == (staging.account_id, "eu-west-1", "HIGH")
    assert f"mlgov scan --accounts {staging.account_id} --regions eu-west-1" in found["detail"]
    # Once the endpoint is gone, the next run resolves the finding.
    sm.delete_endpoint(EndpointName="recs-eu-hotfix")
    org_world.execute()
    resolved = [f for f in org_world.published() if f["finding_id"] == found["finding_id"]]
    assert [f["status"] for f in resolved] == ["RESOLVED"], resolved
