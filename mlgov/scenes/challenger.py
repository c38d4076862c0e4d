"""Scene: the challenger CTR gate (spec scenario 3, stage 2) and the rollback of scenario 1. The challenger
Lambda's steps run in the order the state machine runs them (its definition runs under moto's interpreter in
tests/infrastructure/test_challenger_stack.py), with `now` as the state machine passes it, on per-minute
recommendation and SageMaker metrics the scene puts into CloudWatch: one challenger rejected, one without a
verdict at the spec's traffic, one promoted and reviewed, then `mlgov rollback` twice."""

from __future__ import annotations

import contextlib
import io
import json
import os
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov.challenger_estate import (
    create_counts_table,
    put_challenger_traffic,
    put_retention,
    register_candidate,
    registration_event,
    seed_artifacts,
)
from mlgov.estate import GROUP, recording_state_machines
from mlgov.ops.challenger_whatif import naive_rule
from mlgov.ops.sent_settings import challenger_environment as environment
from mlgov.sandbox import ACCOUNT, REGION, FakeContext, handler_environment
from mlgov.scenes import Stage, fallback, print_cli, run_cli
from mlgov.settings import Challenger, Thresholds
from mlgov_runtime.challenger.decision import REJECT
from mlgov_runtime.challenger.findings import pct
from mlgov_runtime.challenger.inputs import VariantCounts
from mlgov_runtime.core.env import reset_all

