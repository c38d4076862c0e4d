"""`mlgov audit` on the same estate, in-process under moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgov.cli import main
from tests.integration.conftest import ACCOUNT, Sandbox


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": [ACCOUNT]}}}}))
    return path


def test_audit_json_is_the_contract_and_exit_code_is_3_on_violations(
    sandbox: Sandbox, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--format", "json", "--region", "us-east-1", "--config", str(config)])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 3
    assert {e["endpoint_name"]: e["verdict"] for e in report["endpoints"]} == sandbox.estate.expected
    assert report["summary"] == {"total": 9, "compliant": 2, "violations": 5, "exempt": 1, "errors": 1, "no_model": 0}
    ab = next(e for e in report["endpoints"] if e["endpoint_name"] == "manga-recommender-ab")
    assert [v["variant_name"] for v in ab["variants"]] == ["champion", "challenger"]
    assert ab["variants"][1]["containers"] == [{"model_package_arn": None, "approval_status": None}]
    assert out.err == ""


def test_audit_of_a_compliant_endpoint_exits_0_with_a_table(
    sandbox: Sandbox, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--endpoint", "manga-recommender-prod", "--config", str(config), "--region", "us-east-1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "manga-recommender-prod" in out and "COMPLIANT" in out and "1 endpoints: 1 compliant" in out


def test_bad_settings_file_is_a_usage_error_on_one_line(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cdk.json"
    bad.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": ["prod"]}}}}))
    code = main(["audit", "--config", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "account_ids" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--bogus"]) == 2


def test_guardrails_explain_names_the_deciding_statement(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "none.json"
    code = main(
        [
            "guardrails",
            "explain",
            "--action",
            "sagemaker:CreateEndpoint",
            "--endpoint-name",
            "hotfix",
            "--principal",
            "arn:aws:iam::210987654321:role/DataScientist",
            "--format",
            "json",
            "--config",
            str(config),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report["decision"] == "Deny"
    assert report["statement"] == "DenyEndpointWithoutPackageTag"
    assert "ModelPackageName" in report["why"]


def test_guardrails_explain_allows_the_pipeline_with_a_package_tag(capsys: pytest.CaptureFixture[str]) -> None:
    tag = "ModelPackageName=arn:aws:sagemaker:us-east-1:210987654321:model-package/manga-recommender/7"
    code = main(
        [
            "guardrails",
            "explain",
            "--action",
            "sagemaker:CreateEndpoint",
            "--tag",
            tag,
            "--principal",
            "arn:aws:iam::210987654321:role/mlgov-protected/MlGovDeploymentPipeline",
            "--config",
            "/nonexistent/cdk.json",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.startswith("Allow:")


def test_guardrails_explain_refuses_a_malformed_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guardrails", "explain", "--action", "sagemaker:AddTags", "--tag", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
