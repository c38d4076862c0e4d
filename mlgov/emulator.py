"""The local AWS emulator: moto, extended in-process with the SageMaker operations the product calls
and moto 5.2.5 lacks (UpdateEndpoint, inference components) or gets wrong (UpdateModelPackage resets
what the request omits), Security Hub's BatchUpdateFindings and the rules moto's BatchImportFindings
skips (see _securityhub_extensions), and AppConfig's environments, deployments and AppConfigData data plane
(see _appconfig_extensions), so the sandbox and the integration tests run the real adapters end to
end.

`install()` patches moto once per process (tests call it before `mock_aws`); `python -m mlgov.emulator
-H 127.0.0.1 -p PORT` is moto's server with the extensions (what `make demo` starts). The shapes
follow the SageMaker API reference; behaviour is deliberately small: an update completes at once (or after
UPDATE_POLLS DescribeEndpoint answers, or fails and rolls back: fail_next_update), and a component is
InService as soon as it is created.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

_INSTALLED = False
# Test support for UpdateEndpoint: how many DescribeEndpoint answers say Updating before an update ends, and
# endpoints whose next update fails (name -> FailureReason) and is rolled back to the old config.
UPDATE_POLLS = 0
UPDATE_FAULTS: dict[str, str] = {}


def fail_next_update(endpoint_name: str, reason: str) -> None:
    UPDATE_FAULTS[endpoint_name] = reason


def _now() -> datetime:
    return datetime.now(UTC)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _extends(cls: Any) -> Callable[[_Method], _Method]:
    """Installs the decorated function as cls's method of the same name (replacing moto's, where it has one)."""

    def install(method: _Method) -> _Method:
        setattr(cls, method.__name__, method)
        return method

    return install


def _backend_extensions() -> None:
    from moto.sagemaker import models
    from moto.sagemaker.exceptions import ValidationError

    backend_cls: Any = models.SageMakerModelBackend
    original_validate = backend_cls.validate_production_variants

    @_extends(backend_cls)
    def validate_production_variants(self: Any, production_variants: list[dict[str, Any]]) -> None:
        # An endpoint built for inference components has variants with no model.
        original_validate(self, [v for v in production_variants if "ModelName" in v])

    def components(self: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_mlgov_inference_components"):
            self._mlgov_inference_components = {}
        store: dict[str, dict[str, Any]] = self._mlgov_inference_components
        return store

    def _endpoint(self: Any, name: str) -> Any:
        if name not in self.endpoints:
            arn = models.FakeEndpoint.arn_formatter(name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        return self.endpoints[name]

    def _finish_update(endpoint: Any, config_name: str, config: dict[str, Any]) -> None:
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.endpoint_status, endpoint.failure_reason = "InService", None
        endpoint.last_modified_time = _now()

    @_extends(backend_cls)
    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> str:
        endpoint = _endpoint(self, endpoint_name)
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        config = self.describe_endpoint_config(endpoint_config_name)
        fault = UPDATE_FAULTS.pop(endpoint_name, None)
        if not fault and UPDATE_POLLS <= 0:
            _finish_update(endpoint, endpoint_config_name, config)
            return str(endpoint.arn)
        # Blue/green: Updating on the old fleet until the new one is healthy (or rolled back on failure).
        endpoint.endpoint_status, endpoint.last_modified_time = "Updating", _now()
        endpoint._mlgov_update = {"config": endpoint_config_name, "fault": fault, "polls": UPDATE_POLLS}
        return str(endpoint.arn)

    original_describe_endpoint = backend_cls.describe_endpoint

    @_extends(backend_cls)
    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        endpoint = _endpoint(self, endpoint_name)
        update = getattr(endpoint, "_mlgov_update", None)
        if update is not None:
            update["polls"] -= 1
            if update["polls"] < 0:
                del endpoint._mlgov_update
                if update["fault"]:  # SageMaker rolls a failed update back: the old config serves on
                    endpoint.endpoint_status, endpoint.failure_reason = "InService", update["fault"]
                    endpoint.last_modified_time = _now()
                else:
                    _finish_update(endpoint, update["config"], self.describe_endpoint_config(update["config"]))
        result: dict[str, Any] = original_describe_endpoint(self, endpoint_name)
        return result

    def _component_arn(self: Any, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:inference-component/{name.lower()}"

    @_extends(backend_cls)
    def create_inference_component(self: Any, params: dict[str, Any]) -> str:
        name = params["InferenceComponentName"]
        endpoint = _endpoint(self, params["EndpointName"])
        if name in components(self):
            raise ValidationError(message=f"Inference component {name} already exists.")
        spec = params.get("Specification") or {}
        model = spec.get("ModelName")
        if model and model not in self._models:
            raise ValidationError(message=f"Could not find model '{model}'.")
        copies = (params.get("RuntimeConfig") or {}).get("CopyCount", 1)
        now = _now()
        components(self)[name] = {
            "InferenceComponentName": name,
            "InferenceComponentArn": _component_arn(self, name),
            "EndpointName": endpoint.endpoint_name,
            "EndpointArn": endpoint.arn,
            "VariantName": params.get("VariantName", ""),
            "Specification": spec,
            "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
            "CreationTime": now,
            "LastModifiedTime": now,
            "InferenceComponentStatus": "InService",
            "Tags": params.get("Tags") or [],
        }
        return _component_arn(self, name)

    def _component(self: Any, name: str) -> dict[str, Any]:
        if name not in components(self):
            raise ValidationError(message=f"Could not find inference component '{_component_arn(self, name)}'.")
        return components(self)[name]

    @_extends(backend_cls)
    def describe_inference_component(self: Any, name: str) -> dict[str, Any]:
        return {k: v for k, v in _component(self, name).items() if k != "Tags"}

    @_extends(backend_cls)
    def update_inference_component(self: Any, params: dict[str, Any]) -> str:
        item = _component(self, params["InferenceComponentName"])
        if "Specification" in params:
            model = params["Specification"].get("ModelName")
            if model and model not in self._models:
                raise ValidationError(message=f"Could not find model '{model}'.")
            item["Specification"] = params["Specification"]
        if "RuntimeConfig" in params:
            copies = params["RuntimeConfig"].get("CopyCount", item["RuntimeConfig"]["DesiredCopyCount"])
            item["RuntimeConfig"] = {"DesiredCopyCount": copies, "CurrentCopyCount": copies}
        item["LastModifiedTime"] = _now()
        return str(item["InferenceComponentArn"])

    @_extends(backend_cls)
    def delete_inference_component(self: Any, name: str) -> None:
        _component(self, name)
        del components(self)[name]

    @_extends(backend_cls)
    def list_inference_components(self: Any, endpoint_name: str | None, variant_name: str | None) -> list[Any]:
        keys = (
            "InferenceComponentName",
            "InferenceComponentArn",
            "EndpointName",
            "EndpointArn",
            "VariantName",
            "InferenceComponentStatus",
            "CreationTime",
            "LastModifiedTime",
        )
        return [
            {k: item[k] for k in keys}
            for item in sorted(components(self).values(), key=lambda c: c["CreationTime"])
            if (not endpoint_name or item["EndpointName"] == endpoint_name)
            and (not variant_name or item["VariantName"] == variant_name)
        ]

    def check_metadata(metadata: dict[str, str] | None) -> None:
        # SageMaker's CustomerMetadataProperties rule (moto checks none of it): the product's own check is
        # meant to refuse first, so this only fires when something bypasses it.
        from mlgov_runtime.retraining.registration import InvalidRegistration, check_customer_metadata

        try:
            check_customer_metadata(metadata or {})
        except InvalidRegistration as exc:
            raise ValidationError(message=f"1 validation error detected: CustomerMetadataProperties: {exc}") from None

    original_create_package = backend_cls.create_model_package

    @_extends(backend_cls)
    def create_model_package(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_metadata(kwargs.get("customer_metadata_properties"))
        return original_create_package(self, *args, **kwargs)

    original_update_package = backend_cls.update_model_package

    @_extends(backend_cls)
    def update_model_package(
        self: Any,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str],
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        # SageMaker changes only what the request names; moto resets an omitted status, description and
        # metadata to None (so a rejection would erase catalog_snapshot_date).
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:
            if model_approval_status is None:
                model_approval_status = package.model_approval_status
            if approval_description is None:
                approval_description = package.approval_description
            check_metadata(customer_metadata_properties)
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        result: str = original_update_package(
            self,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove,
            additional_inference_specifications_to_add,
        )
        return result


def _response_extensions() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.sagemaker.responses import SageMakerResponse

    response_cls: Any = SageMakerResponse

    @_extends(response_cls)
    def update_endpoint(self: Any) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": arn})

    @_extends(response_cls)
    def create_inference_component(self: Any) -> ActionResult:
        arn = self.sagemaker_backend.create_inference_component(self._get_params())
        return ActionResult({"InferenceComponentArn": arn})

    @_extends(response_cls)
    def describe_inference_component(self: Any) -> ActionResult:
        return ActionResult(
            self.sagemaker_backend.describe_inference_component(self._get_param("InferenceComponentName"))
        )

    @_extends(response_cls)
    def update_inference_component(self: Any) -> ActionResult:
        arn = self.sagemaker_backend.update_inference_component(self._get_params())
        return ActionResult({"InferenceComponentArn": arn})

    @_extends(response_cls)
    def delete_inference_component(self: Any) -> EmptyResult:
        self.sagemaker_backend.delete_inference_component(self._get_param("InferenceComponentName"))
        return EmptyResult()

    @_extends(response_cls)
    def list_inference_components(self: Any) -> ActionResult:
        # One page: the estates this serves are small; NextToken is never returned.
        found = self.sagemaker_backend.list_inference_components(
            self._get_param("EndpointNameEquals"), self._get_param("VariantNameEquals")
        )
        return ActionResult({"InferenceComponents": found})

    original_create_package = response_cls.create_model_package

    @_extends(response_cls)
    def create_model_package(self: Any) -> ActionResult:
        # DescribeModelPackage's CreatedBy.IamIdentity names the caller (moto leaves it out): the challenger
        # trusts a package created by an allow-listed pipeline role.
        from moto.sts.models import sts_backends

        result: ActionResult = original_create_package(self)
        package = self.sagemaker_backend.model_packages[result.result["ModelPackageArn"]]  # type: ignore[index]
        sts = sts_backends[self.current_account]["global"]
        principal, caller, _ = sts.get_caller_identity(self.get_access_key(), self.region)
        package.created_by = {**package.created_by, "IamIdentity": {"Arn": caller, "PrincipalId": principal}}
        return result


def _ecr_extensions() -> None:
    """DescribeImages with another account's registryId reads that account's repository (AWS allows it when the
    repository policy grants it, as the Deep Learning Containers' do; moto keeps every account apart)."""
    from moto.ecr.models import ECRBackend, ecr_backends

    backend_cls: Any = ECRBackend
    original_get = backend_cls._get_repository

    def _get_repository(self: Any, name: str, registry_id: str | None = None) -> Any:
        if registry_id and registry_id != self.account_id:
            return original_get(ecr_backends[registry_id][self.region_name], name, registry_id)
        return original_get(self, name, registry_id)

    backend_cls._get_repository = _get_repository


PROVISIONED_CONCURRENCY = "sagemaker:variant:DesiredProvisionedConcurrency"


def _autoscaling_extensions() -> None:
    """Application Auto Scaling takes a serverless variant's provisioned concurrency as a scalable dimension;
    moto 5.2.5 checks dimensions against a list without it."""
    from moto.applicationautoscaling import models, responses

    patched: Any = models
    response_cls: Any = responses.ApplicationAutoScalingResponse
    original_valid, original_validate = patched._target_params_are_valid, response_cls._validate_params

    def valid(namespace: str, r_id: str, dimension: str) -> bool:
        if namespace == "sagemaker" and dimension == PROVISIONED_CONCURRENCY and "/variant/" in r_id:
            return r_id.startswith("endpoint/")
        return bool(original_valid(namespace, r_id, dimension))

    def validate_params(self: Any) -> None:
        if self._get_param("ScalableDimension") != PROVISIONED_CONCURRENCY:
            original_validate(self)

    patched._target_params_are_valid = valid
    response_cls._validate_params = validate_params


def _presigned_signature(secret: str, host: str, query: dict[str, list[str]], headers: Any) -> str:
    """SigV4 query signature (GET /, empty payload) as STS computes it."""
    import hashlib
    import hmac
    import urllib.parse

    def q(v: str) -> str:
        return urllib.parse.quote(v, safe="-_.~")

    pairs = sorted((k, v) for k, vs in query.items() if k != "X-Amz-Signature" for v in vs)
    canonical_query = "&".join(f"{q(k)}={q(v)}" for k, v in pairs)
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    lower = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    lower["host"] = host
    canonical_headers = "".join(f"{h}:{lower.get(h, '')}\n" for h in signed)
    canonical = "\n".join(
        ["GET", "/", canonical_query, canonical_headers, ";".join(signed), hashlib.sha256(b"").hexdigest()]
    )
    _, day, region, service, _ = query["X-Amz-Credential"][0].split("/")
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", query["X-Amz-Date"][0], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _verify_presigned(response: Any, access_key: str) -> None:
    """STS checks a presigned request's signature and expiry; moto checks neither. Done here for credentials
    moto issued by AssumeRole (their secrets are known), so a forged or re-bound proof fails as on AWS."""
    import urllib.parse

    from moto.sts.exceptions import STSClientError
    from moto.sts.models import sts_backends

    secret = None
    for account in list(sts_backends):
        for backend in sts_backends[account].values():
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                secret = role.secret_access_key
    if secret is None:
        return
    query = response.querystring
    try:
        stamp = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expired = (_now() - stamp).total_seconds() > int(query["X-Amz-Expires"][0])
        host = urllib.parse.urlsplit(response.uri).netloc
        good = _presigned_signature(secret, host, query, response.headers) == query["X-Amz-Signature"][0]
    except (KeyError, ValueError, IndexError):
        good, expired = False, False
    if not good:
        raise STSClientError("SignatureDoesNotMatch", "The request signature we calculated does not match")
    if expired:
        raise STSClientError("ExpiredToken", "The security token included in the request is expired")


def _sts_extensions() -> None:
    """AssumeRole needs the role to exist in the target account, as STS does (moto hands out credentials
    for any ARN). OrganizationAccountAccessRole always exists: Organizations creates it in every account
    it creates, and it is how a test or the sandbox reaches a member account to create anything else."""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    backend_cls: Any = STSBackend
    original_assume_role = backend_cls.assume_role

    def assume_role(
        self: Any, region_name: str, role_session_name: str, role_arn: str, *args: Any, **kwargs: Any
    ) -> Any:
        parts = role_arn.split(":", 5)
        account, name = (parts[4], parts[5].rsplit("/", 1)[-1]) if len(parts) == 6 else ("", "")
        if name != "OrganizationAccountAccessRole":
            try:
                iam_backends[account][parts[1]].get_role(name)
            except Exception:
                raise STSClientError(
                    "AccessDenied",
                    f"User: arn:aws:sts::{self.account_id}:assumed-role/caller is not authorized to perform: "
                    f"sts:AssumeRole on resource: {role_arn}",
                ) from None
        return original_assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)

    backend_cls.assume_role = assume_role

    # A SigV4 query-presigned GetCallerIdentity (the approval service's identity proof) names its key in
    # X-Amz-Credential; moto reads only the Authorization header and SigV2's AWSAccessKeyId.
    from moto.sts.responses import TokenResponse

    response_cls: Any = TokenResponse
    original_access_key = response_cls.get_access_key

    def get_access_key(self: Any) -> str:
        credential = (self.querystring.get("X-Amz-Credential") or [""])[0]
        if "Authorization" not in self.headers and "/" in credential:
            return str(credential.split("/", 1)[0])
        return str(original_access_key(self))

    original_identity = response_cls.get_caller_identity

    def get_caller_identity(self: Any) -> Any:
        credential = (self.querystring.get("X-Amz-Credential") or [""])[0]
        if "Authorization" not in self.headers and "/" in credential:
            _verify_presigned(self, str(credential.split("/", 1)[0]))
        return original_identity(self)

    response_cls.get_access_key = get_access_key
    response_cls.get_caller_identity = get_caller_identity


