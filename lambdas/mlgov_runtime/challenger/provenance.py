"""Where a candidate package came from, judged from what AWS answers (DescribeModelPackage, DescribeExecution,
GetRole), never from the event that named it: `mlgov.retraining` events can be sent by anyone with
events:PutEvents, and package metadata by anyone with CreateModelPackage."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Written by the retraining pipeline's register step: the execution that trained and registered the package.
EXECUTION_KEY = "retraining_execution_arn"  # = retraining.registration.RETRAINING_EXECUTION_KEY


@dataclass(frozen=True)
class Provenance:
    account_id: str
    retraining_machine_arn: str | None
    pipeline_role_arns: Sequence[str]  # patterns, as guardrails.pipeline_role_arns
    describe_execution: Callable[[str], Mapping[str, Any] | None]  # None: no such execution
    role: Callable[[str], Mapping[str, Any] | None]  # GetRole by name; None: no such role

    def problem(self, package: Mapping[str, Any]) -> str | None:
        """Why this package's origin is not verified, or None when it is."""
        arn = str(package.get("ModelPackageArn", ""))
        parts = arn.split(":")
        if len(parts) < 6 or parts[4] != self.account_id:
            return f"{arn} is not registered in this account ({self.account_id}); only its own packages are tried."
        execution = (package.get("CustomerMetadataProperties") or {}).get(EXECUTION_KEY)
        if execution:
            return self._execution_problem(arn, str(execution))
        return self._creator_problem(arn, package)

    def _execution_problem(self, arn: str, execution: str) -> str | None:
        machine = self.retraining_machine_arn
        if not machine:
            return f"{arn} names retraining execution {execution}, and no retraining state machine is configured."
        prefix = machine.replace(":stateMachine:", ":execution:", 1) + ":"
        if not execution.startswith(prefix):
            return (
                f"{arn} names execution {execution}, which is not an execution of this product's retraining "
                f"state machine {machine}."
            )
        described = self.describe_execution(execution)
        if described is None:
            return f"{arn} names retraining execution {execution}, which does not exist."
        if described.get("stateMachineArn") != machine or described.get("status") != "SUCCEEDED":
            return (
                f"retraining execution {execution} is {described.get('status')}, not SUCCEEDED; {arn} was not "
                "registered by a finished run."
            )
        try:
            named = (json.loads(str(described.get("output") or "{}")).get("registered") or {}).get("model_package_arn")
        except (ValueError, AttributeError):
            named = None
        if named != arn:
            return (
                f"retraining execution {execution} registered {named or 'no package'}, not {arn}: its metadata "
                "claims a run that did not create it."
            )
        return None

    def _creator_problem(self, arn: str, package: Mapping[str, Any]) -> str | None:
        identity = (package.get("CreatedBy") or {}).get("IamIdentity") or {}
        caller, principal = str(identity.get("Arn", "")), str(identity.get("PrincipalId", ""))
        if not caller:
            return f"{arn} names no retraining execution ({EXECUTION_KEY}) and SageMaker reports no creator for it."
        head, _, tail = caller.partition(":assumed-role/")
        name = tail.split("/", 1)[0]
        if not name or head.split(":")[4:5] != [self.account_id]:
            return f"{arn} was created by {caller}, not by a pipeline role of this account."
        role = self.role(name)
        allowed = role is not None and any(fnmatch.fnmatchcase(str(role["Arn"]), p) for p in self.pipeline_role_arns)
        # The role id proves the session came from this role, not from a deleted one of the same name.
        if not allowed or role is None or principal.split(":", 1)[0] != role.get("RoleId"):
            return (
                f"{arn} was created by {caller}, which is not an allow-listed pipeline role "
                f"(guardrails.pipeline_role_arns: {', '.join(self.pipeline_role_arns) or 'none'})."
            )
        return None


def what_to_do(arn: str) -> str:
    return (
        "Register candidates through the retraining pipeline (its execution is recorded in the package's "
        f"{EXECUTION_KEY} metadata) or from a role in guardrails.pipeline_role_arns. If this package was not "
        f"registered by your team, investigate it: aws sagemaker describe-model-package --model-package-name {arn}"
    )


class UnverifiedStep(RuntimeError):
    """A step invoked with state its execution did not write (or by no running execution): nothing is done."""


def recorded_input(described: Mapping[str, Any] | None, execution: str, machine: str) -> dict[str, Any]:
    """The input the execution was started with, once it is shown to be a RUNNING execution of `machine`."""
    if described is None:
        raise UnverifiedStep(f"execution {execution!r} does not exist; a step runs only inside its own execution")
    if described.get("stateMachineArn") != machine:
        raise UnverifiedStep(f"execution {execution} belongs to {described.get('stateMachineArn')}, not to {machine}")
    if described.get("status") != "RUNNING":
        raise UnverifiedStep(f"execution {execution} is {described.get('status')}, not RUNNING")
    try:
        recorded = json.loads(str(described.get("input") or "{}"))
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("model_package_arn"), str):
        raise UnverifiedStep(f"execution {execution} was started without a model_package_arn")
    return recorded


def binding_problem(state: Mapping[str, Any], recorded: Mapping[str, Any], endpoints: Mapping[str, str]) -> str | None:
    """Why the experiment the state describes is not the one the execution was started for, or None.
    The package comes from the execution's input; the endpoint and the challenger variant follow from it."""
    ch = state.get("challenger")
    if not isinstance(ch, Mapping):
        return None  # before the start step: the step reads the recorded input itself
    arn = str(recorded["model_package_arn"])
    group, version = arn.rsplit("/", 2)[-2], arn.rsplit("/", 1)[-1]
    endpoint = recorded.get("endpoint_name") or {k.lower(): v for k, v in endpoints.items()}.get(group.lower())
    checks = [
        (ch.get("model_package_arn") == arn, f"package {ch.get('model_package_arn')} is not the execution's {arn}"),
        (ch.get("endpoint_name") == endpoint, f"endpoint {ch.get('endpoint_name')} is not the execution's {endpoint}"),
        (str(ch.get("version")) == version, f"version {ch.get('version')} is not the package's {version}"),
    ]
    variant = ch.get("challenger_variant")
    if variant is not None:
        checks += [
            (variant == f"challenger-v{version}", f"variant {variant} is not challenger-v{version}"),
            (ch.get("production_variant") != variant, "production and challenger variants are the same"),
        ]
    wrong = [why for ok, why in checks if not ok]
    return "; ".join(wrong) or None
