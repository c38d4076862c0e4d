"""Part of the challenger scene (issue 27): with no previous version to roll back to, `mlgov rollback
--fallback-percent` steps recommendations onto the foundation-model route in AppConfig, each step deployed
and read back as clients read it, and a step AppConfig rolls back (its alarm monitor fired) stops the shift;
then a challenger whose recommendations collapse onto fewer titles is rejected by the online diversity
guardrail (RecommendationDistinctTitles per impression)."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta
from typing import Any

from mlgov.challenger_estate import put_challenger_traffic
from mlgov.emulator import read_route, seed_route
from mlgov.estate import GROUP
from mlgov.scenes import Stage, print_cli, run_cli

SERVERLESS = "manga-recommender-serverless"
ALARM = "manga-recommender-fallback-errors"


def play(stage: Stage, drive: Any, cw: Any, now: datetime, pipeline: Any) -> None:
    gradual_fallback(stage, cw)
    diversity_collapse(stage, drive, cw, now, pipeline)


def _fill(text: str, indent: str = "   ") -> str:
    return textwrap.fill(text, 118, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _clients_read(data: Any, route: dict[str, str]) -> str:
    """The route document as a client reads it now (a new AppConfigData session)."""
    return str(read_route(data, route)["Configuration"].read().decode())


def gradual_fallback(stage: Stage, cw: Any) -> None:
    appconfig, data = (stage.session.client(s, endpoint_url=stage.url) for s in ("appconfig", "appconfigdata"))
    cw.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="MangaAssist/Recommendations",
        MetricName="RecommendationJsonFailures",
        Dimensions=[{"Name": "EndpointName", "Value": SERVERLESS}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=50,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarm = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["AlarmArn"]
    document = {"recommendation_backend": SERVERLESS, "fallback_percent": 0}
    route = seed_route(appconfig, document, monitors=[{"AlarmArn": alarm}])
    settings = {"capacity": {"fallback_route": {**route, "endpoints": [SERVERLESS]}}}
    print("\n-- gradual fallback (spec scenario 1, grill 2): no previous version, so step the foundation model's share")
    print(f"   the AppConfig route (its environment monitored by the alarm {ALARM}); in cdk.json:")
    print(_fill(f"mlgov.capacity.fallback_route = {json.dumps(settings['capacity']['fallback_route'])}", "     "))
    print(f"   clients read: {_clients_read(data, route)}")
    reason = "CTR -30% since the v1 release"
    base = ["rollback", "--endpoint", SERVERLESS, "--group", GROUP, "--reason", reason]
    argv = [*base, "--fallback-percent", "10,50", "--step-minutes", "0"]
    print_cli(argv, *run_cli(stage, settings, *argv))
    print(f"   clients read: {_clients_read(data, route)}")
    cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="JSON failures above 50 a minute")
    print(f"   {ALARM} goes to ALARM (the fallback route's JSON failures); the next step:")
    argv = [*base, "--fallback-percent", "75,100", "--step-minutes", "0"]
    code, out, err = run_cli(stage, settings, *argv)
    print_cli(argv, code, out, err)
    failed = re.search(r"deployment (\d+) of", out)
    if failed:
        ids = {"ApplicationId": route["application_id"], "EnvironmentId": route["environment_id"]}
        deployment = appconfig.get_deployment(**ids, DeploymentNumber=int(failed[1]))
        state = appconfig.get_environment(**ids)["State"]
        event = deployment["EventLog"][0]["Description"]
        print(_fill(f"AppConfig deployment {failed[1]}: {deployment['State']} ({event}); environment {state}"))
    print(f"   clients read: {_clients_read(data, route)}")
    cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="demo over")


def diversity_collapse(stage: Stage, drive: Any, cw: Any, now: datetime, pipeline: Any) -> None:
    """Issue 27: as good on clicks, but its recommendations repeat the same popular titles."""
    from mlgov.scenes.challenger import _config_env, _variants, _wrap

    _config_env()
    t0 = now - timedelta(days=5)
    narrow, state, ch = drive.start_candidate(pipeline, "2026-11-25", "candidate: popular titles only", t0)
    print(
        f"\n-- v{ch['version']}: production's CTR, but 0.45 distinct titles per impression against production's 0.9 "
        "(diversity collapse)"
    )
    put_challenger_traffic(cw, ch, t0, 40, 3500, seed=13, distinct_title_rate=0.45)
    state = drive.watch(state, t0, 40)
    guardrail = next(g for g in state["watch"]["result"]["guardrails"] if g["name"] == "recommendation_diversity")
    print(
        f"   guardrail recommendation_diversity: challenger {guardrail['challenger_value']:.3f} vs production "
        f"{guardrail['production_value']:.3f} distinct titles per impression (RecommendationDistinctTitles)"
    )
    rejected = drive.step("reject", state, t0 + timedelta(minutes=state["watch"]["elapsed_minutes"] + 1))
    drive.step("endpoint_status", state, t0 + timedelta(minutes=state["watch"]["elapsed_minutes"] + 2))
    drive.step("restore", state, t0 + timedelta(minutes=state["watch"]["elapsed_minutes"] + 3))
    package = stage.sm.describe_model_package(ModelPackageName=narrow)
    print(f"   registry: v{ch['version']} {package['ModelApprovalStatus']}, ApprovalDescription:")
    print(_wrap(package["ApprovalDescription"]))
    stored = drive.finding(rejected["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")
    print(f"   restored: {_variants(stage)}")