def sender_id(access_key_id: str) -> str | None:
    """SQS's SenderId for a caller: `<role id>:<session name>` for an assumed role, as SQS reports it."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for by_partition in list(sts_backends.values()):
        for partition, backend in list(by_partition.items()):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                owner = role.role_arn.split(":")[4]
                try:
                    role_id = iam_backends[owner][partition].get_role_by_arn(role.role_arn).id
                except Exception:
                    return None
                return f"{role_id}:{role.session_name}"
    return None


def _sqs_extensions() -> None:
    """moto gives every SQS message one fixed SenderId; SQS records who sent it. `mlgov notify redrive`
    decides by it, so the emulator records the assumed role that called SendMessage."""
    from moto.sqs.responses import SQSResponse

    response_cls: Any = SQSResponse
    original = response_cls.send_message

    def send_message(self: Any) -> Any:
        result = original(self)
        sender = sender_id(self.get_access_key())
        if sender:
            queue = self.sqs_backend.get_queue(self._get_queue_name())
            message_id = result.result["MessageId"]
            for message in queue._messages:
                if message.id == message_id:
                    message.sender_id = sender
        return result

    response_cls.send_message = send_message


def _s3_extensions() -> None:
    """CopyObject honours If-None-Match: * as S3 does (moto 5.2.5 checks it on PutObject only), so a copy
    onto an existing key in the write-once prefix fails with 412 here as it does in AWS."""
    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    response_cls: Any = S3Response
    original_copy = response_cls.copy_object

    def copy_object(self: Any) -> Any:
        exists = self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None
        if self.headers.get("If-None-Match") == "*" and exists:
            raise PreconditionFailed("If-None-Match")
        return original_copy(self)

    response_cls.copy_object = copy_object


def push_image(ecr: Any, repository: str, tag: str, layer: str = "v1") -> tuple[str, str]:
    """Create the repository if needed and push an image manifest under the tag (pushing it again moves
    the tag); returns (image URI with the tag, its digest)."""
    import hashlib
    import json

    try:
        uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    blob = "sha256:" + hashlib.sha256(layer.encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": blob},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": blob}],
        }
    )
    image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]
    return f"{uri}:{tag}", str(image["imageId"]["imageDigest"])


def seed_route(
    appconfig: Any, document: dict[str, Any], monitors: list[dict[str, str]] | None = None
) -> dict[str, str]:
    """An AppConfig application with a hosted JSON profile and an environment (with these alarm monitors), the
    document deployed to it; returns the ids as mlgov.capacity.fallback_route names them."""
    import json

    app = appconfig.create_application(Name="manga-assist")["Id"]
    profile = appconfig.create_configuration_profile(
        ApplicationId=app, Name="recommendation-route", LocationUri="hosted", Type="AWS.Freeform"
    )["Id"]
    env = appconfig.create_environment(ApplicationId=app, Name="prod", Monitors=monitors or [])["Id"]
    version = appconfig.create_hosted_configuration_version(
        ApplicationId=app,
        ConfigurationProfileId=profile,
        Content=json.dumps(document).encode(),
        ContentType="application/json",
    )["VersionNumber"]
    appconfig.start_deployment(
        ApplicationId=app,
        EnvironmentId=env,
        DeploymentStrategyId="AppConfig.AllAtOnce",
        ConfigurationProfileId=profile,
        ConfigurationVersion=str(version),
    )
    return {"application_id": app, "environment_id": env, "configuration_profile_id": profile}


def read_route(appconfigdata: Any, ids: dict[str, str]) -> Any:
    """GetLatestConfiguration's answer for the route as a client reads it now (a new AppConfigData session)."""
    token = appconfigdata.start_configuration_session(
        ApplicationIdentifier=ids["application_id"],
        EnvironmentIdentifier=ids["environment_id"],
        ConfigurationProfileIdentifier=ids["configuration_profile_id"],
    )["InitialConfigurationToken"]
    return appconfigdata.get_latest_configuration(ConfigurationToken=token)


