"""CapacityGuard on a small app of its own: every way to let a SageMaker endpoint reach zero fails synth
with an error on the construct's path (L1 and L2, tokens it can resolve); what it cannot resolve warns."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Annotations, Match

from mlgov.cdk import CampaignScaling, CapacityGuard

pytestmark = pytest.mark.infrastructure
ROOT = Path(__file__).resolve().parents[2]
VARIANT = "sagemaker:variant:DesiredInstanceCount"
COPIES = "sagemaker:inference-component:DesiredCopyCount"
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"
EXPERIMENT_ACCOUNT, PROD_ACCOUNT = "210987654321", "123456789012"


@jsii.implements(cdk.IResolvable)
class LateZero:
    """A value only known when resolved (as Lazy values and tokens from other constructs are)."""

    creation_stack: list[str] = []

    def resolve(self, context: cdk.IResolveContext) -> Any:
        return 0

    def to_string(self) -> str:
        return cdk.Token.as_string(self)


def endpoint(stack: cdk.Stack, name: str = "manga-recommender-prod") -> sagemaker.CfnEndpoint:
    return sagemaker.CfnEndpoint(stack, "Endpoint", endpoint_config_name="cfg", endpoint_name=name)


def l2_target(stack: cdk.Stack, low: int = 1, name: str = "manga-recommender-prod") -> appscaling.ScalableTarget:
    ep = endpoint(stack, name)
    return appscaling.ScalableTarget(
        stack,
        "Target",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"endpoint/{ep.attr_endpoint_name}/variant/AllTraffic",
        scalable_dimension=VARIANT,
        min_capacity=low,
        max_capacity=4,
    )


def l1_target(stack: cdk.Stack, low: Any, dimension: str = VARIANT, resource: str | None = None) -> None:
    appscaling.CfnScalableTarget(
        stack,
        "Target",
        service_namespace="sagemaker",
        resource_id=resource or "endpoint/manga-recommender-prod/variant/AllTraffic",
        scalable_dimension=dimension,
        min_capacity=low,
        max_capacity=4,
    )


def config(stack: cdk.Stack, low: Any, status: str = "ENABLED") -> None:
    sagemaker.CfnEndpointConfig(
        stack,
        "Config",
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="main",
                instance_type="ml.g5.12xlarge",
                initial_instance_count=1,
                managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                    status=status, min_instance_count=low, max_instance_count=4
                ),
            )
        ],
    )


def inference_component(stack: cdk.Stack, low: int) -> None:
    ep = endpoint(stack)
    component = sagemaker.CfnInferenceComponent(
        stack,
        "Lora",
        inference_component_name="manga-lora-ja",
        endpoint_name=ep.attr_endpoint_name,
        specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(model_name="m"),
        runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(copy_count=1),
    )
    l1_target(stack, low, COPIES, f"inference-component/{component.inference_component_name}")


def scheduled_zero(stack: cdk.Stack) -> None:
    l2_target(stack).scale_on_schedule(
        "NightlyCostSaver", schedule=appscaling.Schedule.cron(hour="22", minute="0", week_day="SUN"), min_capacity=0
    )


def campaign(stack: cdk.Stack) -> None:
    CampaignScaling(stack, "Scaling", endpoint_name="manga-recommender-prod")


BAD: dict[str, tuple[Callable[[cdk.Stack], Any], str, str]] = {
    "L2MinZero": (lambda s: l2_target(s, 0), "/Target/Resource", "MinCapacity 0 of instances of variant "
                  "endpoint/manga-recommender-prod/variant/AllTraffic"),
    "L2ScheduleZero": (scheduled_zero, "/Target/Resource", "scheduled action NightlyCostSaver (cron(0 22 ? * SUN *))"),
    "L1MinZero": (lambda s: l1_target(s, 0), "/Target", "MinCapacity 0 of instances of variant"),
    "L1Copies": (lambda s: inference_component(s, 0), "/Target",
                 "MinCapacity 0 of copies of inference component inference-component/manga-lora-ja"),
    "L1ManagedScaling": (lambda s: config(s, 0), "/Config",
                         "ManagedInstanceScaling.MinInstanceCount of variant main = 0"),
    "ResolvedToken": (lambda s: l1_target(s, cdk.Token.as_number(LateZero())), "/Target", "MinCapacity 0"),
    "L1ProvisionedZero": (lambda s: l1_target(s, 0, PROVISIONED), "/Target",
                          "MinCapacity 0 of provisioned concurrency of serverless variant"),
    "ExperimentElsewhere": (lambda s: l2_target(s, 0, "experiment-lora-r16"), "/Target/Resource", "MinCapacity 0"),
}  # fmt: skip
GOOD: dict[str, Callable[[cdk.Stack], Any]] = {
    "L2MinOne": lambda s: l2_target(s, 1),
    "L1MinTwo": lambda s: l1_target(s, 2),
    "L1CopiesOne": lambda s: inference_component(s, 1),
    "L1ProvisionedOne": lambda s: l1_target(s, 1, PROVISIONED),
    "ManagedScalingOne": lambda s: config(s, 1),
    "ManagedScalingDisabled": lambda s: config(s, 0, status="DISABLED"),
    "Campaign": campaign,
    "OtherNamespace": lambda s: appscaling.CfnScalableTarget(
        s, "Ecs", service_namespace="ecs", resource_id="service/default/web",
        scalable_dimension="ecs:service:DesiredCount", min_capacity=0, max_capacity=2,
    ),
    "ExperimentInExperimentAccount": lambda s: l2_target(s, 0, "experiment-lora-r16"),
}  # fmt: skip


@pytest.fixture(scope="module")
def guarded() -> dict[str, Annotations]:
    app = cdk.App()
    stacks: dict[str, cdk.Stack] = {}
    for name, (build, _, _) in BAD.items():
        stacks[name] = cdk.Stack(app, name, env=cdk.Environment(account=PROD_ACCOUNT, region="us-east-1"))
        build(stacks[name])
    for name, build in GOOD.items():
        account = EXPERIMENT_ACCOUNT if name.startswith("Experiment") else PROD_ACCOUNT
        stacks[name] = cdk.Stack(app, name, env=cdk.Environment(account=account, region="us-east-1"))
        build(stacks[name])
    unresolved = cdk.Stack(app, "Parameter")
    l1_target(unresolved, cdk.CfnParameter(unresolved, "MinCapacity", type="Number").value_as_number)
    stacks["Parameter"] = unresolved
    maybe = cdk.Stack(app, "MaybeExperiment", env=cdk.Environment(account=PROD_ACCOUNT, region="us-east-1"))
    l2_target(maybe, 0, "experiment-lora-r16")
    stacks["MaybeExperiment"] = maybe
    cdk.Aspects.of(app).add(CapacityGuard(min_capacity=1, exempt_account_ids=[EXPERIMENT_ACCOUNT]))
    ou_app = cdk.App()
    ou_stack = cdk.Stack(ou_app, "MaybeExperiment", env=cdk.Environment(account=PROD_ACCOUNT, region="us-east-1"))
    l2_target(ou_stack, 0, "experiment-lora-r16")
    cdk.Aspects.of(ou_app).add(CapacityGuard(exempt_ou_ids=["ou-ab12-cdef3456"]))
    annotations = {name: Annotations.from_stack(stack) for name, stack in stacks.items()}
    annotations["OuExperiment"] = Annotations.from_stack(ou_stack)
    return annotations


def _errors(annotations: Annotations) -> list[tuple[str, str]]:
    return [(m.id, str(m.entry.data)) for m in annotations.find_error("*", Match.any_value())]


def _warnings(annotations: Annotations) -> list[tuple[str, str]]:
    return [(m.id, str(m.entry.data)) for m in annotations.find_warning("*", Match.any_value())]


@pytest.mark.parametrize("case", list(BAD))
def test_a_way_to_zero_fails_synth_with_an_error_on_the_construct_path(
    guarded: dict[str, Annotations], case: str
) -> None:
    _, path, text = BAD[case]
    errors = _errors(guarded[case])
    assert errors, f"{case}: no error"
    assert {where for where, _ in errors} == {f"/{case}{path}"}
    assert any(text in message and "below the minimum endpoint capacity 1" in message for _, message in errors), errors


@pytest.mark.parametrize("case", list(GOOD))
def test_capacity_that_never_reaches_zero_synthesizes_cleanly(guarded: dict[str, Annotations], case: str) -> None:
    assert _errors(guarded[case]) == [] and _warnings(guarded[case]) == []


def test_a_value_it_cannot_resolve_is_a_warning_never_a_pass(guarded: dict[str, Annotations]) -> None:
    assert _errors(guarded["Parameter"]) == []
    [(where, message)] = _warnings(guarded["Parameter"])
    assert where == "/Parameter/Target"
    assert "cannot be resolved at synth" in message and "not treated as passing" in message


def test_an_experiment_name_in_an_unknown_account_is_flagged_never_skipped(guarded: dict[str, Annotations]) -> None:
    # Exemption lists accounts only: production account, experiment name -> still an error.
    assert _errors(guarded["MaybeExperiment"]) and not _warnings(guarded["MaybeExperiment"])
    # Exemption lists OUs, which synth cannot resolve: a warning, so the run-time check decides.
    assert _errors(guarded["OuExperiment"]) == []
    [(where, message)] = _warnings(guarded["OuExperiment"])
    assert where == "/MaybeExperiment/Target/Resource" and "synth cannot tell whether the account is exempt" in message


def test_cdk_synth_exits_non_zero_and_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import aws_cdk as cdk
            from aws_cdk import aws_applicationautoscaling as appscaling
            from mlgov.cdk import CapacityGuard

            app = cdk.App()
            stack = cdk.Stack(app, "Recommender")
            appscaling.ScalableTarget(stack, "Scaling", service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
                resource_id="endpoint/manga-recommender-prod/variant/AllTraffic",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount", min_capacity=0, max_capacity=4)
            cdk.Aspects.of(app).add(CapacityGuard(min_capacity=1))
            app.synth()
            """
        )
    )
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["cdk", "synth", "--app", f"{sys.executable} app.py", "--output", str(tmp_path / "out"), "--no-notices"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "Synthesis finished with errors" in done.stderr
    error = done.stderr[done.stderr.index("ERROR MinCapacity 0") :]
    assert "endpoint/manga-recommender-prod/variant/AllTraffic is below the minimum endpoint capacity 1" in error
    assert error.splitlines()[1].strip() == "Recommender/Scaling/Resource"


# -- an inference component's own copies, and a target whose scale-out or schedule is suspended ------------------------
def component(stack: cdk.Stack, copies: Any, name: str = "manga-recommender-prod", runtime: bool = True) -> None:
    """A component with no scalable target: RuntimeConfig.CopyCount is all it has (CloudFormation's minimum is 0)."""
    ep = endpoint(stack, name)
    sagemaker.CfnInferenceComponent(
        stack,
        "Lora",
        inference_component_name="manga-lora-ja",
        endpoint_name=ep.attr_endpoint_name,
        specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(model_name="m"),
        runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(copy_count=copies)
        if runtime
        else None,
    )


def suspended(stack: cdk.Stack, out: Any = False, scheduled: Any = False, scale_in: bool = False) -> None:
    appscaling.CfnScalableTarget(
        stack,
        "Target",
        service_namespace="sagemaker",
        resource_id="endpoint/manga-recommender-prod/variant/AllTraffic",
        scalable_dimension=VARIANT,
        min_capacity=1,
        max_capacity=4,
        suspended_state=appscaling.CfnScalableTarget.SuspendedStateProperty(
            dynamic_scaling_out_suspended=out,
            scheduled_scaling_suspended=scheduled,
            dynamic_scaling_in_suspended=scale_in,
        ),
    )


def _flag(stack: cdk.Stack) -> Any:
    """A SuspendedState flag only known at deploy (a condition on a parameter)."""
    return cdk.Fn.condition_equals(cdk.CfnParameter(stack, "Suspend", default="no").value_as_string, "yes")


SERVING_BAD: dict[str, tuple[Callable[[cdk.Stack], Any], str, str]] = {
    "CopyCountZero": (lambda s: component(s, 0), "/Lora", "RuntimeConfig.CopyCount of inference component "
                      "manga-lora-ja = 0 is below the minimum endpoint capacity 1"),
    "CopyCountZeroExperimentElsewhere": (lambda s: component(s, 0, "experiment-lora-r16"), "/Lora", "CopyCount"),
    "ScaleOutSuspended": (lambda s: suspended(s, out=True), "/Target", "SuspendedState.DynamicScalingOutSuspended "
                          "of instances of variant endpoint/manga-recommender-prod/variant/AllTraffic"),
    "ScheduleSuspended": (lambda s: suspended(s, scheduled=True), "/Target",
                          "SuspendedState.ScheduledScalingSuspended of instances of variant"),
}  # fmt: skip
SERVING_GOOD: dict[str, Callable[[cdk.Stack], Any]] = {
    "CopyCountOne": lambda s: component(s, 1),
    "AdapterWithoutRuntimeConfig": lambda s: component(s, None, runtime=False),
    "ScaleInSuspended": lambda s: suspended(s, scale_in=True),  # keeps capacity: nothing taken away
    "NothingSuspended": lambda s: suspended(s),
    "ExperimentCopyCountZeroInExperimentAccount": lambda s: component(s, 0, "experiment-lora-r16"),
}
SERVING_UNRESOLVED: dict[str, tuple[Callable[[cdk.Stack], Any], str, str]] = {
    "CopyCountParameter": (
        lambda s: component(s, cdk.CfnParameter(s, "Copies", type="Number").value_as_number),
        "/Lora",
        "RuntimeConfig.CopyCount of inference component manga-lora-ja",
    ),
    "SuspendedParameter": (lambda s: suspended(s, scheduled=_flag(s)), "/Target", "ScheduledScalingSuspended"),
}


@pytest.fixture(scope="module")
def guarded_serving() -> dict[str, Annotations]:
    app = cdk.App()
    stacks: dict[str, cdk.Stack] = {}
    for name, build in [
        *((n, b) for n, (b, _, _) in SERVING_BAD.items()),
        *SERVING_GOOD.items(),
        *((n, b) for n, (b, _, _) in SERVING_UNRESOLVED.items()),
    ]:
        account = EXPERIMENT_ACCOUNT if name.startswith("Experiment") else PROD_ACCOUNT
        stacks[name] = cdk.Stack(app, name, env=cdk.Environment(account=account, region="us-east-1"))
        build(stacks[name])
    cdk.Aspects.of(app).add(CapacityGuard(min_capacity=1, exempt_account_ids=[EXPERIMENT_ACCOUNT]))
    return {name: Annotations.from_stack(stack) for name, stack in stacks.items()}


@pytest.mark.parametrize("case", list(SERVING_BAD))
def test_a_component_at_zero_copies_or_a_suspended_target_fails_synth(
    guarded_serving: dict[str, Annotations], case: str
) -> None:
    _, path, text = SERVING_BAD[case]
    errors = _errors(guarded_serving[case])
    assert {where for where, _ in errors} == {f"/{case}{path}"}, errors
    [message] = [m for _, m in errors]
    assert text in message and "mlgov capacity guard" in message
    if "Suspended" in case:  # the fix is named
        assert "Remove suspended_state" in message and "AWS keeps only MinCapacity" in message


@pytest.mark.parametrize("case", list(SERVING_GOOD))
def test_a_component_with_copies_or_a_live_target_synthesizes_cleanly(
    guarded_serving: dict[str, Annotations], case: str
) -> None:
    assert _errors(guarded_serving[case]) == [] and _warnings(guarded_serving[case]) == []


@pytest.mark.parametrize("case", list(SERVING_UNRESOLVED))
def test_an_unresolved_copy_count_or_suspension_warns(guarded_serving: dict[str, Annotations], case: str) -> None:
    _, path, text = SERVING_UNRESOLVED[case]
    assert _errors(guarded_serving[case]) == []
    [(where, message)] = _warnings(guarded_serving[case])
    assert where == f"/{case}{path}" and text in message and "not treated as passing" in message
