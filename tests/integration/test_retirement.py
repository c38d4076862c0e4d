"""Endpoint retirement under moto: the real handlers, adapters and CLI on spec scenario 5's estate, with
the CloudWatch Invocations data SageMaker would publish put by the tests."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mlgov.cli import main
from mlgov.estate import create_governance_resources, drain_findings
from mlgov.ops.sent_settings import retirement_environment as sent_environment
from mlgov.retirement_estate import (
    IDLE,
    LIVE,
    RETURNING,
    STALE,
    RetirementEstate,
    backdate_in_process,
    put_client_errors,
    put_invocations,
    seed_retirement_estate,
)
from mlgov.sandbox import FakeContext, load_event
from mlgov.settings import parse_settings
from mlgov_runtime.adapters.cloudwatch import CloudWatchMetrics
from mlgov_runtime.adapters.cost_anomaly import AnomaliesUnavailable, service_anomalies
from mlgov_runtime.retirement.endpoint_retirement import EndpointMetrics
from tests.integration.conftest import runtime_env
from tests.settings_files import NO_SETTINGS

ACCOUNT, REGION = "123456789012", "us-east-1"


@dataclass
class RetirementWorld:
    estate: RetirementEstate
    resources: dict[str, str]
    sm: Any
    cw: Any
    sqs: Any
    ddb: Any
    now: datetime

    def handler(self) -> ModuleType:
        from mlgov_runtime.core import env
        from mlgov_runtime.retirement import handler

        env.reset_all()
        return handler

    def published(self) -> list[dict[str, Any]]:
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])

    def tags(self, name: str) -> dict[str, str]:
        arn = self.sm.describe_endpoint(EndpointName=name)["EndpointArn"]
        return {t["Key"]: t["Value"] for t in self.sm.list_tags(ResourceArn=arn)["Tags"]}


def retirement_environment() -> dict[str, str]:
    settings = parse_settings({})
    return sent_environment(settings)


@contextlib.contextmanager
def retirement_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[RetirementWorld]:
    """Scenario 5's estate in moto, the findings channel, and the functions' environment."""
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        c = {s: boto3.client(s, region_name=REGION) for s in ("sagemaker", "cloudwatch", "dynamodb", "sns", "sqs")}
        now = datetime.now(UTC)
        estate = seed_retirement_estate(c["sagemaker"], c["cloudwatch"], ACCOUNT, REGION, now)
        backdate_in_process(ACCOUNT, REGION, estate, now)
        resources = create_governance_resources(c["dynamodb"], c["sns"], c["sqs"])
        environment = {**resources, **retirement_environment(), "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance"}
        with runtime_env(monkeypatch, environment):
            yield RetirementWorld(estate, resources, c["sagemaker"], c["cloudwatch"], c["sqs"], c["dynamodb"], now)


@pytest.fixture
def retirement_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[RetirementWorld]:
    with retirement_context(monkeypatch) as world:
        yield world


def stale_metric_values(stdout: str) -> list[float]:
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and "_aws" in blob and "StaleEndpointActive" in blob:
                value = blob["StaleEndpointActive"]
                return [float(v) for v in (value if isinstance(value, list) else [value])]
    return []


def test_monthly_audit_flags_the_stale_endpoint_and_offers_the_idle_ones_for_deletion(
    retirement_world: RetirementWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = retirement_world.handler()
    event = load_event("scheduled_retirement_audit.json")
    result = handler.handler(event, FakeContext())
    assert result["verdicts"] == {"CURRENT": 1, "RETIREMENT_CANDIDATE": 2, "STALE_ENDPOINT_ACTIVE": 1}
    assert sorted(stale_metric_values(capsys.readouterr().out)) == [0, 0, 0, 1]
    published = {(f["kind"], f["resource_arn"].rsplit("/", 1)[1]): f for f in retirement_world.published()}
    assert set(published) == {
        ("STALE_ENDPOINT_ACTIVE", STALE),
        ("ENDPOINT_RETIREMENT_CANDIDATE", IDLE),
        ("ENDPOINT_RETIREMENT_CANDIDATE", RETURNING),
        ("ENDPOINT_PURPOSE_TAG_INVALID", IDLE),
        ("ENDPOINT_RETIRING", RETURNING),  # tagged retiring: its retirement opens
        ("ENDPOINT_STILL_CALLED_AFTER_CUTOVER", STALE),  # v2 took over 30 days ago (issue 27 item 4)
    }
    cutover = published[("ENDPOINT_STILL_CALLED_AFTER_CUTOVER", STALE)]["evidence"]["cutover"]
    assert (cutover["status"], cutover["successor"], cutover["invocations"]) == ("STILL_CALLED", LIVE, 4920)
    stale = published[("STALE_ENDPOINT_ACTIVE", STALE)]
    assert stale["severity"] == "HIGH"
    assert "4,920 invocations in 24 h" in stale["title"]
    assert stale["evidence"]["served_versions"] == ["manga-recommender/1"]
    assert stale["evidence"]["current_versions"] == ["manga-recommender/2"]
    assert "about $686/month (1 x ml.g4dn.2xlarge at $0.94/h)" in stale["detail"]
    idle = published[("ENDPOINT_RETIREMENT_CANDIDATE", IDLE)]
    assert idle["evidence"]["invocations_24h"] == 0
    assert f"`mlgov retire request --endpoint {IDLE}`" in idle["detail"]
    # The same event delivered again runs nothing and publishes nothing.
    assert handler.handler(event, FakeContext()) == result
    assert retirement_world.published() == []
    # The audit never deletes and never tags.
    assert {e["EndpointName"] for e in retirement_world.sm.list_endpoints()["Endpoints"]} == {
        LIVE,
        STALE,
        IDLE,
        RETURNING,
    }


def test_invocations_of_a_variant_removed_by_a_config_update_still_count(retirement_world: RetirementWorld) -> None:
    put_invocations(retirement_world.cw, IDLE, 9, retirement_world.now - timedelta(hours=2), variant="champion-old")
    metrics = EndpointMetrics(CloudWatchMetrics(retirement_world.cw))
    now = retirement_world.now
    assert metrics.invocations(IDLE, ["AllTraffic"], now - timedelta(hours=24), now) == 9
    assert metrics.invocations(STALE, ["AllTraffic"], now - timedelta(hours=24), now) == 4920
    assert metrics.invocations(STALE, ["AllTraffic"], now - timedelta(hours=1), now) == 205  # the last hour alone


def test_tagging_retiring_opens_a_retirement_and_removing_the_tag_while_open_is_put_back(
    retirement_world: RetirementWorld,
) -> None:
    handler, sm = retirement_world.handler(), retirement_world.sm
    arn = sm.describe_endpoint(EndpointName=STALE)["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "endpoint_purpose", "Value": "retiring"}])
    opened = handler.handler(load_event("cloudtrail_add_tags_retiring.json"), FakeContext())
    assert opened["status"] == "retirement opened"
    [retiring] = retirement_world.published()
    assert retiring["kind"] == "ENDPOINT_RETIRING"
    assert retiring["evidence"]["retiring"]["deadline"] == "2026-12-05T10:00:00Z"
    assert retiring["evidence"]["retiring"]["owner"] == "mobile-team"

    sm.delete_tags(ResourceArn=arn, TagKeys=["endpoint_purpose"])
    changed = handler.handler(load_event("cloudtrail_delete_tags_purpose.json"), FakeContext())
    assert changed["status"] == "retiring tag change reverted"
    assert retirement_world.tags(STALE)["endpoint_purpose"] == "retiring"
    [report] = retirement_world.published()
    assert report["kind"] == "RETIRING_TAG_CHANGED" and report["severity"] == "HIGH"
    assert "assumed-role/DataScientist" in report["detail"]


def test_the_daily_check_escalates_a_retirement_past_its_deadline(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = retirement_world.handler()
    handler.handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())
    [opened] = retirement_world.published()
    assert (opened["kind"], opened["severity"]) == ("ENDPOINT_RETIRING", "MEDIUM")
    later = retirement_world.now + timedelta(days=7, minutes=1)
    monkeypatch.setattr(handler, "_now", lambda: later)
    handler.handler({**load_event("scheduled_retiring_deadlines.json"), "event_id": "next-day"}, FakeContext())
    [escalated] = retirement_world.published()
    assert escalated["severity"] == "HIGH" and "past its retirement deadline" in escalated["title"]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_audit_prints_one_object_per_endpoint_and_exits_3_on_a_stale_endpoint_with_traffic(
    retirement_world: RetirementWorld, tmp_path: Path
) -> None:
    config = NO_SETTINGS
    code, out, _ = run_cli("retire", "audit", "--format", "json", "--config", config)
    assert code == 3
    rows = {e["endpoint_name"]: e for e in json.loads(out)["endpoints"]}
    assert {n: (r["verdict"], r["invocations_24h"]) for n, r in rows.items()} == {
        LIVE: ("CURRENT", 7440),
        STALE: ("STALE_ENDPOINT_ACTIVE", 4920),
        IDLE: ("RETIREMENT_CANDIDATE", 0),
        RETURNING: ("RETIREMENT_CANDIDATE", 0),
    }
    assert retirement_world.published() == []  # the CLI shows; it does not publish
    code, out, _ = run_cli("retire", "audit", "--endpoint", IDLE, "--config", config)
    assert code == 0
    assert "RETIREMENT_CANDIDATE" in out and f"next: Retire it: `mlgov retire request --endpoint {IDLE}`" in out


def test_cli_request_refuses_a_stale_endpoint_with_traffic_and_the_current_one(
    retirement_world: RetirementWorld, tmp_path: Path
) -> None:
    config = NO_SETTINGS
    code, _, err = run_cli("retire", "request", "--endpoint", STALE, "--config", config)
    assert code == 3 and "refused" in err and "4,920 invocations" in err
    code, _, err = run_cli("retire", "request", "--endpoint", LIVE, "--config", config)
    assert code == 2 and "CURRENT" in err
    code, _, err = run_cli("retire", "request", "--endpoint", "manga-recommender-gone", "--config", config)
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("gone", [False, True])
def test_cli_cancel_closes_the_retirement_so_the_tag_may_change(
    retirement_world: RetirementWorld, tmp_path: Path, gone: bool
) -> None:
    # gone: the runbook step after a deletion aborted because the endpoint was already gone
    # (docs/retirement.md, Endpoint gone before the final check) closes the retirement the same way
    handler = retirement_world.handler()
    handler.handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())
    retirement_world.published()
    if gone:
        retirement_world.sm.delete_endpoint(EndpointName=RETURNING)
    r = retirement_world.resources
    code, _, err = run_cli(
        "retire",
        "cancel",
        "--endpoint",
        RETURNING,
        "--reason",
        "EU traffic moves in January",
        "--findings-table",
        r["FINDINGS_TABLE_NAME"],
        "--findings-topic-arn",
        r["FINDINGS_TOPIC_ARN"],
        "--config",
        NO_SETTINGS,
    )
    assert code == 0, err
    [closed] = retirement_world.published()
    assert (closed["kind"], closed["status"]) == ("ENDPOINT_RETIRING", "RESOLVED")
    assert "EU traffic moves in January" in closed["detail"]
    if not gone:
        assert retirement_world.tags(RETURNING)["endpoint_purpose"] == "active"


def test_cli_recreate_brings_a_deleted_endpoint_back_from_its_kept_config(
    retirement_world: RetirementWorld, tmp_path: Path
) -> None:
    retirement_world.sm.delete_endpoint(EndpointName=IDLE)
    code, out, err = run_cli(
        "retire", "recreate", "--endpoint", IDLE, "--endpoint-config", f"{IDLE}-config", "--config", NO_SETTINGS
    )
    assert code == 0, err
    assert "tagged retiring" in out
    assert retirement_world.sm.describe_endpoint(EndpointName=IDLE)["EndpointConfigName"] == f"{IDLE}-config"
    assert retirement_world.tags(IDLE)["endpoint_purpose"] == "retiring"


def test_the_watch_step_finds_clients_still_calling_a_deleted_endpoint(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.core import env
    from mlgov_runtime.retirement import handler
    from tests.integration.test_approvals import running_execution

    execution = running_execution(monkeypatch, IDLE)  # the watch acts only for its own execution
    env.reset_all()
    deleted_at = retirement_world.now - timedelta(minutes=20)
    retirement_world.sm.delete_endpoint(EndpointName=IDLE)
    put_client_errors(retirement_world.cw, IDLE, 38, retirement_world.now - timedelta(minutes=5))
    state = {
        "endpoint_name": IDLE,
        "deletion": {
            "endpoint_config_name": f"{IDLE}-config",
            "watch": {"remaining": 72, "since": deleted_at.replace(microsecond=0).isoformat()},
        },
    }
    forged = handler.step  # a direct invoke for no running execution of the machine is refused
    with pytest.raises(Exception, match="is not an execution of"):
        forged({"step": "watch", "state": state}, FakeContext())
    result = handler.step({"step": "watch", "state": state, "execution": execution}, FakeContext())
    assert (result["remaining"], result["errors"]) == (71, 38)
    [finding] = retirement_world.published()
    assert finding["kind"] == "RETIRED_ENDPOINT_STILL_CALLED"
    assert f"mlgov retire recreate --endpoint {IDLE} --endpoint-config {IDLE}-config" in finding["detail"]


def test_sagemaker_cost_anomalies_are_read_and_filtered_by_service() -> None:
    # moto has no Cost Explorer anomaly API: botocore's Stubber checks the calls against the service model.
    ce = boto3.client("ce", region_name="us-east-1")
    monitor = "arn:aws:ce::123456789012:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    interval = {"StartDate": "2026-10-29", "EndDate": "2026-11-28"}

    def anomaly(anomaly_id: str, service: str, impact: float) -> dict[str, Any]:
        return {
            "AnomalyId": anomaly_id,
            "AnomalyStartDate": "2026-11-02",
            "DimensionValue": service,
            "RootCauses": [{"Service": service, "UsageType": "USE1-Host:ml.g4dn.2xlarge"}],
            "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.8},
            "Impact": {"MaxImpact": 25.0, "TotalImpact": impact, "TotalImpactPercentage": 100.0},
            "MonitorArn": monitor,
        }

    with Stubber(ce) as stub:
        stub.add_response(
            "get_anomalies",
            {
                "Anomalies": [anomaly("a1", "Amazon SageMaker", 340.0), anomaly("a2", "Amazon EC2", 50.0)],
                "NextPageToken": "p2",
            },
            {"MonitorArn": monitor, "DateInterval": interval, "MaxResults": 100},
        )
        stub.add_response(
            "get_anomalies",
            {"Anomalies": [anomaly("a3", "Amazon SageMaker", 12.5)]},
            {"MonitorArn": monitor, "DateInterval": interval, "MaxResults": 100, "NextPageToken": "p2"},
        )
        found = service_anomalies(ce, monitor, date(2026, 10, 29), date(2026, 11, 28))
        stub.assert_no_pending_responses()
    assert [(a["anomaly_id"], a["total_impact_usd"]) for a in found] == [("a1", 340.0), ("a3", 12.5)]
    assert found[0]["usage_types"] == ["USE1-Host:ml.g4dn.2xlarge"]
    with Stubber(ce) as stub:
        stub.add_client_error("get_anomalies", "AccessDeniedException", "not allowed")
        with pytest.raises(AnomaliesUnavailable, match="AccessDeniedException"):
            service_anomalies(ce, monitor, date(2026, 10, 29), date(2026, 11, 28))


def test_the_monthly_audit_reports_cost_anomalies_and_survives_without_them(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.adapters.aws import context_for

    monitor = "arn:aws:ce::123456789012:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    monkeypatch.setenv("COST_ANOMALY_MONITOR_ARN", monitor)
    handler = retirement_world.handler()
    event = load_event("scheduled_retirement_audit.json")
    # moto has no Cost Explorer anomaly API: the handler's own client answers through botocore's Stubber.
    with Stubber(context_for("us-east-1").client("ce")) as stub:
        answer = {
            "AnomalyId": "a1",
            "AnomalyStartDate": "2026-11-02",
            "DimensionValue": "Amazon SageMaker",
            "RootCauses": [{"Service": "Amazon SageMaker"}],
            "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.8},
            "Impact": {"MaxImpact": 25.0, "TotalImpact": 340.0},
            "MonitorArn": monitor,
        }
        stub.add_response("get_anomalies", {"Anomalies": [answer]})
        stub.add_client_error("get_anomalies", "AccessDeniedException", "not allowed")
        reported = handler.handler(event, FakeContext())
        denied = handler.handler({**event, "event_id": "next-month"}, FakeContext())
    assert reported["sagemaker_cost_anomalies_30d"] == {"count": 1, "total_impact_usd": 340.0}
    assert "AccessDeniedException" in denied["sagemaker_cost_anomalies_30d"]["error"]
    assert denied["verdicts"] == reported["verdicts"]


def _inject(monkeypatch: pytest.MonkeyPatch, operation: str, code: str, message: str) -> list[str]:
    """Every botocore call of `operation` answers the error `code`; the calls seen."""
    import botocore.client
    from botocore.exceptions import ClientError

    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
    seen: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name != operation:
            return original(self, name, params)
        seen.append(name)
        raise ClientError({"Error": {"Code": code, "Message": message}}, name)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return seen


@pytest.mark.parametrize(
    ("operation", "code", "message", "raised", "says"),
    [
        # The tag write refused: named as the write, with AWS's code, never as a read.
        ("AddTags", "AccessDeniedException", "not authorized", "WriteFailure", "AddTags endpoint_purpose=active on "),
        ("AddTags", "ThrottlingException", "Rate exceeded", "WriteFailure", "AddTags endpoint_purpose=active on "),
        # The endpoint deleted between the read and the write: gone, nothing left to tag (callers skip it).
        ("AddTags", "ValidationException", "Could not find endpoint", "EndpointGone", "endpoint not found"),
        # The read before the write: a read's failure, or gone.
        ("DescribeEndpoint", "ThrottlingException", "Rate exceeded", "ReadFailure", "endpoint "),
        ("DescribeEndpoint", "ValidationException", "Could not find endpoint", "EndpointGone", "not found"),
    ],
)
def test_a_tag_write_that_fails_is_named_as_a_write_or_the_endpoint_gone(
    retirement_world: RetirementWorld,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    code: str,
    message: str,
    raised: str,
    says: str,
) -> None:
    from mlgov_runtime.retirement.endpoint_retirement import SageMakerEndpoints
    from mlgov_runtime.retirement.logic import ReadFailure

    endpoints = SageMakerEndpoints(retirement_world.sm)
    before = retirement_world.tags(RETURNING)["endpoint_purpose"]
    with monkeypatch.context() as patch:
        seen = _inject(patch, operation, code, message)
        with pytest.raises(Exception) as failed:
            endpoints.tag(RETURNING, "endpoint_purpose", "active")
    assert seen == [operation]
    assert type(failed.value).__name__ == raised and says in str(failed.value), failed.value
    if raised != "EndpointGone":
        assert isinstance(failed.value, ReadFailure) and code in str(failed.value)  # callers stop on any failure
    assert (operation == "AddTags") == str(failed.value).startswith(f"AddTags endpoint_purpose=active on {RETURNING}")
    assert retirement_world.tags(RETURNING)["endpoint_purpose"] == before
    # And with nothing injected the same call writes the tag
    endpoints.tag(RETURNING, "endpoint_purpose", "active")
    assert retirement_world.tags(RETURNING)["endpoint_purpose"] == "active"