PROD = "manga-recommender-prod"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Driver:
    """Calls the handler's steps as the state machine does and prints what each look decides."""

    def __init__(self, stage: Stage, sfn: Any = None, machine: str = "") -> None:
        from mlgov_runtime.challenger import handler

        self.stage, self.handler, self.sfn, self.machine = stage, handler, sfn, machine
        self.emf = ""
        self.naive_looks: list[bool] = []

    def step(self, name: str, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result: dict[str, Any] = self.handler.step(
                {"step": name, "state": state, "now": iso(now), "execution": state["execution"]}, FakeContext()
            )
        self.emf += out.getvalue()
        return result

    def start(self, arn: str, t0: datetime) -> dict[str, Any]:
        run_input = {"model_package_arn": arn, "source": "sandbox"}
        # A real (recorded) execution: each step verifies it is RUNNING and names this package.
        execution = self.sfn.start_execution(stateMachineArn=self.machine, input=json.dumps(run_input))
        state: dict[str, Any] = {"execution": execution["executionArn"], "input": run_input}
        state["challenger"] = self.step("start", state, t0)
        if not state["challenger"]["refused"]:  # the endpoint reports InService a minute on
            state["endpoint_status"] = self.step("endpoint_status", state, t0 + timedelta(minutes=1))
            state["deployed_at"] = state["endpoint_status"]["at"]
        return state

    def start_candidate(
        self, pipeline: Any, snapshot: str, description: str, t0: datetime
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """A candidate the pipeline role registers, its experiment started at t0: (package, state, challenger)."""
        package = register_candidate(pipeline, REGION, snapshot=snapshot, description=description)
        state = self.start(package, t0)
        return package, state, state["challenger"]

    def watch(self, state: dict[str, Any], t0: datetime, limit: int, naive: bool = False) -> dict[str, Any]:
        """A look every 5 minutes after the challenger went live (t0 + 1 min)."""
        minute = 5
        while minute <= limit:
            state["watch"] = look = self.step("watch", state, t0 + timedelta(minutes=1 + minute, seconds=5))
            result = look["result"]
            v = result["variants"]
            p, c = v["production"], v["challenger"]
            note = ""
            if naive:
                verdict = naive_rule(
                    VariantCounts(p["impressions"], p["clicks"]), VariantCounts(c["impressions"], c["clicks"])
                )
                note = "   naive 0.9x rule: REJECT" if verdict == REJECT else "   naive 0.9x rule: -"
                self.naive_looks.append(verdict == REJECT)
            print(
                f"   look at {result['elapsed_minutes']:>3.0f} min: {look['decision']:<17} challenger "
                f"{pct(c['ctr']):>6} [{pct(c['ctr_lower'])}-{pct(c['ctr_upper'])}] on {c['impressions']:>6,.0f}, "
                f"production {pct(p['ctr']):>6} on {p['impressions']:>7,.0f} impressions{note}"
            )
            if look["decision"] != "CONTINUE":
                return state
            minute += 5
        raise RuntimeError("no verdict in the demo window")

    def finding(self, finding_id: str) -> dict[str, str]:
        item = self.stage.ddb.get_item(
            TableName=self.stage.resources["FINDINGS_TABLE_NAME"], Key={"finding_id": {"S": finding_id}}
        )["Item"]
        return {k: v["S"] for k, v in item.items() if "S" in v}


def _wrap(text: str, indent: str = "     ") -> str:
    return textwrap.fill(text, width=116, initial_indent=indent, subsequent_indent=indent)


def _config_env(**challenger: Any) -> None:
    os.environ.update(environment(Challenger(**challenger), Thresholds(), [PIPELINE_ROLES]))
    reset_all()


PIPELINE_ROLES = "arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"


def _pipeline_registry(stage: Stage, iam: Any) -> Any:
    """SageMaker as the deployment pipeline role (allow-listed in guardrails.pipeline_role_arns) calls it."""
    import boto3

    role = iam.create_role(
        RoleName="MlGovDeploymentPipelineRetraining", Path="/mlgov-protected/", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    sts = stage.session.client("sts", endpoint_url=stage.url)
    c = sts.assume_role(RoleArn=role, RoleSessionName="retraining")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=REGION,
    )
    return session.client("sagemaker", endpoint_url=stage.url)


def forged_event(stage: Stage, drive: Driver, now: datetime) -> None:
    """Issue 20: anyone with events:PutEvents can send the retraining event, and anyone with CreateModelPackage
    can register an eligible-looking package; neither gets a challenger on live traffic."""
    forged = register_candidate(stage.sm, REGION, snapshot="2026-11-24", description="anyone's container")
    event = registration_event(forged, "2026-11-24", "forged-registration", ACCOUNT)
    with contextlib.redirect_stdout(io.StringIO()):
        drive.handler.handler(event, FakeContext())
        elsewhere = drive.handler.handler({**event, "id": "from-elsewhere", "account": "210987654321"}, FakeContext())
    state = drive.start(forged, now - timedelta(minutes=30))
    ch = state["challenger"]
    print(f"\n-- a forged registration event for v{ch['version']} (registered by a developer, announced by hand):")
    print(_wrap(f"refused ({ch['refusal']}): {ch['reason']}"))
    stored = drive.finding(ch["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}); endpoint unchanged: {_variants(stage)}")
    print(f"   the same event sent from account 210987654321: {elsewhere['status']}, no execution started")
    try:
        fake = {"execution": state["execution"].rsplit(":", 1)[0] + ":made-up", "challenger": ch}
        drive.step("reject", fake, now)
    except Exception as exc:
        print(_wrap(f"a direct 'reject' invocation with a made-up state: {exc}"))


def _variants(stage: Stage) -> str:
    endpoint = stage.sm.describe_endpoint(EndpointName=PROD)
    config = stage.sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint["ProductionVariants"]}
    return ", ".join(
        f"{v['VariantName']} -> {v['ModelName']} (weight {weights.get(v['VariantName'], v['InitialVariantWeight']):g})"
        for v in config["ProductionVariants"]
    )


def play(stage: Stage) -> None:
    os.environ.update(handler_environment(stage.url, stage.resources, ACCOUNT))
    cw, sfn, iam = (stage.session.client(s, endpoint_url=stage.url) for s in ("cloudwatch", "stepfunctions", "iam"))
    (machine,) = recording_state_machines(iam, sfn, "mlgov-challenger", role_name="mlgov-sandbox-challenger")
    os.environ["CHALLENGER_STATE_MACHINE_ARN"] = machine
    _config_env()
    drive = Driver(stage, sfn, machine)
    pipeline = _pipeline_registry(stage, iam)
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    print("\n== challenger CTR gate (spec scenario 3, stage 2): candidates tried on 10% of manga-recommender-prod")
    print(f"   before: {_variants(stage)}")
    print("   the gate: minute-level confidence sequence on the click split (REJECT budget 1%: CTR test 0.7%, six")
    print("   guardrails 0.05% each), impressions cross-checked against SageMaker Invocations, sample ratio on")
    print("   invocations; PROMOTE after 120 min when the CTR ratio's lower bound >= 0.95, the last 60 min hold")
    print("   too, and CTR >= 7.5%")

    # The retraining pipeline announces a candidate; a duplicate delivery starts nothing more.
    worse = register_candidate(pipeline, REGION, snapshot="2026-11-20", description="candidate: popularity-biased")
    event = registration_event(worse, "2026-11-20", "5c1f0a7e-challenger-demo", ACCOUNT, execution="retraining")
    with contextlib.redirect_stdout(io.StringIO()):
        first = drive.handler.handler(event, FakeContext())
        drive.handler.handler(event, FakeContext())
    runs = sfn.list_executions(stateMachineArn=machine)["executions"]
    print(
        f"\n-- the retraining event for v{worse.rsplit('/', 1)[1]} {first['status']} execution "
        f"{first['execution_arn'].rsplit(':', 1)[1]}; delivered again: {len(runs)} execution in all"
    )

    forged_event(stage, drive, now)
    # Issue 27: a candidate trained on an older catalog snapshot than production's (2026-10-28) is refused.
    older = register_candidate(pipeline, REGION, snapshot="2026-09-30", description="candidate: old catalog")
    print("\n-- a candidate trained on the 2026-09-30 catalog snapshot; production's is 2026-10-28:")
    argv = ["challenger", "start", "--package", older]
    print_cli(argv, *run_cli(stage, {}, *argv))

    # 1. A worse challenger, at 3,500 impressions a minute: rejected by the CTR test.
    t0 = now - timedelta(minutes=17)
    state = drive.start(worse, t0)
    ch = state["challenger"]
    print(f"-- 1. v{ch['version']}: CTR 30% below production, 3,500 recommendation impressions/min")
    print(f"   deployed: {_variants(stage)}")
    put_challenger_traffic(cw, ch, t0, 16, 3500, seed=11, ctr=0.056)
    argv = ["challenger", "status", "--endpoint", PROD, "--minutes", "15"]
    print_cli(argv, *run_cli(stage, {}, *argv))
    state = drive.watch(state, t0, 60)
    rejected = drive.step("reject", state, t0 + timedelta(minutes=12))
    print(f"   after the weight change: {_variants(stage)}")
    drive.step("endpoint_status", state, t0 + timedelta(minutes=13))
    drive.step("restore", state, t0 + timedelta(minutes=14))
    print(f"   restored: {_variants(stage)}")
    package = stage.sm.describe_model_package(ModelPackageName=worse)
    print(f"   registry: v{ch['version']} {package['ModelApprovalStatus']}, ApprovalDescription:")
    print(_wrap(package["ApprovalDescription"]))
    stored = drive.finding(rejected["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")
    reason = next((b["reason"] for b in map(_json, drive.emf.splitlines()) if b and "ModelRejectionEvent" in b), "-")
    print(f"   metric MLGovernance/ModelRejectionEvent = 1 with reason={reason}")

    # 2. The spec's traffic (~70 impressions/min) and its 30-minute window: no verdict either way.
    _config_env(max_minutes=30, min_minutes=30)
    t0 = now - timedelta(days=3)
    same, state, ch = drive.start_candidate(pipeline, "2026-11-21", "candidate: same quality", t0)
    print(
        f"\n-- 2. v{ch['version']}: as good as production, at the spec's ~70 impressions/min and 30-minute window "
        "(challenger.max_minutes=30)"
    )
    put_challenger_traffic(cw, ch, t0, 31, 70, seed=5)
    state = drive.watch(state, t0, 35, naive=True)
    ended = drive.step("end", state, t0 + timedelta(minutes=31))
    drive.step("restore", state, t0 + timedelta(minutes=32))
    stored = drive.finding(ended["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")
    needed = state["watch"]["result"]["statistics"]["needed"]
    if needed.get("additional_impressions") is not None:
        more = needed["additional_impressions"]
        print(
            f"     if the observed CTRs held: {needed['verdict']} after about {more:,} more impressions "
            f"({needed['additional_minutes']:,.0f} more minutes at this traffic)"
        )
    naive = drive.naive_looks
    print(
        f"   the spec's naive 0.9x rule would have rejected this equal challenger at {sum(naive)} of {len(naive)} looks"
    )
    print(
        f"   registry: v{ch['version']} {stage.sm.describe_model_package(ModelPackageName=same)['ModelApprovalStatus']}"
        f" (neither promoted nor rejected); endpoint: {_variants(stage)}"
    )
    _config_env()

    # 3. A better challenger: promoted, then reviewed seven days on.
    t0 = now - timedelta(days=9)
    better, state, ch = drive.start_candidate(pipeline, "2026-11-22", "candidate: diverse", t0)
    print(f"\n-- 3. v{ch['version']}: CTR 10% above production, 3,500 impressions/min")
    put_challenger_traffic(cw, ch, t0, 200, 3500, seed=8, ctr=0.088)
    state = drive.watch(state, t0, 200)
    decided = t0 + timedelta(minutes=state["watch"]["elapsed_minutes"] + 2)
    state["promotion_check"] = drive.step("check_promotion", state, decided)
    # ApprovePackage: the state machine's own SDK call, as its approver role.
    stage.sm.update_model_package(
        ModelPackageArn=better,
        ModelApprovalStatus="Approved",
        ApprovalDescription=state["watch"]["approval_description"],
    )
    package = stage.sm.describe_model_package(ModelPackageName=better)
    print(f"   ApprovePackage (the state machine's approver role): v{ch['version']} {package['ModelApprovalStatus']}:")
    print(_wrap(package["ApprovalDescription"]))
    state["promotion"] = drive.step("promote", state, decided + timedelta(minutes=1))
    tags = {t["Key"]: t["Value"] for t in stage.sm.list_tags(ResourceArn=ch["endpoint_arn"])["Tags"]}
    print(f"   promoted: {_variants(stage)}; tag ModelPackageName -> v{tags['ModelPackageName'].rsplit('/', 1)[1]}")
    promoted_at = decided + timedelta(minutes=1)
    put_retention(cw, PROD, t0 - timedelta(days=7), 7, 0.412)
    put_retention(cw, PROD, promoted_at, 7, 0.371)
    review = drive.step("review", state, promoted_at + timedelta(days=7))
    metadata = stage.sm.describe_model_package(ModelPackageName=better)["CustomerMetadataProperties"]
    print(
        f"   7 days later: UserRetention7d {review['before']:.3f} -> {review['after']:.3f}; package metadata "
        f"production_7day_retention_delta={metadata['production_7day_retention_delta']}"
    )
    stored = drive.finding(review["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")

    # A package the offline gate did not pass is refused before anything is deployed.
    failed_gate = register_candidate(pipeline, REGION, snapshot="2026-11-23", eligible=False)
    argv = ["challenger", "start", "--package", failed_gate]
    print_cli(argv, *run_cli(stage, {}, *argv))

    forged_metrics(stage, drive, cw, now, pipeline)
    counts_from_the_table(stage, drive, cw, now, pipeline)

    # 4. Roll back what the review flagged: the previous Approved version, blue/green.
    print("\n-- 4. rollback (spec scenario 1, follow-up 2) of the promoted version")
    reason = "retention -10% after 7 days"
    argv = ["rollback", "--endpoint", PROD, "--group", GROUP, "--reason", reason, "--dry-run"]
    print("   the sandbox has no model.tar.gz or image behind the previous version yet: the target check refuses")
    print_cli(argv, *run_cli(stage, {}, *argv))
    seeded = seed_artifacts(lambda service, **kw: stage.session.client(service, endpoint_url=stage.url, **kw))
    print(f"   put every package's artifact (S3) and image (ECR, the image's own registry): {len(seeded)} objects")
    for extra in (["--dry-run"], []):
        argv = ["rollback", "--endpoint", PROD, "--group", GROUP, "--reason", reason, *extra]
        print_cli(argv, *run_cli(stage, {}, *argv))
    package = stage.sm.describe_model_package(ModelPackageName=better)
    print(f"   registry: v{ch['version']} {package['ModelApprovalStatus']}: {package['ApprovalDescription']}")
    print(f"   endpoint: {_variants(stage)}")
    argv = ["rollback", "--endpoint", "manga-recommender-serverless", "--group", GROUP]
    print("   manga-recommender-serverless serves v1, the group's first Approved version:")
    print_cli(argv, *run_cli(stage, {}, *argv))
    fallback.play(stage, drive, cw, now, pipeline)  # issue 27: the gradual fallback, the diversity guardrail
    os.environ.pop("MLGOV_CHALLENGER_SETTINGS", None)
    reset_all()


def forged_metrics(stage: Stage, drive: Driver, cw: Any, now: datetime, pipeline: Any) -> None:
    """Issue 20: someone with cloudwatch:PutMetricData inflates a 2.4 % CTR challenger's impressions and clicks
    (and production's, keeping the split): the gate cross-checks impressions against SageMaker's Invocations."""
    _config_env(min_minutes=30, max_minutes=60)
    t0 = now - timedelta(days=2)
    weak, state, ch = drive.start_candidate(pipeline, "2026-11-24", "candidate: weak", t0)
    print(f"\n-- v{ch['version']}: CTR 2.4% at 600 impressions/min, its recommendation metrics forged")
    put_challenger_traffic(cw, ch, t0, 40, 600, seed=21, ctr=0.024)
    forged = {ch["challenger_variant"]: (5550, 500), ch["production_variant"]: (49_950, 4000)}
    datums = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "EndpointName", "Value": PROD}, {"Name": "VariantName", "Value": variant}],
            "Timestamp": t0 + timedelta(minutes=1 + minute, seconds=40),
            "Value": float(value),
        }
        for minute in range(40)
        for variant, (impressions, clicks) in forged.items()
        for metric, value in (("RecommendationImpressions", impressions), ("RecommendationClicks", clicks))
    ]
    for i in range(0, len(datums), 500):
        cw.put_metric_data(Namespace="MangaAssist/Recommendations", MetricData=datums[i : i + 500])
    print("   PutMetricData: +222,000 challenger impressions (9% clicks) and production's inflated to keep the split")
    state = drive.watch(state, t0, 40)
    cross = state["watch"]["result"]["statistics"].get("impressions_crosscheck") or {}
    per = cross.get("challenger")
    print(f"   challenger impressions per SageMaker invocation: {per:.1f} (allowed {cross.get('band')})")
    ended = drive.step("end", state, t0 + timedelta(minutes=42))
    drive.step("restore", state, t0 + timedelta(minutes=43))
    stored = drive.finding(ended["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")
    status = stage.sm.describe_model_package(ModelPackageName=weak)["ModelApprovalStatus"]
    print(f"   registry: v{ch['version']} {status} (never promoted, never rejected); endpoint: {_variants(stage)}")
    _config_env()


def counts_from_the_table(stage: Stage, drive: Driver, cw: Any, now: datetime, pipeline: Any) -> None:
    """Issue 20, the Embedded Metric Format residual: with challenger.metrics.source table the recommender adds its
    counts to the product's table (which only the metric writers may write), and clicks that reach the CloudWatch
    namespace, as a log event in Embedded Metric Format would put them there, are not read."""
    from mlgov_runtime.challenger.config import COUNTS_TABLE

    _config_env(metrics={"source": "table"})
    create_counts_table(stage.ddb)  # sealed with the product's policy, as the stack makes it: the watch checks it
    t0 = now - timedelta(days=4)
    worse, state, ch = drive.start_candidate(pipeline, "2026-11-24", "candidate: worse, counted in the table", t0)
    print(
        f"\n-- v{ch['version']}: CTR 30% below production at 3,500 impressions/min, challenger.metrics.source table: "
        f"the recommender adds its counts to {COUNTS_TABLE}"
    )
    put_challenger_traffic(cw, ch, t0, 16, 3500, seed=31, counts_table=stage.ddb, ctr=0.056)
    dims = [{"Name": "EndpointName", "Value": PROD}, {"Name": "VariantName", "Value": ch["challenger_variant"]}]
    forged = [
        {
            "MetricName": metric,
            "Dimensions": dims,
            "Timestamp": t0 + timedelta(minutes=1 + minute, seconds=40),
            "Value": value,
        }
        for minute in range(16)
        for metric, value in (("RecommendationImpressions", 350.0), ("RecommendationClicks", 35.0))
    ]
    cw.put_metric_data(Namespace="MangaAssist/Recommendations", MetricData=forged)
    print(
        "   the CloudWatch namespace gets the challenger's impressions with a 10% CTR, as an Embedded Metric Format "
        "log event would put them there: not read"
    )
    state = drive.watch(state, t0, 60)
    rejected = drive.step("reject", state, t0 + timedelta(minutes=12))
    drive.step("endpoint_status", state, t0 + timedelta(minutes=13))
    drive.step("restore", state, t0 + timedelta(minutes=14))
    stored = drive.finding(rejected["finding_id"])
    print(f"   finding {stored['kind']} ({stored['severity']}): {stored['title']}")
    status = stage.sm.describe_model_package(ModelPackageName=worse)["ModelApprovalStatus"]
    print(f"   registry: v{ch['version']} {status}; endpoint: {_variants(stage)}")
    _config_env()


def _json(line: str) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        blob = json.loads(line)
        if isinstance(blob, dict) and "_aws" in blob:
            return blob
    return None
