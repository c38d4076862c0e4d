"""`mlgov challenger status|start|simulate` and `mlgov rollback`, in-process under moto with the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlgov import emulator
from mlgov.challenger_estate import VariantTraffic, put_traffic, seed_artifacts
from mlgov.cli import main
from mlgov.commands import challenger as command
from tests.clock import Clock
from tests.integration.test_challenger_handler import ENDPOINT, REGION, Lab, lab_context


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    with lab_context(monkeypatch) as value:
        yield value


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"mlgov": {}}}))
    return path


@pytest.fixture
def artifacts(lab: Lab) -> list[str]:
    """Every package's artifact and image present, as they are in a healthy account."""
    return seed_artifacts(lambda service, **kw: boto3.client(service, region_name=REGION, **kw))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def deployed(lab: Lab, per_minute: float, challenger_ctr: float, minutes: int = 30) -> tuple[dict[str, Any], datetime]:
    """A challenger on the production endpoint with `minutes` of traffic since it went live; returns the time to
    ask at (the CLI's clock)."""
    arn = lab.register()
    state = lab.start(arn)
    ch = state["challenger"]
    live = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]
    start = live.replace(second=0, microsecond=0) + timedelta(minutes=1)
    put_traffic(
        lab.cw,
        ENDPOINT,
        {
            ch["production_variant"]: VariantTraffic(0.9),
            ch["challenger_variant"]: VariantTraffic(0.1, ctr=challenger_ctr),
        },
        start,
        minutes,
        per_minute,
        seed=3,
    )
    return ch, start + timedelta(minutes=minutes, seconds=20)