def serve_function_url_at(function_arn: str, url: str) -> None:
    """GetFunctionUrlConfig answers `url` for the function (its URL config created if need be), as Lambda
    answers a deployed function its own URL: moto names every URL https://<random>.lambda-url.REGION.on.aws, where
    nothing listens. The sandbox and tests serve the function at `url` (mlgov.function_url) and pin it here."""
    import boto3
    from moto.awslambda.utils import get_backend  # Docker-less Lambda keeps its functions in another backend

    parts = function_arn.split(":")
    client = boto3.client("lambda", region_name=parts[3])
    try:
        client.get_function_url_config(FunctionName=function_arn)
    except client.exceptions.ResourceNotFoundException:
        client.create_function_url_config(FunctionName=function_arn, AuthType="AWS_IAM")
    get_backend(parts[4], parts[3]).get_function(parts[6]).get_url_config().url = url


def finish_execution(execution_arn: str, output: dict[str, Any], status: str = "SUCCEEDED") -> None:
    """End a Step Functions execution with this output, as the state machine would (moto leaves every
    execution RUNNING unless it interprets the definition); DescribeExecution then answers with both."""
    import json

    from moto.stepfunctions.models import stepfunctions_backends

    parts = execution_arn.split(":")
    execution = stepfunctions_backends[parts[4]][parts[3]].describe_execution(execution_arn)
    execution.status, execution.output, execution.stop_date = status, json.dumps(output), _now()


