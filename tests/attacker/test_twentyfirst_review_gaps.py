"""Twenty-first review: an attacker and failure review of 4e36d25 and cc69e91: (a) the lineage audit's deployment
record at a deploy call's audit ("" for a configuration found re-created or gone, "<" and the audit's time for one it
cannot read, compared by later audits in `_replaced_config`, the org scan's worker reading the same record); (b) the
capacity check's `CapacityAudit.waiting` (a component host up to 6 hours old at its InService, or 30 minutes at other
checks, closes nothing of ENDPOINT_CAN_SCALE_TO_ZERO; the scan's check is inconclusive); (c) `mlgov retire recreate`
tagging ModelPackageName with the package the kept configuration's first model names (`_served_package`). As in the
sixteenth, nineteenth and twentieth reviews, the attacker is a developer in a member account the pipeline does not
guard (DenyLineageChangeOutsidePipeline applies only under `governance_target_ids`), and the failure injector a
throttled Describe rate or a blue/green update whose alarm rolls it back.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) An UpdateEndpoint's audit re-records the configuration in service, which that call did not deploy, so a
    re-created configuration's mark is written over and the open finding resolved while the first fleet serves.
    The audit of a deploy call "records and never compares", and it records every configuration it reads: during
    an update that is the one in service (DescribeEndpoint's EndpointConfigName, the blue fleet) as well as the
    pending one the call names. Reproduction (below): a raw-artifact endpoint is created (its CreateEndpoint audit
    records the configuration, UNREGISTERED_ENDPOINT opens); the developer deletes the configuration and makes it
    again under its name (same variant name, an Approved model): a weight call's audit is ARTIFACT_MISMATCH, the
    record holds. Then UpdateEndpoint to any other configuration, audited while the update runs: that audit records
    the re-created configuration's CreationTime as what deployed, is COMPLIANT (the re-created one passes the two
    older checks, the pending one is Approved) and RESOLVES the UNREGISTERED finding. With
    `DeploymentConfig.AutoRollbackConfiguration` naming an alarm already in ALARM, SageMaker rolls all traffic back
    to the blue fleet ("If any of the pre-specified alarms trip during any baking period, then all endpoint traffic
    rolls back to the blue fleet", SageMaker's blue/green deployment guide): the endpoint serves the raw artifact
    again, under the re-created configuration's name, and every later audit compares with the record the update's
    audit wrote: COMPLIANT. Even without the rollback the finding is resolved for the whole update (a linear or
    canary shift with baking periods lasts hours) while the raw fleet still takes traffic. A pipeline update that
    fails and rolls back does the same to a configuration re-created before it. Fix: at a deploy call's audit
    record afresh only the configuration the call names (`requestParameters.endpointConfigName`); any other it
    reads (the one in service during an update) is compared with the record as later audits do, and the record's
    entry for it carried over (its "" or earlier CreationTime kept), so the re-created one stays
    ARTIFACT_MISMATCH until a redeploy that completes.
    Fixed: a deploy call's audit records afresh only the configuration `requestParameters.endpointConfigName` names
    (a call naming none: every one read, as before); any other it reads is compared with the record and keeps its
    entry (lineage_audit/handler.py `_compared`, `_deployment`).
 2. (medium) The twentieth review's hole 3 comes back through UpdateEndpoint: the "<" mark is written only for the
    configuration the endpoint names (`_config_variants` records an unreadable one only when given `endpoint`),
    never for the pending one, and during an update the configuration the call deploys IS the pending one. So an
    UpdateEndpoint whose audit finds DescribeEndpointConfig of the new configuration throttled records nothing for
    it; once the update completes it is "a configuration the record does not name" and the two older checks
    decide alone. Reproduction (below): the developer makes a configuration naming the raw artifact, floods the
    account's Describe rate and runs UpdateEndpoint to it (its audit: not COMPLIANT, a finding open); the update
    completes; the developer deletes that configuration and makes it again (same variant name, an Approved model),
    then UpdateEndpointWeightsAndCapacities: that call's audit is COMPLIANT and resolves the finding while the raw
    artifact serves. Unlike the twentieth review's "left as is" (a pending configuration gone or re-created DURING
    the update, where what SageMaker reads is unclear), the re-creation here follows the update's completion, so
    the mark (the audit's time, during the update) would catch it. Fix: record the "<" mark (and "") for the
    pending configuration as for the current one: what the call names is what it deploys.
    Fixed: the "" and "<" marks are written for the pending configuration too.
 3. (low) A malformed unread mark fails the real-time audit of the whole account. `ServingIndex.deployment`
    accepts any string value, and `_replaced_config` calls `datetime.fromisoformat` on whatever follows "<"
    unguarded: a record value "<not a time" raises ValueError out of the audit, so every audit that reaches that
    endpoint fails whole: its own events, and the calls that name no endpoint (DeleteModel and the like) and the
    schedule, which audit every endpoint of the account, so none of them is audited by those. docs/lineage-audit.md
    says "a deleted or
    malformed one returns to the two checks". Only the audit function's and the scan worker's roles may write the
    table (its resource policy), or the account's root user after replacing the policy, so low; the org scan
    contains it per endpoint (one check's failure is that row's inconclusive check). Fix: a value that does not
    parse is as no record (validate in `ServingIndex.deployment`: "", "<" + an aware ISO time, or an ISO time).
    Fixed: `ServingIndex.deployment` returns no record when a "<" mark is not an aware ISO time.

Held (plain tests below): an ordinary deployment whose deploy audit was throttled stays COMPLIANT after a weight call
(the configuration was made before the audit's time: no false HIGH); the "<" comparison is between instants
(botocore gives CreationTime in the local zone, `tzlocal`, the mark is UTC; +09:00, -05:00 and UTC alike, a second
either side); an UpdateEndpoint audited while it runs records the pending configuration it can read, so once the
update completes a re-creation of that configuration is ARTIFACT_MISMATCH; `_served_package` tags another account's
package as the model names it, nothing for a package named by name or a component host (break-glass only, as
docs/retirement.md says), the next variant's package when the first model is deleted. By reading: the lineage audit
compares the endpoint's ModelPackageName tag with each container's declared package, which is the string
`_served_package` read from the same DescribeModel field, so a re-created endpoint's tag never disagrees; the org scan's
worker passes the same record to the same `_replaced_config`, with botocore's datetimes, so it judges a mark as the
real-time audit does.

Left as is:
 - The mark is the audit Lambda's clock, CreationTime SageMaker's. The configuration of an ordinary deployment is
   made before the deploy call, and the audit runs after CloudTrail's delivery, so clock skew (NTP-synced, well
   under a second) cannot make it later than the mark; the held test covers the shape. Lambda reserves TZ, so the
   `tzlocal` isoformat strings the other records compare are UTC in the audit and in the scan worker alike (the CLI
   does not read records). Records written before 4e36d25 hold "" or ISO times only, read as before.
 - A naive mark ("<2026-12-07T21:00:00") compares with nothing (`_later` swallows the TypeError) and "<" alone is
   ARTIFACT_MISMATCH: a forged record hiding a re-creation or raising a false mismatch, which docs/lineage-audit.md
   already allows for; only the product's roles write the table.
 - Whether DescribeEndpoint during an update names the blue fleet's configuration and lists the green one in
   PendingDeploymentSummary, and names the blue one again after an alarm rollback, was not confirmed on a real
   account; it is the product's own model (docs/lineage-audit.md: "current and, during an update, pending") and the
   only reading consistent with the blue/green guide. An update's audit that runs only after the update completed
   sees the new configuration as current, where holes 1 and 2 do not arise.
 - The scan's `inconclusive` for a waiting host keeps every capacity kind of that endpoint open, not only
   ENDPOINT_CAN_SCALE_TO_ZERO as report() does. A host waits at a scan only in its first 30 minutes, and its
   InService check (report()) resolves the other kinds, so at most a stale finding waits a week if that event is
   lost; not tested.
 - A waiting host emits EndpointCanScaleToZero 0 while a page it keeps open says it serves nothing. The metric has
   no endpoint dimension and nothing in the stacks alarms on it; docs/capacity.md says 1 or 0 per endpoint checked
   and none only for one unread. Not a hole as documented; a dashboard reader may prefer no datapoint there.
 - A waiting host that never gets its components is paged by the weekly scan only: the nineteenth review's hole 5,
   whose check at the grace's end was not done; unchanged by the 6-hour wait (it only moves the InService check).
 - `_served_package` skips a model whose DescribeModel is throttled as if deleted: no tag, so the pipeline's
   CreateEndpoint is refused (DenyEndpointWithoutPackageTag) and `recreate` fails; run it again. Whether DescribeModel
   returns a package named by name as its ARN was not confirmed; either way the tag is the string the audit reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError

from mlgov.estate import ROLE_ARN, SERVING_INDEX
from mlgov_runtime.lineage_audit.logic import stamp
from tests.attacker.test_sixteenth_review_gaps import (
    HOTFIX,
    _about_hotfix,
    _open_violation,
    _record,
    _recreate_config,
    _verdict,
    _weights_call,
    indexed,
)
from tests.attacker.test_twentieth_review_gaps import _throttled
from tests.integration.conftest import ACCOUNT, REGION, Sandbox, sandbox
from tests.integration.test_lineage_audit_handler import create_event

__all__ = ["indexed", "sandbox"]

PROD = "manga-recommender-prod"
NEXT = "hotfix-next"  # the configuration an UpdateEndpoint names


def _config(sandbox: Sandbox, name: str, model: str) -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}
    sandbox.sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.2xlarge"}]
    )


def _update_event(event_id: str, config: str) -> dict[str, Any]:
    event = create_event(HOTFIX, event_id)
    event["detail"]["eventName"] = "UpdateEndpoint"
    event["detail"]["requestParameters"]["endpointConfigName"] = config
    return event


def _audited_while_updating(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, config: str, throttled: str | None = None
) -> dict[str, Any]:
    """The UpdateEndpoint call's audit while the update runs: DescribeEndpoint still names the configuration in
    service and lists the one being deployed in PendingDeploymentSummary (moto switches at once). `throttled`: a
    configuration whose DescribeEndpointConfig is refused for the account's spent Describe rate."""
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "DescribeEndpointConfig" and params.get("EndpointConfigName") == throttled:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, name)  # type: ignore[arg-type]
        answer = original(self, name, params)
        if name == "DescribeEndpoint" and params.get("EndpointName") == HOTFIX:
            variants = [{"VariantName": "AllTraffic"}]
            pending = {"EndpointConfigName": config, "ProductionVariants": variants, "StartTime": datetime.now(UTC)}
            answer = {**answer, "EndpointStatus": "Updating", "PendingDeploymentSummary": pending}
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        return dict(sandbox.invoke(_update_event("update", config)))