def test_status_prints_the_decision_with_intervals_and_exits_3_on_reject(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a challenger whose CTR is 30% lower, 30 minutes after it went live
    ch, asked_at = deployed(lab, 3500, 0.056)
    monkeypatch.setattr(command, "_now", lambda: asked_at)
    # When the operator asks, with no window given (since the endpoint last changed)
    code, out, err = run(
        capsys, "challenger", "status", "--endpoint", ENDPOINT, "--format", "json", "--config", str(config)
    )
    report = json.loads(out)
    # Then it is the monitor's decision, over the 30 minutes but the newest 2, which CloudWatch may still fill
    assert code == 3 and err == ""
    assert report["decision"] == "REJECT" and report["elapsed_minutes"] == 28
    assert report["model_package_arn"] == ch["model_package_arn"]
    challenger = report["variants"]["challenger"]
    assert {"impressions", "clicks", "ctr", "ctr_lower", "ctr_upper"} <= set(challenger)
    assert challenger["ctr_lower"] < challenger["ctr"] < challenger["ctr_upper"]
    assert report["statistics"]["ctr_test"]["rejects"] is True and report["reasons"]


def test_status_of_a_healthy_challenger_exits_0_and_reads_as_a_table(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, asked_at = deployed(lab, 3500, 0.08, minutes=10)
    monkeypatch.setattr(command, "_now", lambda: asked_at)
    code, out, _ = run(capsys, "challenger", "status", "--endpoint", ENDPOINT, "--config", str(config))
    assert code == 0
    assert out.startswith(f"{ENDPOINT}: CONTINUE after 8 min")  # 10 minutes, the newest 2 not yet settled
    assert "challenger-v5" in out and "CTR ratio" in out


@pytest.mark.parametrize(("challenger_ctr", "minutes", "decision"), [(0.08, 40, "CONTINUE"), (0.056, 30, "REJECT")])
def test_status_text_states_the_ctr_ratio_once(
    lab: Lab,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    challenger_ctr: float,
    minutes: int,
    decision: str,
) -> None:
    # Was: a line "CTR ratio 1.007 (99% anytime-valid interval 0.902-1.125)", then the reason "No verdict yet ...:
    # ..., CTR ratio 1.007, 99% anytime-valid interval 0.902-1.125." (a REJECT's reason restated it the same way)
    _, asked_at = deployed(lab, 3500, challenger_ctr, minutes=minutes)
    monkeypatch.setattr(command, "_now", lambda: asked_at)
    code, out, _ = run(capsys, "challenger", "status", "--endpoint", ENDPOINT, "--config", str(config))
    assert code == (3 if decision == "REJECT" else 0)
    assert out.startswith(f"{ENDPOINT}: {decision} after {minutes - 2} min"), out
    assert out.count("CTR ratio") == 1, out
    # With too few minutes for a verdict the reasons name no ratio: the line gives it, once
    monkeypatch.setattr(command, "_now", lambda: asked_at - timedelta(minutes=minutes - 5))
    _, out, _ = run(capsys, "challenger", "status", "--endpoint", ENDPOINT, "--config", str(config))
    assert "Below the minimum sample for a CTR verdict" in out and out.count("CTR ratio") == 1, out


def test_status_over_the_last_minutes_only(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, asked_at = deployed(lab, 3500, 0.08)
    monkeypatch.setattr(command, "_now", lambda: asked_at)
    argv = (
        "challenger",
        "status",
        "--endpoint",
        ENDPOINT,
        "--minutes",
        "5",
        "--format",
        "json",
        "--config",
        str(config),
    )
    report = json.loads(run(capsys, *argv)[1])
    assert report["elapsed_minutes"] == 5
    assert 1000 < report["variants"]["production"]["impressions"] < 25_000  # ~5 of the 30 minutes


def test_status_without_a_challenger_is_a_usage_error(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "challenger", "status", "--endpoint", ENDPOINT, "--config", str(config))
    assert code == 2 and out == ""
    assert "no challenger to judge" in err and "1 production variant with a model" in err


def test_start_refuses_a_package_the_offline_gate_did_not_pass(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register(eligible=False)
    code, out, err = run(capsys, "challenger", "start", "--package", arn, "--config", str(config))
    assert code == 2 and out == ""
    assert err.startswith("mlgov: error: refused: ") and "did not pass the offline gate" in err
    assert lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"] == []


def test_start_runs_the_state_machine_for_the_groups_endpoint(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register()
    code, out, _ = run(capsys, "challenger", "start", "--package", arn, "--format", "json", "--config", str(config))
    started = json.loads(out)
    assert code == 0 and started["endpoint_name"] == ENDPOINT and started["started"] is True
    [execution] = lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"]
    assert execution["executionArn"] == started["execution_arn"]
    run_input = json.loads(lab.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert run_input == {"model_package_arn": arn, "endpoint_name": ENDPOINT, "source": "cli"}


def test_start_refuses_a_candidate_on_an_older_catalog_snapshot_than_production(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Production (v2) was trained on the 2026-10-28 snapshot; the candidate on 2026-09-30
    arn = lab.register(snapshot="2026-09-30")
    code, out, err = run(capsys, "challenger", "start", "--package", arn, "--config", str(config))
    assert code == 2 and out == ""
    assert "2026-09-30, older than production's 2026-10-28" in err and "allow_older_catalog_snapshot" in err
    assert lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"] == []
    # Unless the setting allows it
    allowing = tmp_path / "allowing.json"
    allowing.write_text(json.dumps({"context": {"mlgov": {"challenger": {"allow_older_catalog_snapshot": True}}}}))
    code, _, _ = run(capsys, "challenger", "start", "--package", arn, "--config", str(allowing))
    assert code == 0


def test_start_refuses_an_endpoint_the_gate_does_not_watch(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register()
    argv = ("challenger", "start", "--package", arn, "--endpoint", "manga-recommender-canary", "--config", str(config))
    code, _, err = run(capsys, *argv)
    assert code == 2 and "not watched by the challenger gate" in err


def test_simulate_prints_ours_next_to_the_naive_rule(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("challenger", "simulate", "--traffic", "70", "--drop", "0", "--runs", "2000", "--window", "30")
    code, out, _ = run(capsys, *argv, "--config", str(config))
    assert code == 0
    lines = {
        line.split("  ")[1].strip(): line.split() for line in out.splitlines() if line.startswith("  ") and "%" in line
    }
    assert lines["REJECT"][1] == "0.00%"  # ours: never on noise
    assert float(lines["REJECT"][2].rstrip("%")) > 50  # the naive 0.9x rule: most identical challengers
    assert float(lines["INSUFFICIENT_DATA"][1].rstrip("%")) > 99
    assert "every REJECT above is a false rejection" in out


def test_simulate_json_and_a_bad_drop(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("challenger", "simulate", "--traffic", "3500", "--drop", "0.3", "--runs", "500", "--format", "json")
    code, out, _ = run(capsys, *argv, "--config", str(config))
    result = json.loads(out)
    assert code == 0 and result["rates"]["REJECT"] > 0.95 and result["naive_reject_rate"] > 0.95
    code, _, err = run(capsys, "challenger", "simulate", "--traffic", "70", "--drop", "15", "--config", str(config))
    assert code == 2 and "between 0 and 1" in err


def test_rollback_dry_run_shows_the_plan_and_changes_nothing(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], artifacts: list[str]
) -> None:
    before = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    argv = ("rollback", "--endpoint", ENDPOINT, "--group", "manga-recommender", "--reason", "engagement -22%")
    code, out, err = run(capsys, *argv, "--dry-run", "--config", str(config))
    assert code == 0
    assert "would deploy v1 (Approved, catalog 2026-05-02)" in out and "would mark v2 Rejected: engagement -22%" in out
    assert "checked v1's artifact s3://manga-training/" in out and "checked v1's image 763104351884.dkr" in out
    assert "warning: v1 was trained on the catalog of 2026-05-02" in err
    assert lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == before
    assert lab.package(lab.variants_package("AllTraffic"))["ModelApprovalStatus"] == "Approved"


def test_rollback_deploys_the_previous_version_and_rejects_the_failed_one(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], artifacts: list[str]
) -> None:
    failed = lab.variants_package("AllTraffic")
    argv = ("rollback", "--endpoint", ENDPOINT, "--group", "manga-recommender", "--reason", "engagement -22%")
    code, out, _ = run(capsys, *argv, "--format", "json", "--config", str(config))
    report = json.loads(out)
    assert code == 0 and report["status"] == "rolled_back" and report["target"]["version"] == 1
    assert lab.variants_package("AllTraffic") == report["target"]["model_package_arn"]
    package = lab.package(failed)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "engagement -22%" in package["ApprovalDescription"] and "replaced by v1" in package["ApprovalDescription"]


def test_rollback_with_no_previous_version_exits_4_with_the_fallbacks(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = "manga-recommender-serverless"  # serves v1, the first Approved version
    before = lab.sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    code, out, err = run(
        capsys, "rollback", "--endpoint", endpoint, "--group", "manga-recommender", "--config", str(config)
    )
    assert code == command.EXIT_NO_PREVIOUS_VERSION == 4 and out == ""
    assert "no previous Approved version of manga-recommender" in err and "nothing was changed" in err
    assert "1. Serve the base model" in err and "emergency recovery" in err
    assert lab.sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == before
    # The recovery step names the image v1 serves with, as the registry holds it: nothing to fill in by hand.
    [v1] = [
        p["ModelPackageArn"]
        for p in lab.sm.list_model_packages(ModelPackageGroupName="manga-recommender")["ModelPackageSummaryList"]
        if p["ModelPackageVersion"] == 1
    ]
    image = lab.package(v1)["InferenceSpecification"]["Containers"][0]["Image"]
    [recover] = [line for line in err.splitlines() if line.startswith("  2. ")]
    assert f"--image {image};" in recover and "<" not in recover and "s3://..." not in recover
    assert 'describe-training-job --training-job-name "$job"' in recover


def test_rollback_of_a_missing_endpoint_is_a_usage_error(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "rollback", "--endpoint", "nope", "--group", "manga-recommender", "--config", str(config)
    )
    assert code == 2 and "endpoint nope does not exist" in err


ROLLBACK = ("rollback", "--endpoint", ENDPOINT, "--group", "manga-recommender", "--reason", "engagement -22%")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    value = Clock()
    monkeypatch.setattr(command, "_clock", lambda: value.now)
    monkeypatch.setattr(command, "_sleep", value.sleep)
    return value


RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def rollback(config: Path, capsys: pytest.CaptureFixture[str], artifacts: list[str], clock: Clock) -> RunCli:
    """`mlgov rollback` of the production endpoint with these extra arguments: v1's artifacts in S3, time on the
    fake clock; (exit code, stdout, stderr)."""

    def run_rollback(*extra: str) -> tuple[int, str, str]:
        return run(capsys, *ROLLBACK, *extra, "--config", str(config))

    return run_rollback


def _unchanged(lab: Lab, config_name: str, failed: str) -> None:
    assert lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_name
    assert lab.package(failed)["ModelApprovalStatus"] == "Approved"
    arn = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in lab.sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["ModelPackageName"] == failed


def test_rollback_refuses_a_target_whose_artifact_is_gone_and_changes_nothing(
    lab: Lab, rollback: RunCli, artifacts: list[str]
) -> None:
    # Given v1's model.tar.gz deleted from S3 (the previous version could never start)
    before, failed = (
        lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"],
        lab.variants_package("AllTraffic"),
    )
    bucket, key = artifacts[0][5:].split("/", 1)
    boto3.client("s3", region_name=REGION).delete_object(Bucket=bucket, Key=key)
    code, out, err = rollback()
    assert code == 2 and out == ""
    assert "v1 cannot be rolled back to, nothing was changed" in err and f"its artifact {artifacts[0]} is gone" in err
    _unchanged(lab, before, failed)


def test_rollback_refuses_a_target_whose_image_is_gone(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the artifacts in S3 but the inference image's repository not in its registry
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="manga-training")
    s3.put_object(Bucket="manga-training", Key="lora-jobs/lora-2026-05-02-1130/output/model.tar.gz", Body=b"x")
    code, _, err = run(capsys, *ROLLBACK, "--dry-run", "--config", str(config))
    assert code == 2 and "its image 763104351884.dkr.ecr" in err and "RepositoryNotFoundException" in err


def test_rollback_waits_for_in_service_with_progress_then_rejects(
    lab: Lab, rollback: RunCli, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a blue/green update that reports Updating for two looks
    monkeypatch.setattr(emulator, "UPDATE_POLLS", 2)
    failed = lab.variants_package("AllTraffic")
    code, out, err = rollback("--format", "json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "rolled_back"
    assert err.count("mlgov: waiting: manga-recommender-prod is Updating") == 2 and clock.sleeps == [30, 30]
    assert report["end_state"]["serving"] == "target" and report["end_state"]["endpoint_status"] == "InService"
    assert lab.package(failed)["ModelApprovalStatus"] == "Rejected"


def test_an_update_sagemaker_rolls_back_exits_5_and_rejects_nothing(
    lab: Lab, rollback: RunCli, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given v1's container fails its health check: SageMaker keeps the old fleet
    monkeypatch.setattr(emulator, "UPDATE_FAULTS", {})
    before, failed = (
        lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"],
        lab.variants_package("AllTraffic"),
    )
    emulator.fail_next_update(
        ENDPOINT, "The primary container for production variant AllTraffic did not pass the ping health check."
    )
    code, out, err = rollback()
    assert code == command.EXIT_NOT_SERVING == 5
    assert "tried to deploy v1" in out and f"end state: InService on {before} (previous config)" in out
    assert "marked" not in out and "ping health check" in err and "nothing was marked Rejected" in err
    _unchanged(lab, before, failed)


def test_an_update_still_running_at_the_deadline_exits_5_and_rejects_nothing(
    lab: Lab, rollback: RunCli, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "UPDATE_POLLS", 1000)
    failed = lab.variants_package("AllTraffic")
    code, out, err = rollback("--wait-minutes", "2", "--format", "json")
    report = json.loads(out)
    assert code == 5 and report["status"] == "update_pending" and report["end_state"]["endpoint_status"] == "Updating"
    assert sum(clock.sleeps) == 120 and "The update is still running" in err
    assert lab.package(failed)["ModelApprovalStatus"] == "Approved"


def test_rollback_of_an_endpoint_whose_model_was_deleted_under_it(lab: Lab, rollback: RunCli) -> None:
    # Given the production model deleted while the endpoint serves on (the incident that calls for a rollback)
    failed = lab.variants_package("AllTraffic")
    lab.sm.delete_model(ModelName=lab.variants()["AllTraffic"]["ModelName"])
    role = "arn:aws:iam::123456789012:role/sagemaker-execution"
    code, out, err = rollback("--execution-role-arn", role, "--format", "json")
    report = json.loads(out)
    # Then v1 serves (the tag's v2 claim only narrows the target) and nothing is Rejected on a claim
    assert code == 0 and report["status"] == "rolled_back" and report["target"]["version"] == 1
    assert lab.variants_package("AllTraffic") == report["target"]["model_package_arn"]
    assert "was deleted under the endpoint" in err and lab.package(failed)["ModelApprovalStatus"] == "Approved"
    assert lab.sm.describe_model(ModelName=report["model_name"])["ExecutionRoleArn"] == role


def test_rollback_without_proof_of_what_serves_is_refused(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], artifacts: list[str]
) -> None:
    argv = ("rollback", "--endpoint", "manga-recommender-orphaned", "--group", "manga-recommender")
    code, _, err = run(capsys, *argv, "--config", str(config))
    assert code == 2 and "which version serves cannot be told" in err


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("", "is not a model package group name"),
        ("nope", "no such model package group 'nope'"),
        ("manga-recommender --wait-minutes nan", "--wait-minutes nan: must be above 0"),
        ("manga-recommender --wait-minutes 0", "--wait-minutes 0: must be above 0"),
    ],
)
def test_an_empty_or_absent_group_or_a_bad_wait_is_a_usage_error_never_no_previous_version(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], group: str, message: str
) -> None:
    group, *extra = group.split(" ")
    argv = ("rollback", "--endpoint", ENDPOINT, "--group", group, *extra)
    code, out, err = run(capsys, *argv, "--config", str(config))
    assert code == 2 and out == "" and message in err and "no previous" not in err


# -- gradual fallback with no previous version: the route in the emulator's AppConfig

SERVERLESS = "manga-recommender-serverless"  # serves v1, the group's first Approved version
FALLBACK = ("rollback", "--endpoint", SERVERLESS, "--group", "manga-recommender", "--reason", "CTR -30%")
DOCUMENT = {"recommendation_backend": SERVERLESS, "fallback_percent": 0}


@pytest.fixture
def route(lab: Lab) -> dict[str, str]:
    """The recommendation route deployed in AppConfig with the fallback's share at 0."""
    return emulator.seed_route(boto3.client("appconfig", region_name=REGION), DOCUMENT)


@pytest.fixture
def route_config(tmp_path: Path, route: dict[str, str]) -> Path:
    path = tmp_path / "cdk-route.json"
    path.write_text(
        json.dumps({"context": {"mlgov": {"capacity": {"fallback_route": {**route, "endpoints": [SERVERLESS]}}}}})
    )
    return path


def _versions(route: dict[str, str]) -> list[tuple[dict[str, Any], str]]:
    """The hosted versions the command wrote (after the seeded one): (document, description)."""
    appconfig = boto3.client("appconfig", region_name=REGION)
    found: list[tuple[dict[str, Any], str]] = []
    number = 2
    while True:
        try:
            version = appconfig.get_hosted_configuration_version(
                ApplicationId=route["application_id"],
                ConfigurationProfileId=route["configuration_profile_id"],
                VersionNumber=number,
            )
        except appconfig.exceptions.ResourceNotFoundException:
            return found
        found.append((json.loads(version["Content"].read()), version["Description"]))
        number += 1


def test_with_no_previous_version_the_fallback_share_steps_up_each_step_delivered_and_read_back(
    lab: Lab, route_config: Path, route: dict[str, str], capsys: pytest.CaptureFixture[str], clock: Clock
) -> None:
    argv = (*FALLBACK, "--fallback-percent", "10,50", "--step-minutes", "15", "--format", "json")
    code, out, err = run(capsys, *argv, "--config", str(route_config))
    report = json.loads(out)["fallback"]
    assert code == 0 and report["status"] == "shifted" and (report["share_before"], report["share_now"]) == (0, 50)
    assert [s["status"] for s in report["steps"]] == ["delivered", "delivered"]
    assert clock.sleeps == [900] and "10% on the fallback; next step 50% in 900 s" in err
    assert _versions(route) == [
        ({**DOCUMENT, "fallback_percent": p}, f"mlgov rollback {SERVERLESS}: CTR -30%: {p}% to the fallback")
        for p in (10, 50)
    ]


def test_a_fallback_step_whose_deployment_rolls_back_stops_there_and_exits_5(
    lab: Lab,
    route_config: Path,
    route: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given AppConfig rolls back the deployment after the first step (during the wait between steps)
    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        emulator.fail_next_deployment(route["application_id"], route["environment_id"], "alarm recommender-errors")

    monkeypatch.setattr(command, "_sleep", sleep)
    code, out, err = run(
        capsys, *FALLBACK, "--fallback-percent", "10,50", "--format", "json", "--config", str(route_config)
    )
    report = json.loads(out)["fallback"]
    assert code == 5 and report["status"] == "stopped" and report["share_now"] == 10
    assert report["steps"][-1]["status"] == "failed" and "ROLLED_BACK" in report["steps"][-1]["detail"]
    assert "the shift stopped: clients read fallback_percent=10" in err


@pytest.mark.parametrize(
    ("endpoint", "percents", "message"),
    [
        (SERVERLESS, "50,10", "rising percentages"),
        (SERVERLESS, "0,101", "rising percentages"),
        (ENDPOINT, "10", "v1 is a previous Approved version"),
        (SERVERLESS, "10", "needs mlgov.capacity.fallback_route"),
    ],
)
def test_a_fallback_shift_it_cannot_do_safely_is_refused_and_changes_nothing(
    lab: Lab,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts: list[str],
    endpoint: str,
    percents: str,
    message: str,
) -> None:
    argv = ("rollback", "--endpoint", endpoint, "--group", "manga-recommender", "--fallback-percent", percents)
    code, out, err = run(capsys, *argv, "--config", str(config))
    assert code == 2 and out == "" and message in err


def _rejected(lab: Lab) -> str:
    """A package the gate rejected (its rejection text in ApprovalDescription)."""
    arn = lab.register()
    lab.sm.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Rejected",
        ApprovalDescription="Rejected by the mlgov challenger gate after 12 min: challenger CTR 5.60% vs 8.00%.",
    )
    return arn


def test_reapprove_refuses_without_a_real_comment_and_changes_nothing(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = _rejected(lab)
    for comment in ("", "ok", " " * 40):
        code, out, err = run(capsys, "challenger", "reapprove", "--package", arn, "--comment", comment)
        assert code == 2 and out == "" and "why the rejection no longer applies" in err
    code, _, err = run(capsys, "challenger", "reapprove", "--package", arn, "--comment", "x" * 601)
    assert code == 2 and "at most 600" in err
    assert lab.package(arn)["ModelApprovalStatus"] == "Rejected"
    # A package that is not Rejected is not this command's
    other = lab.register()
    code, _, err = run(capsys, "challenger", "reapprove", "--package", other, "--comment", "the CTR drop was a bug")
    assert code == 2 and "is PendingManualApproval, not Rejected" in err


def test_reapprove_writes_who_when_and_why_into_the_approval_description(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = _rejected(lab)
    why = "the CTR drop came from a broken click tracker on the challenger variant, fixed in release 4.2 " * 5
    code, out, _ = run(capsys, "challenger", "reapprove", "--package", arn, "--comment", why, "--format", "json")
    answer = json.loads(out)
    package = lab.package(arn)
    who = boto3.client("sts", region_name=REGION).get_caller_identity()["Arn"]
    assert code == 0 and package["ModelApprovalStatus"] == "Approved" and answer["approved_by"] == who
    text = package["ApprovalDescription"]
    assert text == answer["approval_description"] and len(text) <= 1024
    assert text.startswith(f"Re-approved after rejection by {who} at ") and "broken click tracker" in text
    assert "Was: Rejected by the mlgov challenger gate" in text or text.endswith("…")
    # And the re-approval is not reported as one without a comment
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": "123456789012",
        "detail": {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"},
    }
    from mlgov.sandbox import FakeContext

    assert lab.handler.handler(event, FakeContext())["status"] == "ok"


def test_a_rejected_package_approved_by_hand_without_a_comment_is_a_finding(lab: Lab) -> None:
    from mlgov.sandbox import FakeContext

    arn = _rejected(lab)
    # Someone with an approver role flips the status in the console; the rejection text stays
    lab.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": "123456789012",
        "detail": {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"},
    }
    answer = lab.handler.handler(event, FakeContext())
    assert answer["status"] == "reported"
    [finding] = lab.published()
    assert (finding["kind"], finding["severity"]) == ("CHALLENGER_REAPPROVED_WITHOUT_COMMENT", "HIGH")
    assert f"mlgov challenger reapprove --package {arn} --comment" in finding["detail"]
    # Another account's event names nothing here
    forged = {**event, "account": "999999999999"}
    assert lab.handler.handler(forged, FakeContext())["status"] == "rejected"
