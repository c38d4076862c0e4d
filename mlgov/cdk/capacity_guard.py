"""CapacityGuard: a CDK Aspect that fails synthesis when a SageMaker endpoint could scale to zero.

    from mlgov.cdk import CapacityGuard
    Aspects.of(app).add(CapacityGuard(min_capacity=1))

It checks every AWS::ApplicationAutoScaling::ScalableTarget of the sagemaker namespace (variant
instances and inference-component copies: MinCapacity, the MinCapacity of its scheduled actions, and a
SuspendedState that stops scale-out or the schedule), every AWS::SageMaker::EndpointConfig
(ManagedInstanceScaling.MinInstanceCount) and every AWS::SageMaker::InferenceComponent
(RuntimeConfig.CopyCount), whether written as L1 or through the L2 ScalableTarget. Values are resolved
with Stack.resolve; a value it cannot resolve (a parameter, an import, a condition) is a warning, never a
pass. Raw property overrides are not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sagemaker as sagemaker
from constructs import IConstruct

DIMENSIONS = {
    "sagemaker:variant:DesiredInstanceCount": "instances of variant",
    "sagemaker:inference-component:DesiredCopyCount": "copies of inference component",
    "sagemaker:variant:DesiredProvisionedConcurrency": "provisioned concurrency of serverless variant",
}
UNRESOLVED = "mlgov:capacityUnresolved"
_ENDPOINT = re.compile(r"^endpoint/([^/]+)/variant/")
_COMPONENT = re.compile(r"^inference-component/([^/]+)$")
# SuspendedState flags that take capacity away (DynamicScalingInSuspended only keeps it): what each stops.
SUSPENSIONS = {
    "dynamicScalingOutSuspended": "target tracking adds no capacity under load",
    "scheduledScalingSuspended": "none of its scheduled actions fires (the business-hours minimum, campaigns)",
}


def _key(data: Any, name: str) -> Any:
    """A property of a resolved L1 struct, whatever the key's case (minCapacity / MinCapacity)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() == name.lower():
                return value
    return None


