"""`mlgov rollback`'s apply on the in-memory fakes: what happens when SageMaker or the registry answers badly
after the update started (the status read, the rejection)."""

from __future__ import annotations

from typing import Any, TypeVar

from mlgov.ops.challenger_rollback import NOT_REJECTED, ROLLED_BACK, Waiting, apply_rollback, plan_rollback
from tests.unit.test_challenger_logic import NOW, FakeSageMaker, pkg, variant


class Flaky(FakeSageMaker):
    def __init__(self) -> None:
        super().__init__()
        self.describe_failures = 0
        self.reject_fails = False

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        if self.describe_failures and self.changes and self.changes[-1][0] == "update_endpoint":
            self.describe_failures -= 1
            raise RuntimeError("ThrottlingException: Rate exceeded")
        return super().describe_endpoint(name)

    def reject_package(self, arn: str, description: str) -> None:
        if self.reject_fails:
            raise RuntimeError("AccessDeniedException: not authorized to UpdateModelPackage")
        super().reject_package(arn, description)


def _estate() -> Flaky:
    return _stock(Flaky())


_E = TypeVar("_E", bound=Flaky)


def _stock(sm: _E) -> _E:
    """v1 and v2 Approved, `prod` serving v2."""
    sm.package(1, "Approved", catalog_snapshot_date="2026-11-01")
    sm.package(2, "Approved", catalog_snapshot_date="2026-11-20")
    sm.model("rec-v2", pkg(2))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2"))
    return sm


def _waiting(progress: list[str]) -> Waiting:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return Waiting(600, 30, lambda: clock[0], sleep, progress.append)


def test_a_status_read_that_fails_during_the_wait_is_retried_not_taken_as_an_outcome() -> None:
    sm = _estate()
    sm.describe_failures = 2
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    progress: list[str] = []
    applied = apply_rollback(sm, sm, plan, NOW, _waiting(progress))
    assert applied.status == ROLLED_BACK and sm.packages[pkg(2)]["ModelApprovalStatus"] == "Rejected"
    assert len(progress) == 2 and "could not be read (ThrottlingException" in progress[0]


def test_a_rejection_that_fails_after_the_target_serves_says_what_is_left_to_do() -> None:
    sm = _estate()
    sm.reject_fails = True
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    applied = apply_rollback(sm, sm, plan, NOW, _waiting([]))
    assert applied.status == NOT_REJECTED and sm.packages[pkg(2)]["ModelApprovalStatus"] == "Approved"
    [step] = applied.next_steps
    assert "v1 serves" in step and f"update-model-package --model-package-arn {pkg(2)}" in step


class Recorder:
    """An S3 or ECR client that records the request and answers with `answer` (or raises it)."""

    def __init__(self, answer: Any) -> None:
        self.answer, self.calls = answer, list[tuple[str, dict[str, Any]]]()

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        return call


def _error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, "Op")


def test_the_artifact_check_reads_images_by_digest_in_their_own_region_and_tells_unknown_from_absent() -> None:
    from mlgov.ops.challenger_rollback import ArtifactCheck

    digest = "sha256:" + "a" * 64
    regions: list[str] = []
    ecr = Recorder({"imageDetails": [{"imageDigest": digest}]})

    def ecr_in(region: str) -> Recorder:
        regions.append(region)
        return ecr

    check = ArtifactCheck(Recorder(_error("403")), ecr_in)
    image = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/rec@{digest}"
    assert check.image(image) == ("present", digest)
    assert regions == ["eu-west-1"] and ecr.calls[0][1] == {
        "registryId": "111122223333",
        "repositoryName": "team/rec",
        "imageIds": [{"imageDigest": digest}],
    }
    assert check.image("docker.io/library/rec:1")[0] == "unknown"  # not ECR: cannot be checked here
    assert check.artifact("s3://bucket/model.tar.gz")[0] == "unknown"  # 403: no permission is not "gone"
    gone = ArtifactCheck(Recorder(_error("404")), lambda region: Recorder(_error("ImageNotFoundException")))
    assert gone.artifact("s3://bucket/model.tar.gz")[0] == "absent"
    assert gone.image("111122223333.dkr.ecr.us-east-1.amazonaws.com/rec:2")[0] == "absent"