def _securityhub_extensions() -> None:
    """BatchImportFindings as Security Hub documents it, where moto 5.2.5 accepts anything: the hub must be
    enabled; at most 100 findings a request; each finding's AwsAccountId must be the caller's and its
    ProductArn the caller's default product in this region; Title <= 256, Description <= 1024, Remediation
    text <= 512 characters and 240 KB per finding (else it is a FailedFindings entry); a record is keyed by
    Id and ProductArn, and an update keeps its Workflow and Note (only BatchUpdateFindings changes them).
    BatchUpdateFindings (missing in moto): Workflow.Status and Note of existing records."""
    import json

    from moto.securityhub import urls
    from moto.securityhub.exceptions import InvalidInputException
    from moto.securityhub.exceptions import SecurityHubClientError as RESTError
    from moto.securityhub.models import Finding, SecurityHubBackend
    from moto.securityhub.responses import SecurityHubResponse

    backend_cls: Any = SecurityHubBackend
    response_cls: Any = SecurityHubResponse

    def _require_enabled(self: Any) -> None:
        if not self.enabled:
            message = f"Account {self.account_id} is not subscribed to AWS Security Hub"
            raise RESTError("InvalidAccessException", message)

    def _refusal(self: Any, data: dict[str, Any]) -> str | None:
        product = f"arn:aws:securityhub:{self.region_name}:{self.account_id}:product/{self.account_id}/default"
        if data.get("AwsAccountId") != self.account_id:
            return f"AwsAccountId {data.get('AwsAccountId')} is not the calling account {self.account_id}"
        if data.get("ProductArn") != product:
            return f"ProductArn {data.get('ProductArn')} is not {product}"
        limits = (("Title", 256), ("Description", 1024))
        for key, limit in limits:
            if not isinstance(data.get(key), str) or not 1 <= len(data[key]) <= limit:
                return f"{key} must be 1 to {limit} characters"
        text = ((data.get("Remediation") or {}).get("Recommendation") or {}).get("Text", "")
        if len(text) > 512:
            return "Remediation.Recommendation.Text must be at most 512 characters"
        if len(json.dumps(data).encode("utf-8")) > 240 * 1024:
            return "finding is larger than 240 KB"
        if not isinstance(data.get("Resources"), list) or not data["Resources"]:
            return "Finding must contain at least one resource in the Resources array"
        return None

    def batch_import_findings(self: Any, findings: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
        _require_enabled(self)
        if not 1 <= len(findings) <= 100:
            raise InvalidInputException(op="BatchImportFindings", msg="Findings must hold 1 to 100 findings")
        failed: list[dict[str, Any]] = []
        for data in findings:
            reason = _refusal(self, data)
            if reason:
                failed.append({"Id": data.get("Id", ""), "ErrorCode": "InvalidInput", "ErrorMessage": reason})
                continue
            key = (data["Id"], data["ProductArn"])
            existing = next((f for f in self.findings if (f.id, f.data.get("ProductArn")) == key), None)
            if existing is None:
                self.findings.append(Finding(data["Id"], dict(data)))
            else:
                kept = {k: existing.data[k] for k in ("Workflow", "Note") if k in existing.data}
                existing.data.update({**data, **kept})
        return len(failed), len(findings) - len(failed), failed

    def batch_update_findings(
        self: Any, identifiers: list[dict[str, str]], workflow: dict[str, str] | None, note: dict[str, str] | None
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        _require_enabled(self)
        if not 1 <= len(identifiers) <= 100:
            raise InvalidInputException(op="BatchUpdateFindings", msg="FindingIdentifiers must hold 1 to 100")
        processed, unprocessed = [], []
        for ident in identifiers:
            key = (ident.get("Id"), ident.get("ProductArn"))
            found = next((f for f in self.findings if (f.id, f.data.get("ProductArn")) == key), None)
            if found is None:
                unprocessed.append(
                    {"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "Finding not found"}
                )
                continue
            if workflow:
                found.data["Workflow"] = dict(workflow)
            if note:
                found.data["Note"] = {**note, "UpdatedAt": _now().isoformat()}
            processed.append(ident)
        return processed, unprocessed

    def batch_update_findings_response(self: Any) -> str:
        body = json.loads(self.body or "{}")
        processed, unprocessed = self.securityhub_backend.batch_update_findings(
            body.get("FindingIdentifiers") or [], body.get("Workflow"), body.get("Note")
        )
        return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})

    backend_cls.batch_import_findings = batch_import_findings
    backend_cls.batch_update_findings = batch_update_findings
    response_cls.batch_update_findings = batch_update_findings_response
    urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch


# AppConfig (moto 5.2.5 has applications, profiles and hosted versions; not environments, deployments or the
# AppConfigData data plane). Test support: how many GetDeployment answers say DEPLOYING, then BAKING, before a
# deployment completes, and environments whose next deployment rolls back ((application id, environment id) ->
# reason). Counted in answers, not seconds, so a test never waits on the wall clock.
DEPLOYMENT_POLLS = 0
BAKING_POLLS = 0
DEPLOYMENT_FAULTS: dict[tuple[str, str], str] = {}
# The predefined deployment strategies: (duration min, growth type, growth %, final bake min).
APPCONFIG_STRATEGIES = {
    "AppConfig.AllAtOnce": (0, "LINEAR", 100.0, 10),
    "AppConfig.Linear50PercentEvery30Seconds": (1, "LINEAR", 50.0, 1),
    "AppConfig.Canary10Percent20Minutes": (20, "EXPONENTIAL", 10.0, 10),
    "AppConfig.Linear20PercentEvery6Minutes": (30, "LINEAR", 20.0, 30),
}


def fail_next_deployment(application_id: str, environment_id: str, reason: str) -> None:
    DEPLOYMENT_FAULTS[(application_id, environment_id)] = reason


def _appconfig_extensions() -> None:
    """Environments (with CloudWatch alarm monitors), deployment strategies, StartDeployment/GetDeployment and
    AppConfigData's StartConfigurationSession/GetLatestConfiguration, as the API reference describes them. A
    deployment completes at once (or says DEPLOYING for DEPLOYMENT_POLLS GetDeployment answers, then BAKING for
    BAKING_POLLS) and is rolled back when a monitor's alarm is in ALARM while it deploys or bakes (or by
    fail_next_deployment); clients read the content of the latest delivered (BAKING or COMPLETE) deployment of
    the profile to the environment."""
    import json
    import secrets

    from moto.appconfig import urls
    from moto.appconfig.models import AppConfigBackend, appconfig_backends
    from moto.appconfig.responses import AppConfigResponse
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import mock_random

    backend_cls: Any = AppConfigBackend
    response_cls: Any = AppConfigResponse

    def not_found(message: str) -> JsonRESTError:
        return JsonRESTError("ResourceNotFoundException", message)

    def bad_request(message: str) -> JsonRESTError:
        return JsonRESTError("BadRequestException", message)

    def store(self: Any) -> dict[str, Any]:
        if not hasattr(self, "_mlgov_appconfig"):
            self._mlgov_appconfig = {"environments": {}, "deployments": {}, "strategies": {}, "sessions": {}}
        value: dict[str, Any] = self._mlgov_appconfig
        return value

    def create_environment(self: Any, app_id: str, name: str, description: str | None, monitors: Any) -> Any:
        self.get_application(app_id)
        env = {
            "ApplicationId": app_id,
            "Id": mock_random.get_random_hex(7),
            "Name": name,
            "Description": description or "",
            "State": "READY_FOR_DEPLOYMENT",
            "Monitors": monitors or [],
        }
        store(self)["environments"][(app_id, env["Id"])] = env
        return env

    def get_environment(self: Any, app_id: str, env_id: str) -> Any:
        self.get_application(app_id)
        env = store(self)["environments"].get((app_id, env_id))
        if env is None:
            raise not_found(f"Environment {env_id} not found")
        return env

    def create_deployment_strategy(self: Any, params: dict[str, Any]) -> Any:
        strategy = {
            "Id": mock_random.get_random_hex(7),
            "Name": params["Name"],
            "Description": params.get("Description", ""),
            "DeploymentDurationInMinutes": params["DeploymentDurationInMinutes"],
            "GrowthType": params.get("GrowthType", "LINEAR"),
            "GrowthFactor": float(params["GrowthFactor"]),
            "FinalBakeTimeInMinutes": params.get("FinalBakeTimeInMinutes", 0),
            "ReplicateTo": params.get("ReplicateTo", "NONE"),
        }
        store(self)["strategies"][strategy["Id"]] = strategy
        return strategy

    def get_deployment_strategy(self: Any, strategy_id: str) -> Any:
        if strategy_id in APPCONFIG_STRATEGIES:
            duration, growth, factor, bake = APPCONFIG_STRATEGIES[strategy_id]
            return {
                "Id": strategy_id,
                "Name": strategy_id,
                "DeploymentDurationInMinutes": duration,
                "GrowthType": growth,
                "GrowthFactor": factor,
                "FinalBakeTimeInMinutes": bake,
                "ReplicateTo": "NONE",
            }
        strategy = store(self)["strategies"].get(strategy_id)
        if strategy is None:
            raise not_found(f"Deployment strategy {strategy_id} not found")
        return strategy

    def firing_alarm(env: dict[str, Any]) -> str | None:
        from moto.cloudwatch.models import cloudwatch_backends

        for monitor in env["Monitors"]:
            parts = monitor["AlarmArn"].split(":", 6)  # arn:aws:cloudwatch:region:account:alarm:name
            if len(parts) == 7:
                alarm = cloudwatch_backends[parts[4]][parts[3]].alarms.get(parts[6])
                if alarm is not None and alarm.state_value == "ALARM":
                    return str(monitor["AlarmArn"])
        return None

    def event(kind: str, by: str, text: str) -> dict[str, Any]:
        return {"EventType": kind, "TriggeredBy": by, "Description": text, "OccurredAt": _now().isoformat()}

    def settle(env: dict[str, Any], deployment: dict[str, Any]) -> None:
        """Move a DEPLOYING or BAKING deployment on when its polls are spent; roll it back when an alarm fires
        meanwhile (AppConfig watches the monitors through the bake too)."""
        alarm = firing_alarm(env)
        if alarm and not deployment["_fault"]:
            deployment["_fault"] = ("CLOUDWATCH_ALARM", f"Rollback initiated by CloudWatch alarm {alarm}")
        if deployment["_polls"] > 0 and not deployment["_fault"]:
            deployment["_polls"] -= 1
            return
        log = deployment["EventLog"]
        if deployment["_fault"]:
            by, text = deployment["_fault"]
            log[:0] = [event("ROLLBACK_COMPLETED", by, text), event("ROLLBACK_STARTED", by, text)]
            deployment.update(State="ROLLED_BACK", PercentageComplete=0.0)
            env["State"] = "ROLLED_BACK"
        elif deployment["State"] == "DEPLOYING" and deployment["_bake_polls"] > 0:
            # Every client has the configuration; the bake still watches the alarms.
            log[:0] = [event("BAKE_TIME_STARTED", "APPCONFIG", "Bake time started")]
            deployment.update(State="BAKING", PercentageComplete=100.0, _polls=deployment["_bake_polls"] - 1)
        else:
            log[:0] = [event("DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed")]
            deployment.update(State="COMPLETE", PercentageComplete=100.0, CompletedAt=_now().isoformat())
            env["State"] = "READY_FOR_DEPLOYMENT"

    def start_deployment(self: Any, app_id: str, env_id: str, params: dict[str, Any]) -> Any:
        env = get_environment(self, app_id, env_id)
        strategy = get_deployment_strategy(self, params["DeploymentStrategyId"])
        profile = self.get_configuration_profile(app_id, params["ConfigurationProfileId"])
        number = str(params["ConfigurationVersion"])
        if not number.isdigit():
            raise bad_request(f"ConfigurationVersion {number} is not a hosted configuration version number")
        version = profile.get_version(int(number))
        deployments = store(self)["deployments"].setdefault((app_id, env_id), [])
        running = next((d for d in deployments if d["State"] == "DEPLOYING"), None)
        if running is not None:
            raise JsonRESTError(
                "ConflictException",
                f"Deployment number {running['DeploymentNumber']} is already in progress on environment {env_id}",
            )
        fault = DEPLOYMENT_FAULTS.pop((app_id, env_id), None)
        deployment = {
            "ApplicationId": app_id,
            "EnvironmentId": env_id,
            "DeploymentStrategyId": strategy["Id"],
            "ConfigurationProfileId": profile.id,
            "DeploymentNumber": len(deployments) + 1,
            "ConfigurationName": profile.name,
            "ConfigurationLocationUri": profile.location_uri,
            "ConfigurationVersion": number,
            "Description": params.get("Description", ""),
            "DeploymentDurationInMinutes": strategy["DeploymentDurationInMinutes"],
            "GrowthType": strategy["GrowthType"],
            "GrowthFactor": strategy["GrowthFactor"],
            "FinalBakeTimeInMinutes": strategy["FinalBakeTimeInMinutes"],
            "State": "DEPLOYING",
            "EventLog": [event("DEPLOYMENT_STARTED", "USER", "Deployment started")],
            "PercentageComplete": 0.0,
            "StartedAt": _now().isoformat(),
            "_content": version.content,
            "_content_type": version.content_type,
            "_polls": DEPLOYMENT_POLLS,
            "_bake_polls": BAKING_POLLS,
            "_fault": ("APPCONFIG", fault) if fault else None,
        }
        deployments.append(deployment)
        env["State"] = "DEPLOYING"
        if fault or (DEPLOYMENT_POLLS <= 0 and BAKING_POLLS <= 0):
            settle(env, deployment)
        return deployment

    def get_deployment(self: Any, app_id: str, env_id: str, number: int) -> Any:
        env = get_environment(self, app_id, env_id)
        deployments = store(self)["deployments"].get((app_id, env_id), [])
        if not 1 <= number <= len(deployments):
            raise not_found(f"Deployment {number} not found in environment {env_id}")
        deployment = deployments[number - 1]
        if deployment["State"] in ("DEPLOYING", "BAKING"):
            settle(env, deployment)
        return deployment

    def public(item: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in item.items() if not k.startswith("_")})

    def resolve(items: Any, identifier: str, kind: str) -> Any:
        found = next((i for i in items if identifier in (i["Id"], i["Name"])), None)
        if found is None:
            raise JsonRESTError("ResourceNotFoundException", f"{kind} {identifier} not found")
        return found

    def start_configuration_session(self: Any, app: str, env: str, profile: str, interval: int | None) -> str:
        apps = [{"Id": a.id, "Name": a.name} for a in self.applications.values()]
        app_id = resolve(apps, app, "Application")["Id"]
        envs = [e for (a, _), e in store(self)["environments"].items() if a == app_id]
        env_id = resolve(envs, env, "Environment")["Id"]
        profiles = [{"Id": p.id, "Name": p.name} for p in self.list_configuration_profiles(app_id)]
        profile_id = resolve(profiles, profile, "ConfigurationProfile")["Id"]
        if interval is not None and not 15 <= interval <= 86400:
            raise bad_request("RequiredMinimumPollIntervalInSeconds must be between 15 and 86400")
        token = secrets.token_urlsafe(32)
        store(self)["sessions"][token] = {"target": (app_id, env_id, profile_id), "seen": None, "interval": interval}
        return token

    def get_latest_configuration(self: Any, token: str) -> tuple[str, dict[str, Any], str]:
        session = store(self)["sessions"].pop(token, None)  # a token is good for one call
        if session is None:
            raise bad_request("Token is invalid or has already been used")
        app_id, env_id, profile_id = session["target"]
        delivered = [
            d
            for d in store(self)["deployments"].get((app_id, env_id), [])
            if d["ConfigurationProfileId"] == profile_id and d["State"] in ("BAKING", "COMPLETE")
        ]
        if not delivered:
            raise not_found(f"Deployment not found for configuration profile {profile_id} in environment {env_id}")
        latest = delivered[-1]
        following = secrets.token_urlsafe(32)
        store(self)["sessions"][following] = {**session, "seen": latest["DeploymentNumber"]}
        # A client that already has the latest configuration gets an empty body.
        content = "" if session["seen"] == latest["DeploymentNumber"] else latest["_content"]
        headers = {
            "Next-Poll-Configuration-Token": following,
            "Next-Poll-Interval-In-Seconds": str(session["interval"] or 60),
            "Content-Type": latest["_content_type"] if content else "application/octet-stream",
        }
        return content, headers, latest["ConfigurationVersion"]

    for name, fn in {
        "create_environment": create_environment,
        "get_environment": get_environment,
        "create_deployment_strategy": create_deployment_strategy,
        "get_deployment_strategy": get_deployment_strategy,
        "start_deployment": start_deployment,
        "get_deployment": get_deployment,
        "start_configuration_session": start_configuration_session,
        "get_latest_configuration": get_latest_configuration,
    }.items():
        setattr(backend_cls, name, fn)

    def create_environment_response(self: Any) -> tuple[int, dict[str, str], str]:
        env = self.appconfig_backend.create_environment(
            self._get_param("ApplicationId"),
            self._get_param("Name"),
            self._get_param("Description"),
            self._get_param("Monitors"),
        )
        return 201, {}, public(env)

    def get_environment_response(self: Any) -> str:
        env = self.appconfig_backend.get_environment(self._get_param("ApplicationId"), self._get_param("EnvironmentId"))
        return public(env)

    def create_deployment_strategy_response(self: Any) -> tuple[int, dict[str, str], str]:
        return 201, {}, public(self.appconfig_backend.create_deployment_strategy(json.loads(self.body or "{}")))

    def get_deployment_strategy_response(self: Any) -> str:
        return public(self.appconfig_backend.get_deployment_strategy(self._get_param("DeploymentStrategyId")))

    def start_deployment_response(self: Any) -> tuple[int, dict[str, str], str]:
        deployment = self.appconfig_backend.start_deployment(
            self._get_param("ApplicationId"), self._get_param("EnvironmentId"), json.loads(self.body or "{}")
        )
        return 201, {}, public(deployment)

    def get_deployment_response(self: Any) -> str:
        deployment = self.appconfig_backend.get_deployment(
            self._get_param("ApplicationId"),
            self._get_param("EnvironmentId"),
            int(self._get_param("DeploymentNumber")),
        )
        return public(deployment)

    for name, fn in {
        "create_environment": create_environment_response,
        "get_environment": get_environment_response,
        "create_deployment_strategy": create_deployment_strategy_response,
        "get_deployment_strategy": get_deployment_strategy_response,
        "start_deployment": start_deployment_response,
        "get_deployment": get_deployment_response,
    }.items():
        setattr(response_cls, name, fn)

    class AppConfigDataResponse(BaseResponse):
        """AppConfigData: its own endpoint (appconfigdata.<region>), signed as appconfig, served by this backend."""

        def __init__(self) -> None:
            super().__init__(service_name="appconfigdata")

        @property
        def backend(self) -> Any:
            return appconfig_backends[self.current_account][self.region]

        def start_configuration_session(self) -> tuple[int, dict[str, str], str]:
            body = json.loads(self.body or "{}")
            token = self.backend.start_configuration_session(
                body.get("ApplicationIdentifier", ""),
                body.get("EnvironmentIdentifier", ""),
                body.get("ConfigurationProfileIdentifier", ""),
                body.get("RequiredMinimumPollIntervalInSeconds"),
            )
            return 201, {}, json.dumps({"InitialConfigurationToken": token})

        def get_latest_configuration(self) -> tuple[int, dict[str, str], str]:
            token = (self.querystring.get("configuration_token") or [""])[0]
            content, headers, _ = self.backend.get_latest_configuration(token)
            return 200, headers, content

    ours = {
        "{0}/applications/(?P<app_id>[^/]+)/environments$": AppConfigResponse.dispatch,
        "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)$": AppConfigResponse.dispatch,
        "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)/deployments$": AppConfigResponse.dispatch,
        "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)/deployments/(?P<number>[^/]+)$": (
            AppConfigResponse.dispatch
        ),
        "{0}/deploymentstrategies$": AppConfigResponse.dispatch,
        "{0}/deploymentstrategies/(?P<strategy_id>[^/]+)$": AppConfigResponse.dispatch,
        "{0}/configurationsessions$": AppConfigDataResponse.dispatch,
        "{0}/configuration$": AppConfigDataResponse.dispatch,
    }
    urls.url_paths.update(ours)
    # In-process, mock_aws finds a backend by host: AppConfigData's host is served by the appconfig backend.
    import re

    from moto import backend_index

    data_host = r"https?://appconfigdata\.(.+)\.amazonaws\.com"
    urls.url_bases.append(data_host)
    backend_index.backend_url_patterns.insert(0, ("appconfig", re.compile(data_host)))


def install() -> None:
    """Extend moto in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _backend_extensions()
    _response_extensions()
    _sts_extensions()
    _ecr_extensions()
    _autoscaling_extensions()
    _sqs_extensions()
    _s3_extensions()
    _securityhub_extensions()
    _appconfig_extensions()
    _INSTALLED = True


def _server_extensions() -> None:
    """moto's server picks a service from the Authorization header; a SigV4 query-presigned request (the
    approval service's identity proof) has none and names its service in X-Amz-Credential, as STS reads it."""
    import urllib.parse

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    app_cls: Any = DomainDispatcherApplication
    original = app_cls.infer_service_region_host

    def infer_service_region_host(self: Any, environ: dict[str, Any], path: str) -> str | None:
        if not environ.get("HTTP_AUTHORIZATION"):
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            scope = (query.get("X-Amz-Credential") or [""])[0].split("/")
            if len(scope) == 5 and scope[3] == "sts":
                return "sts.amazonaws.com"
        return cast(str | None, original(self, environ, path))

    app_cls.infer_service_region_host = infer_service_region_host


def main(argv: list[str] | None = None) -> None:
    install()
    _server_extensions()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
