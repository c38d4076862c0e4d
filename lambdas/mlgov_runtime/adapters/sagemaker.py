"""SageMaker reads for the lineage audit, mapped to the domain's exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgov_runtime.adapters.errors import error_text, is_not_found
from mlgov_runtime.adapters.mapped_calls import SageMakerEndpointReads
from mlgov_runtime.lineage_audit.logic import ReadFailure, ResourceNotFound


def _translate(exc: Exception, what: str) -> Exception:
    return ResourceNotFound(f"{what} not found") if is_not_found(exc) else ReadFailure(error_text(exc))


class SageMakerLineageReader(SageMakerEndpointReads):
    """Implements mlgov_runtime.lineage_audit.logic.LineageReader over a boto3 SageMaker client."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, _translate)

    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]:
        return self.call(f"model package {name_or_arn}", "describe_model_package", ModelPackageName=name_or_arn)

    def describe_inference_component(self, name: str) -> Mapping[str, Any]:
        return self.call(f"inference component {name}", "describe_inference_component", InferenceComponentName=name)