def test_an_endpoint_whose_config_was_deleted_is_refused_before_any_change() -> None:
    import pytest

    from mlgov.ops.challenger_rollback import RollbackRefused

    sm = _estate()
    del sm.configs["prod-config"]
    with pytest.raises(RollbackRefused, match="endpoint config prod-config of prod was deleted"):
        plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW)
    assert sm.changes == []


class Refusing(Flaky):
    """A write that AWS refuses (`refuse`: operation -> ClientError) or whose answer is lost (`lose`)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, Exception] = {}

    def create_endpoint_config(self, name: str, base: Any, variants: list[dict[str, Any]], tags: Any) -> None:
        if "create_endpoint_config" in self.refuse:
            raise self.refuse["create_endpoint_config"]
        super().create_endpoint_config(name, base, variants, tags)

    def update_endpoint(self, endpoint: str, config: str) -> None:
        if "update_endpoint" in self.refuse:
            raise self.refuse["update_endpoint"]
        super().update_endpoint(endpoint, config)


def _refusing() -> Refusing:
    return _stock(Refusing())


def test_a_refused_config_write_stops_the_rollback_saying_what_exists_and_changes_nothing_else() -> None:
    from mlgov.ops.challenger_rollback import STOPPED

    sm = _refusing()
    sm.refuse["create_endpoint_config"] = _error("ThrottlingException")
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    applied = apply_rollback(sm, sm, plan, NOW, _waiting([]))
    assert applied.status == STOPPED and [c[0] for c in sm.changes] == ["create_model"]
    [line] = applied.next_steps
    assert (
        f"stopped at CreateEndpointConfig (ThrottlingException: ThrottlingException): created model {plan.model_name}"
        in line
    )
    assert f"delete-model --model-name {plan.model_name}" in line and "delete-endpoint-config" not in line
    assert "prod still serves prod-config and nothing was marked Rejected; run the same command again" in line
    assert sm.packages[pkg(2)]["ModelApprovalStatus"] == "Approved"


def test_a_lost_update_answer_the_endpoint_does_not_show_is_a_stop_that_says_the_update_may_still_land() -> None:
    from mlgov.ops.challenger_rollback import STOPPED

    sm = _refusing()
    sm.refuse["update_endpoint"] = TimeoutError("read timed out")  # no answer: taken or not, nobody knows
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    applied = apply_rollback(sm, sm, plan, NOW, _waiting([]))
    assert applied.status == STOPPED and sm.packages[pkg(2)]["ModelApprovalStatus"] == "Approved"
    [line] = applied.next_steps
    assert "the answer was lost, so the UpdateEndpoint may still land" in line and "run the same command again" in line


MADE_AT = "20261207000000"


def _rolled_back_by_hand(
    sm: FakeSageMaker, model: str, config: str = f"prod-rollback-v1-{MADE_AT}", tags: dict[str, str] | None = None
) -> None:
    """The endpoint serving v1 through `model` on `config` (tagged `tags`): by default, what a rollback from v2
    makes."""
    sm.model(model, pkg(1))
    sm.models[model]["ModelArn"] = f"arn:aws:sagemaker:model/{model}"
    sm.tags[f"arn:aws:sagemaker:model/{model}"] = tags or {}
    sm.endpoint("prod", variant("AllTraffic", model))
    sm.configs[config] = {**sm.configs.pop("prod-config"), "EndpointConfigName": config}
    sm.endpoints["prod"]["EndpointConfigName"] = config


def test_a_rerun_finishes_only_a_rollback_its_names_and_versions_describe() -> None:
    from mlgov.ops.challenger_rollback import ROLLBACK_FROM, rollback_names

    made, config = rollback_names("manga-recommender", "prod", 1, 2, NOW)
    assert (made, config) == (
        f"manga-recommender-v1-rollback-from-v2-{NOW:%Y%m%d%H%M%S}",
        f"prod-rollback-v1-{NOW:%Y%m%d%H%M%S}",
    )
    made, config = f"manga-recommender-v1-rollback-from-v2-{MADE_AT}", f"prod-rollback-v1-{MADE_AT}"
    # A rollback from v2 whose retag and rejection are left: finished, no new model or update (no tags needed)
    sm = _refusing()
    sm.package(1, "Approved")
    sm.package(2, "Approved")
    _rolled_back_by_hand(sm, made)
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    assert plan.finishing and plan.serving_package == pkg(2) and (plan.target or {})["version"] == 1
    applied = apply_rollback(sm, sm, plan, NOW, _waiting([]))
    assert applied.status == ROLLED_BACK and sm.packages[pkg(2)]["ModelApprovalStatus"] == "Rejected"
    assert [c[0] for c in sm.changes] == ["tag", "reject"]
    # Not finished: tags claiming a rollback on a model not named so (anyone may write tags), a name from an older
    # version, a config not the rollback's (or of another run), or the replaced version already Rejected
    forged = {"mlgov:managed-by": "challenger", ROLLBACK_FROM: "rec-v9"}
    for model, on_config, status, tags in [
        ("rb-v1", config, "Approved", forged),
        (f"manga-recommender-v1-rollback-from-v0-{MADE_AT}", config, "Approved", forged),
        (made, "prod-config", "Approved", forged),
        (made, f"prod-rollback-v1-{MADE_AT[:-1]}1", "Approved", None),
        (made, config, "Rejected", None),
    ]:
        sm = _refusing()
        sm.package(1, "Approved")
        sm.package(2, status)
        sm.model("rec-v9", pkg(2))
        _rolled_back_by_hand(sm, model, on_config, tags)
        plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
        assert not plan.finishing and plan.status == "no_previous_version", (model, on_config, status)


def test_an_endpoint_not_in_service_is_refused_by_the_plan_the_dry_run_makes_unless_only_fallbacks_remain() -> None:
    import pytest

    from mlgov.ops.challenger_rollback import RollbackRefused

    sm = _estate()
    sm.endpoints["prod"]["EndpointStatus"] = "Updating"
    with pytest.raises(RollbackRefused, match=r"prod is Updating, not InService: .*nothing was changed"):
        plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW)
    sm.packages[pkg(1)]["ModelApprovalStatus"] = "Rejected"  # no previous version: the fallbacks touch no endpoint
    assert plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW).status == "no_previous_version"
    assert sm.changes == []


class Pins:
    """A PinReader: the stored object's ETag and the tag's digest, or an unreadable store."""

    def __init__(self, etag: str, digest: str, unreadable: bool = False) -> None:
        self.etag, self.digest, self.unreadable = etag, digest, unreadable

    def head_object(self, uri: str) -> dict[str, Any]:
        from mlgov_runtime.lineage_audit.pins import PinUnreadable

        if self.unreadable:
            raise PinUnreadable("AccessDenied: s3:GetObject")
        return {"ETag": f'"{self.etag}"'}

    def image_digest(self, image: str) -> str:
        return self.digest


def test_the_serving_version_is_told_by_pins_that_hold_and_never_by_pins_that_cannot_be_read() -> None:
    import pytest

    from mlgov.ops.challenger_rollback import RollbackRefused

    image, digest = "111122223333.dkr.ecr.us-east-1.amazonaws.com/rec:v2", "sha256:" + "b" * 64
    container = {"Image": image, "ImageDigest": digest, "ModelDataUrl": "s3://b/v2.tar.gz", "ModelDataETag": "e2"}
    sm = _estate()
    sm.packages[pkg(2)]["InferenceSpecification"] = {"Containers": [container]}
    sm.models["rec-v2"]["PrimaryContainer"] = {"Image": image, "ModelDataUrl": "s3://b/v2.tar.gz"}
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW, pins=Pins("e2", digest))
    assert plan.serving_package == pkg(2) and (plan.target or {})["version"] == 1
    for pins, why in [
        (Pins("other", digest), "matches no Approved version"),  # the object was overwritten
        (Pins("e2", "sha256:" + "c" * 64), "matches no Approved version"),  # the tag was pushed again
        (Pins("e2", digest, unreadable=True), "pins that could not be read, so prove nothing: v2: "),
        (None, "matches no Approved version"),  # no reader: nothing can be proven
    ]:
        with pytest.raises(RollbackRefused, match="cannot be told") as refused:
            plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW, pins=pins)
        assert why in str(refused.value), str(refused.value)
    assert sm.changes == []