def _intrinsic(value: Any) -> bool:
    """A CloudFormation function (Fn::If, Ref...) where synth expected a struct: not known until deploy."""
    return isinstance(value, dict) and any(k == "Ref" or str(k).startswith("Fn::") for k in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@jsii.implements(cdk.IAspect)
class CapacityGuard:
    """Fails synthesis (an error annotation on the construct's path) for SageMaker capacity below
    `min_capacity`. Endpoints named with `exempt_prefix` are skipped when the stack's account is one of
    `exempt_account_ids`; with `exempt_ou_ids`, which synth cannot resolve, such an endpoint in another
    account is a warning instead of an error (the run-time check decides)."""

    def __init__(
        self,
        *,
        min_capacity: int = 1,
        exempt_prefix: str | None = "experiment-",
        exempt_account_ids: Iterable[str] = (),
        exempt_ou_ids: Iterable[str] = (),
    ) -> None:
        self.min_capacity = min_capacity
        self.exempt_prefix = exempt_prefix
        self.exempt_account_ids = frozenset(exempt_account_ids)
        self.exempt_ou_ids = frozenset(exempt_ou_ids)

    @classmethod
    def from_settings(cls, settings: Any) -> CapacityGuard:
        """From mlgov.settings.Settings: thresholds.min_endpoint_capacity and experiment_exemptions."""
        ex = settings.experiment_exemptions
        return cls(
            min_capacity=settings.thresholds.min_endpoint_capacity,
            exempt_prefix=ex.endpoint_name_prefix,
            exempt_account_ids=ex.account_ids,
            exempt_ou_ids=ex.organizational_unit_ids,
        )

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, appscaling.CfnScalableTarget):
            self._scalable_target(node)
        elif isinstance(node, sagemaker.CfnEndpointConfig):
            self._endpoint_config(node)
        elif isinstance(node, sagemaker.CfnInferenceComponent):
            self._inference_component(node)

    # -- what the construct is about

    def _by_logical_id(self, stack: cdk.Stack) -> dict[str, IConstruct]:
        return {
            stack.resolve(child.logical_id): child
            for child in stack.node.find_all()
            if isinstance(child, cdk.CfnElement) and cdk.Stack.of(child) is stack
        }

    def _render(self, stack: cdk.Stack, value: Any, index: dict[str, IConstruct]) -> str | None:
        """A resolved string (or Fn::Join of literals and attributes of resources in this stack whose
        names are literal) as text; None when some part is not known at synth."""
        if isinstance(value, str):
            return value
        join = _key(value, "Fn::Join")
        if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
            parts = [self._render(stack, part, index) for part in join[1]]
            return None if any(p is None for p in parts) else str(join[0]).join(p for p in parts if p is not None)
        ref = _key(value, "Fn::GetAtt") or ([_key(value, "Ref")] if _key(value, "Ref") else None)
        if isinstance(ref, list) and ref:
            target = index.get(str(ref[0]))
            if isinstance(target, sagemaker.CfnEndpoint):
                return self._render(stack, stack.resolve(target.endpoint_name), index)
            if isinstance(target, sagemaker.CfnInferenceComponent):
                return self._render(stack, stack.resolve(target.inference_component_name), index)
        return None

    def _component_endpoint(self, stack: cdk.Stack, component: str, index: dict[str, IConstruct]) -> str | None:
        for child in index.values():
            if (
                isinstance(child, sagemaker.CfnInferenceComponent)
                and self._render(stack, stack.resolve(child.inference_component_name), index) == component
            ):
                return self._render(stack, stack.resolve(child.endpoint_name), index)
        return None

    def _exemption(self, stack: cdk.Stack, endpoints: list[str | None]) -> str | None:
        """'skip' when every endpoint is an exempt experiment, 'warn' when it may be, else None."""
        prefix = self.exempt_prefix
        if not prefix or not endpoints or not all(e and e.startswith(prefix) for e in endpoints):
            return None
        account = stack.account
        if not cdk.Token.is_unresolved(account) and account in self.exempt_account_ids:
            return "skip"
        maybe = self.exempt_ou_ids or (cdk.Token.is_unresolved(account) and self.exempt_account_ids)
        return "warn" if maybe else None

    # -- the checks

    def _report(
        self,
        node: IConstruct,
        problems: list[str],
        unknown: list[str],
        exemption: str | None,
        suspended: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if exemption == "skip":
            return
        messages = [
            f"{problem} is below the minimum endpoint capacity {self.min_capacity}: the endpoint can scale to "
            "zero and cold-start for minutes when traffic returns (mlgov capacity guard)."
            for problem in problems
        ]
        messages += [
            f"{flag} {suspension}: AWS keeps only MinCapacity, so the endpoint meets its peak on the minimum. "
            "Remove suspended_state or set both flags false (mlgov capacity guard)."
            for flag, suspension in suspended
        ]
        for message in messages:
            if exemption == "warn":
                cdk.Annotations.of(node).add_warning_v2(
                    UNRESOLVED,
                    f"{message} Its name marks an experiment; synth cannot tell whether the account is exempt.",
                )
            else:
                cdk.Annotations.of(node).add_error(message)
        for value in unknown:
            cdk.Annotations.of(node).add_warning_v2(
                UNRESOLVED,
                f"{value} cannot be resolved at synth, so the mlgov capacity guard cannot prove it is at least "
                f"{self.min_capacity}; it is not treated as passing.",
            )

    def _scalable_target(self, node: appscaling.CfnScalableTarget) -> None:
        stack = cdk.Stack.of(node)
        namespace = stack.resolve(node.service_namespace)
        dimension = stack.resolve(node.scalable_dimension)
        if namespace != "sagemaker" or dimension not in DIMENSIONS:
            return
        index = self._by_logical_id(stack)
        resource = self._render(stack, stack.resolve(node.resource_id), index) or ""
        what = f"{DIMENSIONS[dimension]} {resource or '(unresolved resource id)'}"
        endpoint = _ENDPOINT.match(resource)
        component = _COMPONENT.match(resource)
        name = endpoint[1] if endpoint else component and self._component_endpoint(stack, component[1], index)
        problems: list[str] = []
        unknown: list[str] = []
        suspended: list[tuple[str, str]] = []
        state = stack.resolve(node.suspended_state)
        for flag, effect in SUSPENSIONS.items():
            value = _key(state, flag)
            label = flag[0].upper() + flag[1:]
            if value is True:
                suspended.append((f"SuspendedState.{label} of {what}", effect))
            elif value is not None and value is not False:
                unknown.append(f"SuspendedState.{label} of {what}")
        if state is not None and (_intrinsic(state) or not isinstance(state, dict)):
            unknown.append(f"SuspendedState of {what}")
        low = stack.resolve(node.min_capacity)
        if not _is_number(low):
            unknown.append(f"MinCapacity of {what}")
        elif low < self.min_capacity:
            problems.append(f"MinCapacity {low:g} of {what}")
        for action in stack.resolve(node.scheduled_actions) or []:
            action_name = _key(action, "scheduledActionName")
            target_action = _key(action, "scalableTargetAction")
            if target_action is None:
                continue
            scheduled = _key(target_action, "minCapacity")
            if scheduled is None:
                continue
            if not _is_number(scheduled):
                unknown.append(f"MinCapacity of scheduled action {action_name} on {what}")
            elif scheduled < self.min_capacity:
                schedule = _key(action, "schedule")
                problems.append(f"MinCapacity {scheduled:g} of scheduled action {action_name} ({schedule}) on {what}")
        self._report(node, problems, unknown, self._exemption(stack, [name]), tuple(suspended))

    def _inference_component(self, node: sagemaker.CfnInferenceComponent) -> None:
        """RuntimeConfig.CopyCount may be 0 (CloudFormation: "Minimum: 0"): the component then serves nothing
        until a copy loads. Absent (an adapter component takes its base's copies), the run-time check decides."""
        stack = cdk.Stack.of(node)
        index = self._by_logical_id(stack)
        name = self._render(stack, stack.resolve(node.inference_component_name), index)
        what = f"RuntimeConfig.CopyCount of inference component {name or node.node.path}"
        config = stack.resolve(node.runtime_config)
        copies = _key(config, "copyCount") if isinstance(config, dict) and not _intrinsic(config) else config
        if copies is None:
            return
        problems = [f"{what} = {copies:g}"] if _is_number(copies) and copies < self.min_capacity else []
        unknown = [] if _is_number(copies) else [what]
        if problems or unknown:
            endpoint = self._render(stack, stack.resolve(node.endpoint_name), index)
            self._report(node, problems, unknown, self._exemption(stack, [endpoint]))

    def _endpoint_config(self, node: sagemaker.CfnEndpointConfig) -> None:
        stack = cdk.Stack.of(node)
        variants = list(stack.resolve(node.production_variants) or [])
        variants += list(stack.resolve(node.shadow_production_variants) or [])
        problems: list[str] = []
        unknown: list[str] = []
        for variant in variants:
            managed = _key(variant, "managedInstanceScaling")
            if not isinstance(managed, dict) or _key(managed, "status") == "DISABLED":
                continue
            low = _key(managed, "minInstanceCount")
            what = f"ManagedInstanceScaling.MinInstanceCount of variant {_key(variant, 'variantName')}"
            if low is None:
                continue
            if not _is_number(low):
                unknown.append(what)
            elif low < self.min_capacity:
                problems.append(f"{what} = {low:g}")
        if problems or unknown:
            self._report(node, problems, unknown, self._exemption(stack, self._config_users(stack, node)))

    def _config_users(self, stack: cdk.Stack, config: sagemaker.CfnEndpointConfig) -> list[str | None]:
        """Names of this stack's endpoints that use the config (None where a name is not literal)."""
        index = self._by_logical_id(stack)
        own = stack.resolve(config.logical_id)
        literal = stack.resolve(config.endpoint_config_name)
        users: list[str | None] = []
        for child in index.values():
            if isinstance(child, sagemaker.CfnEndpoint):
                used = stack.resolve(child.endpoint_config_name)
                refs = _key(used, "Fn::GetAtt") or [_key(used, "Ref")]
                if (literal and used == literal) or (isinstance(refs, list) and refs and refs[0] == own):
                    users.append(self._render(stack, stack.resolve(child.endpoint_name), index))
        return users