# -- hole 1: an UpdateEndpoint that rolls back re-records the re-created configuration it did not deploy


def test_an_update_that_rolls_back_does_not_clear_the_record_of_a_recreated_configuration(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_violation(indexed)  # CreateEndpoint's audit: the raw artifact recorded
    _recreate_config(indexed, "AllTraffic")  # same name and variant, the Approved v2 model
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "ARTIFACT_MISMATCH"  # the record holds
    _config(indexed, NEXT, "manga-rec-v2")
    _audited_while_updating(indexed, monkeypatch, NEXT)
    # Was ARTIFACT_MISMATCH a moment ago: the call's audit records the re-created configuration it did not deploy.
    assert _record(indexed, HOTFIX) is not None
    # The green fleet's alarm trips and traffic rolls back to the blue fleet, the one of the first deployment (moto's
    # endpoint was never switched); any later audit compares with the record the update's audit wrote.
    row = _weights_call(indexed, HOTFIX, "after-rollback")
    resolved = [f["kind"] for f in _about_hotfix(indexed.published()) if f["status"] == "RESOLVED"]
    assert row["verdict"] != "COMPLIANT" and not resolved, (row, resolved)


# -- hole 2: the pending configuration unreadable at an UpdateEndpoint's audit is recorded as nothing


def test_a_pending_configuration_unreadable_at_its_update_audit_is_not_trusted_after_a_weight_call(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(indexed, NEXT, "manga-rec-raw")
    assert _verdict(_audited_while_updating(indexed, monkeypatch, NEXT, throttled=NEXT)) != "COMPLIANT"
    indexed.sm.update_endpoint(EndpointName=HOTFIX, EndpointConfigName=NEXT)  # the update completes
    indexed.sm.delete_endpoint_config(EndpointConfigName=NEXT)
    _config(indexed, NEXT, "manga-rec-v2")
    row = _weights_call(indexed, HOTFIX, "weights")
    resolved = [f["kind"] for f in _about_hotfix(indexed.published()) if f["status"] == "RESOLVED"]
    assert row["verdict"] != "COMPLIANT" and not resolved, (row, resolved)


# -- hole 3: a malformed unread mark fails the audit of every endpoint in the account


def _scratch_delete_model_event(sandbox: Sandbox) -> dict[str, Any]:
    """A DeleteModel of a scratch model: its audit re-audits every endpoint of the account."""
    sandbox.sm.create_model(
        ModelName="scratch", ExecutionRoleArn=ROLE_ARN.format(account=ACCOUNT), PrimaryContainer={"Image": "x"}
    )
    sandbox.sm.delete_model(ModelName="scratch")
    event = create_event(HOTFIX, "scratch")
    event["detail"]["eventName"] = "DeleteModel"
    event["detail"]["requestParameters"] = {"modelName": "scratch"}
    return event


def test_a_malformed_unread_mark_is_as_no_record(indexed: Sandbox) -> None:
    from mlgov_runtime.adapters.serving_index import ServingIndex

    created = str(stamp(indexed.sm.describe_endpoint(EndpointName=HOTFIX)["CreationTime"]))
    ServingIndex(indexed.ddb, SERVING_INDEX).record_deployment(
        ACCOUNT, REGION, HOTFIX, created, {f"{HOTFIX}-config": "<not a time"}
    )
    try:
        result = indexed.invoke(_scratch_delete_model_event(indexed))
    except ValueError as exc:  # the audit of the whole account fails
        result = {"error": repr(exc)}
    verdicts = {r["endpoint_name"]: r.get("verdict") for r in result.get("results", [])}
    # docs/lineage-audit.md: "a deleted or malformed one returns to the two checks".
    assert verdicts.get(HOTFIX) == "UNREGISTERED" and verdicts.get(PROD) == "COMPLIANT", result


# -- what held: no false page on an ordinary throttled deploy, time zones, the redeploy


def test_an_ordinary_deployment_unreadable_at_its_deploy_audit_stays_compliant_after_a_weight_call(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No false HIGH: the configuration was made before the audit's time, so the unread mark does not flag it."""
    with monkeypatch.context() as patch:
        _throttled(patch, f"{PROD}-config")
        assert _verdict(indexed.invoke(create_event(PROD, "deploy"))) == "ERROR"
    record = _record(indexed, PROD)
    assert record is not None and record["configs"][f"{PROD}-config"].startswith("<")
    row = _weights_call(indexed, PROD, "weights")
    assert row["verdict"] == "COMPLIANT", row


@pytest.mark.parametrize("hours", [9, -5, 0])
def test_the_unread_mark_compares_instants_whatever_the_time_zone(hours: int) -> None:
    """botocore gives CreationTime in the local zone (tzlocal); the mark is UTC: they compare as instants."""
    from mlgov_runtime.lineage_audit.logic import _replaced_config

    audited = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    zone = timezone(timedelta(hours=hours))
    endpoint = {
        "EndpointConfigName": "c",
        "LastModifiedTime": audited + timedelta(hours=1),
        "ProductionVariants": [{"VariantName": "AllTraffic"}],
    }
    mark = f"<{audited.isoformat()}"
    for offset, replaced in ((-1, False), (1, True)):
        created = (audited + timedelta(seconds=offset)).astimezone(zone)
        config = {"CreationTime": created, "ProductionVariants": [{"VariantName": "AllTraffic"}]}
        assert bool(_replaced_config(config, endpoint, mark)) is replaced, (hours, offset)


def test_a_completed_redeploy_to_a_new_configuration_is_judged_on_it(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: an UpdateEndpoint audited while it runs records the pending configuration it reads, so once the update
    completes that configuration is compared with the record (a re-creation of it after is ARTIFACT_MISMATCH)."""
    _config(indexed, NEXT, "manga-rec-v2")
    _audited_while_updating(indexed, monkeypatch, NEXT)
    record = _record(indexed, HOTFIX)
    assert record is not None and NEXT in record["configs"]
    indexed.sm.update_endpoint(EndpointName=HOTFIX, EndpointConfigName=NEXT)
    assert _weights_call(indexed, HOTFIX, "weights")["verdict"] == "COMPLIANT"
    indexed.sm.delete_endpoint_config(EndpointConfigName=NEXT)
    _config(indexed, NEXT, "manga-rec-v2")
    assert _weights_call(indexed, HOTFIX, "again")["verdict"] == "ARTIFACT_MISMATCH"


class _Registry:
    """DescribeEndpointConfig/DescribeModel answers for `_served_package` (a deleted model: ValidationException)."""

    def __init__(self, variants: list[dict[str, Any]], models: dict[str, dict[str, Any]]) -> None:
        self.variants, self.models = variants, models

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        return {"ProductionVariants": self.variants}

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        if ModelName not in self.models:
            error = {"Error": {"Code": "ValidationException", "Message": "Could not find model"}}
            raise ClientError(error, "DescribeModel")  # type: ignore[arg-type]
        return self.models[ModelName]


OTHER = "arn:aws:sagemaker:us-east-1:210987654321:model-package/manga-recommender/4"


@pytest.mark.parametrize(
    ("variants", "models", "expected"),
    [
        # Another account's package: the tag names it as the model does (the audit compares the same string).
        ([{"ModelName": "m"}], {"m": {"PrimaryContainer": {"ModelPackageName": OTHER}}}, OTHER),
        # A package named by name, not ARN: no tag (break-glass only, as docs/retirement.md says).
        ([{"ModelName": "m"}], {"m": {"PrimaryContainer": {"ModelPackageName": "manga-recommender"}}}, None),
        # The first model deleted: the next variant's package.
        ([{"ModelName": "gone"}, {"ModelName": "m"}], {"m": {"Containers": [{"ModelPackageName": OTHER}]}}, OTHER),
        # A component host: no variant names a model, no tag.
        ([{"VariantName": "AllTraffic"}], {}, None),
    ],
)
def test_recreate_tags_the_package_the_kept_configuration_names_or_nothing(
    variants: list[dict[str, Any]], models: dict[str, dict[str, Any]], expected: str | None
) -> None:
    from mlgov.commands.retirement import _served_package

    assert _served_package(_Registry(variants, models), "kept-config", "123456789012", "us-east-1") == expected
