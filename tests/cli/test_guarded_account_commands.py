"""What a user in an account the guardrail SCPs guard meets since `DenyLineageChangeOutsidePipeline` also denies
CreateEndpoint and DeleteEndpoint: `mlgov guardrails explain` says why for each of the six actions and what to do
(retire, not delete), a refused `mlgov retire recreate` is one line naming the statement, and the roles the pages
tell users to list in a guardrails setting are ones synth accepts. Also a refused `mlgov retire request`, a step of
the same path, reads as sentences, and `mlgov scan` from a shell, which the member role never trusts, says to name
a role of one's own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.cli.conftest import ACCOUNT, REGION, Shell, refusing

ROOT = Path(__file__).resolve().parents[2]
DEVELOPER = "arn:aws:iam::210987654321:role/DataScientist"
PACKAGE_TAG = "ModelPackageName=arn:aws:sagemaker:us-east-1:210987654321:model-package/manga-recommender/3"


def explain(shell: Shell, *argv: str) -> dict[str, str]:
    done = shell.run("guardrails", "explain", "--principal", DEVELOPER, "--format", "json", *argv)
    assert done.returncode == 3, (done.returncode, done.stderr)
    report: dict[str, str] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(
    "action",
    [
        "CreateEndpoint",
        "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "DeleteEndpoint",
        "CreateEndpointConfig",
        "DeleteEndpointConfig",
    ],
)
def test_explain_says_why_for_every_action_the_lineage_statement_denies(estate: Shell, action: str) -> None:
    """A package tag gets CreateEndpoint past DenyEndpointWithoutPackageTag: the lineage statement decides."""
    report = explain(
        estate, "--action", f"sagemaker:{action}", "--endpoint-name", "manga-recommender-v1", "--tag", PACKAGE_TAG
    )
    assert report["statement"] == "DenyLineageChangeOutsidePipeline", report
    verb = re.match(r"[A-Z][a-z]+", action)
    assert verb is not None
    said = {"Create": "Creating", "Update": "updating", "Delete": "deleting"}[verb[0]]
    assert said in report["why"], report["why"]
    assert "break-glass" in report["why"] and "product's roles" in report["why"], report["why"]


def test_explain_of_a_refused_deletion_points_to_the_retirement(estate: Shell) -> None:
    report = explain(estate, "--action", "sagemaker:DeleteEndpoint", "--endpoint-name", "manga-recommender-v1")
    assert "`mlgov retire request --endpoint manga-recommender-v1`" in report["what_to_do"], report
    assert "a person approves" in report["what_to_do"]


def test_explain_of_a_governance_tag_change_names_who_may(estate: Shell) -> None:
    report = explain(estate, "--action", "sagemaker:AddTags", "--tag", "endpoint_purpose=active")
    assert report["statement"] == "DenyGovernanceTagChange", report
    assert "break-glass" in report["why"] and "product's roles" in report["why"], report["why"]
    # The retirement's own roles (named after the stack) may: what docs/retirement.md says
    done = estate.run(
        "guardrails",
        "explain",
        "--action",
        "sagemaker:AddTags",
        "--tag",
        "endpoint_purpose=retiring",
        "--principal",
        f"arn:aws:iam::{ACCOUNT}:role/MlGovEndpointAudit-RetirementStepsRole-AB12",
    )
    assert done.returncode == 0 and done.stdout.startswith("Allow"), (done.returncode, done.stdout, done.stderr)


def _kept_config(estate: Shell, name: str) -> None:
    """An endpoint config whose endpoint is gone, as a retirement leaves it."""
    sm = estate.client("sagemaker")
    model = sm.describe_endpoint_config(EndpointConfigName="manga-recommender-v1-config")["ProductionVariants"][0]
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model["ModelName"],
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )


def test_a_recreate_the_guardrails_refuse_is_one_line_naming_the_statement(estate: Shell) -> None:
    _kept_config(estate, "late-bridge-config")
    with refusing(estate.url, "SageMaker.CreateEndpoint") as url:
        done = estate.run(
            "retire", "recreate", "--endpoint", "late-bridge", "--endpoint-config", "late-bridge-config",
            AWS_ENDPOINT_URL=url,
        )  # fmt: skip
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr
    assert done.returncode == 1, (done.returncode, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("mlgov: error: CreateEndpoint of late-bridge failed"), line
    assert "nothing was created" in line and "DenyLineageChangeOutsidePipeline" in line, line
    assert "`mlgov guardrails explain --action sagemaker:CreateEndpoint --endpoint-name late-bridge" in line, line
    assert estate.run("retire", "audit", "--endpoint", "late-bridge").returncode == 2  # nothing was created


def test_a_recreate_that_fails_otherwise_says_how_to_tell_whether_it_was_created(estate: Shell) -> None:
    _kept_config(estate, "late-bridge-2-config")
    with refusing(estate.url, "SageMaker.CreateEndpoint", code="ValidationException") as url:
        done = estate.run(
            "retire", "recreate", "--endpoint", "late-bridge-2", "--endpoint-config", "late-bridge-2-config",
            AWS_ENDPOINT_URL=url,
        )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert "unexpected failure" not in line, line
    assert "`aws sagemaker describe-endpoint --endpoint-name late-bridge-2`" in line, line


def test_every_role_a_page_says_to_list_in_a_guardrails_setting_is_one_synth_accepts() -> None:
    """A page that says "add ... to `guardrails.X_role_arns` (`arn:...`)" gives a value the settings take."""
    from mlgov.settings import Guardrails

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    refused = []
    for page in pages:
        text = " ".join(page.read_text(encoding="utf-8").split())
        for key, arn in re.findall(r"`guardrails\.(\w+_arns)`[^`]{0,40}\(`(arn:[^`]+)`", text):
            try:
                Guardrails.model_validate({key: [arn.replace("<account>", ACCOUNT)]})
            except ValidationError as exc:
                refused.append(f"{page.name}: {key} {arn}: {str(exc).splitlines()[-1][:200]}")
    assert refused == [], refused


def test_a_refused_retirement_request_reads_as_sentences(estate: Shell) -> None:
    """manga-recommender-orphaned's model is gone: ERROR, whose reason carries no full stop of its own."""
    done = estate.run("retire", "request", "--endpoint", "manga-recommender-orphaned")
    assert done.returncode == 3, (done.returncode, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert "is ERROR: model manga-rec-doomed of variant AllTraffic not found. Next: " in line, line


def test_a_scan_from_a_shell_refused_the_member_role_says_to_name_a_role_of_ones_own(estate: Shell) -> None:
    """The member role trusts only the product's scan, audit and capacity roles: deploying it does not let a shell
    in, so the fix a shell gets is --role-name (docs/org-scan.md, By hand)."""
    done = estate.run("scan", "--accounts", "111122223333", "--regions", REGION, "--format", "json")
    assert done.returncode == 3, (done.returncode, done.stderr)
    (account,) = json.loads(done.stdout)["accounts"]
    assert account["reason_code"] == "ROLE_NOT_ASSUMABLE", account
    assert "trusts only the product's scan, audit and capacity roles" in account["reason"], account["reason"]
    assert f"`mlgov scan --accounts 111122223333 --regions {REGION} --role-name ROLE`" in account["reason"]
    # What the weekly scan needs comes after, as such: deploying the member role lets no shell in
    assert account["reason"].index("--role-name ROLE") < account["reason"].index("npx cdk deploy MlGovMemberRole")


def test_a_recreate_from_a_config_naming_no_package_says_only_break_glass_may(estate: Shell) -> None:
    """No package to claim: DenyEndpointWithoutPackageTag leaves the create to break-glass, and the line says so."""
    sm = estate.client("sagemaker")
    sm.create_model(
        ModelName="late-raw-model",
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1", "ModelDataUrl": "s3://b/m.tar.gz"},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution",
    )
    sm.create_endpoint_config(
        EndpointConfigName="late-raw-config",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "late-raw-model", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    with refusing(estate.url, "SageMaker.CreateEndpoint") as url:
        done = estate.run(
            "retire", "recreate", "--endpoint", "late-raw", "--endpoint-config", "late-raw-config", AWS_ENDPOINT_URL=url
        )
    assert done.returncode == 1, (done.returncode, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert "only break-glass may create an endpoint without a ModelPackageName tag" in line, line
    assert "DenyEndpointWithoutPackageTag" in line and "--tag" not in line, line
