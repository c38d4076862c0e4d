"""The emulator's extensions to moto: UpdateEndpoint and inference components, through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov import emulator
from mlgov.emulator import install
from tests.integration.conftest import pending_package

REGION = "us-east-1"


def _client_as(service: str, credentials: dict[str, Any], region: str = REGION) -> Any:
    """A client that signs with the temporary credentials AssumeRole returned."""
    make_client: Any = boto3.client  # the service is a plain string here, not one of the stubs' literals
    return make_client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture
def sm() -> Iterator[Any]:
    install()
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        for name in ("model-a", "model-b"):
            client.create_model(
                ModelName=name,
                ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
            )
        yield client


def _config(sm: Any, name: str, **variant: Any) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "main", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1, **variant}
        ],
    )


def test_update_endpoint_moves_the_endpoint_to_the_new_config(sm: Any) -> None:
    _config(sm, "cfg-a", ModelName="model-a")
    _config(sm, "cfg-b", ModelName="model-b")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    arn = sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")["EndpointArn"]
    assert arn.endswith(":endpoint/ep")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "cfg-b"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.update_endpoint(EndpointName="nope", EndpointConfigName="cfg-b")


def test_inference_components_live_on_an_endpoint_whose_variant_has_no_model(sm: Any) -> None:
    # Given an endpoint built for inference components: its variant names no model
    _config(sm, "cfg-ic")
    sm.create_endpoint(EndpointName="ep-ic", EndpointConfigName="cfg-ic")
    # When two components are created, one with a registered model, one with a raw container
    sm.create_inference_component(
        InferenceComponentName="ic-approved",
        EndpointName="ep-ic",
        VariantName="main",
        Specification={"ModelName": "model-a", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024}},
        RuntimeConfig={"CopyCount": 1},
    )
    sm.create_inference_component(
        InferenceComponentName="ic-rogue",
        EndpointName="ep-ic",
        VariantName="main",
        Specification={
            "Container": {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/rogue:1", "ArtifactUrl": "s3://b/m"},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
        },
        RuntimeConfig={"CopyCount": 2},
    )
    # Then both are listed for the endpoint and described with their specification
    listed = sm.list_inference_components(EndpointNameEquals="ep-ic")["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in listed] == ["ic-approved", "ic-rogue"]
    rogue = sm.describe_inference_component(InferenceComponentName="ic-rogue")
    assert rogue["Specification"]["Container"]["ArtifactUrl"] == "s3://b/m"
    assert rogue["RuntimeConfig"]["CurrentCopyCount"] == 2
    # And an update swaps the model behind a component; a delete removes it
    sm.update_inference_component(InferenceComponentName="ic-approved", Specification={"ModelName": "model-b"})
    swapped = sm.describe_inference_component(InferenceComponentName="ic-approved")
    assert swapped["Specification"]["ModelName"] == "model-b"
    sm.delete_inference_component(InferenceComponentName="ic-rogue")
    assert len(sm.list_inference_components(EndpointNameEquals="ep-ic")["InferenceComponents"]) == 1
    with pytest.raises(ClientError, match="Could not find inference component"):
        sm.describe_inference_component(InferenceComponentName="ic-rogue")
    assert sm.list_inference_components(EndpointNameEquals="other")["InferenceComponents"] == []


def test_update_model_package_changes_only_what_the_request_names(sm: Any) -> None:
    # Given a package with metadata
    sm.create_model_package_group(ModelPackageGroupName="g")
    arn = pending_package(
        sm, "g", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", {"catalog_snapshot_date": "2026-11-01"}
    )
    # When it is rejected, then a metadata key is written on its own
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="CTR down")
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "x"})
    # Then status, description and the earlier metadata are all still there
    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "CTR down"
    assert package["CustomerMetadataProperties"] == {"catalog_snapshot_date": "2026-11-01", "note": "x"}


def test_an_update_is_updating_for_the_polls_set_then_serves_the_new_config(
    sm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(sm, "cfg-a", ModelName="model-a")
    _config(sm, "cfg-b", ModelName="model-b")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    monkeypatch.setattr(emulator, "UPDATE_POLLS", 1)
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    first = sm.describe_endpoint(EndpointName="ep")
    assert (first["EndpointStatus"], first["EndpointConfigName"]) == ("Updating", "cfg-a")  # the old fleet serves
    with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
        sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    second = sm.describe_endpoint(EndpointName="ep")
    assert (second["EndpointStatus"], second["EndpointConfigName"]) == ("InService", "cfg-b")


def test_a_failed_update_is_rolled_back_to_the_old_config_with_its_reason(sm: Any) -> None:
    _config(sm, "cfg-a", ModelName="model-a")
    _config(sm, "cfg-b", ModelName="model-b")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    emulator.fail_next_update(
        "ep", "The primary container for production variant main did not pass the ping health check."
    )
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    after = sm.describe_endpoint(EndpointName="ep")
    assert (after["EndpointStatus"], after["EndpointConfigName"]) == ("InService", "cfg-a")
    assert "ping health check" in after["FailureReason"]


def test_describe_images_reads_another_accounts_registry() -> None:
    install()
    with mock_aws():
        sts = boto3.client("sts", region_name=REGION)
        creds = sts.assume_role(
            RoleArn="arn:aws:iam::763104351884:role/OrganizationAccountAccessRole", RoleSessionName="seed"
        )["Credentials"]
        other = _client_as("ecr", creds)
        other.create_repository(repositoryName="tgi")
        manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
        other.put_image(repositoryName="tgi", imageManifest=manifest, imageTag="2.4")
        ecr = boto3.client("ecr", region_name=REGION)
        found = ecr.describe_images(registryId="763104351884", repositoryName="tgi", imageIds=[{"imageTag": "2.4"}])
        assert found["imageDetails"][0]["imageTags"] == ["2.4"]
        with pytest.raises(ClientError, match="RepositoryNotFoundException"):
            ecr.describe_images(repositoryName="tgi")  # not in the caller's own registry


def test_sqs_records_the_assumed_role_that_sent_a_message_as_its_sender_id() -> None:
    import json

    install()
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName="sender", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role["Arn"], RoleSessionName="fn")
        c = creds["Credentials"]
        as_role = _client_as("sqs", c)
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        as_role.send_message(QueueUrl=url, MessageBody="from the role")
        sqs.send_message(QueueUrl=url, MessageBody="from the default user")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SenderId"])
        senders = {m["Body"]: m["Attributes"]["SenderId"] for m in got["Messages"]}
        assert senders["from the role"] == f"{role['RoleId']}:fn"
        assert not senders["from the default user"].startswith(role["RoleId"])


def test_create_model_package_records_the_calling_role_in_created_by(sm: Any) -> None:
    # DescribeModelPackage's CreatedBy.IamIdentity (botocore's SageMaker model); moto leaves IamIdentity out.
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="Pipeline", Path="/mlgov-protected/", AssumeRolePolicyDocument="{}")["Role"]
    c = boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=role["Arn"], RoleSessionName="run-1")
    creds = c["Credentials"]
    as_role = _client_as("sagemaker", creds, "us-east-1")
    sm.create_model_package_group(ModelPackageGroupName="g")
    spec = {"Containers": [{"Image": "img"}], "SupportedContentTypes": ["a"], "SupportedResponseMIMETypes": ["a"]}
    arn = as_role.create_model_package(ModelPackageGroupName="g", InferenceSpecification=spec)["ModelPackageArn"]
    identity = sm.describe_model_package(ModelPackageName=arn)["CreatedBy"]["IamIdentity"]
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/Pipeline/run-1"
    assert identity["PrincipalId"] == f"{role['RoleId']}:run-1"


def test_finish_execution_ends_an_execution_with_its_output() -> None:
    import json

    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r", definition="{}")
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        emulator.finish_execution(execution, {"registered": {"model_package_arn": "p"}})
        described = sfn.describe_execution(executionArn=execution)
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"registered": {"model_package_arn": "p"}}


SH_PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def _asff(**changes: Any) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": "mlgov/x",
        "ProductArn": SH_PRODUCT,
        "GeneratorId": "mlgov/K",
        "AwsAccountId": "123456789012",
        "Types": ["Software and Configuration Checks/AWS Security Best Practices/K"],
        "CreatedAt": "2026-12-01T10:00:00Z",
        "UpdatedAt": "2026-12-01T10:00:00Z",
        "Severity": {"Label": "HIGH"},
        "Title": "t",
        "Description": "d",
        "Resources": [{"Type": "Other", "Id": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"}],
        "Workflow": {"Status": "NEW"},
        **changes,
    }


@pytest.fixture
def hub() -> Iterator[Any]:
    install()
    with mock_aws():
        client = boto3.client("securityhub", region_name=REGION)
        client.enable_security_hub()
        yield client


def test_security_hub_import_keeps_the_workflow_only_batch_update_changes_it(hub: Any) -> None:
    hub.batch_import_findings(Findings=[_asff()])
    hub.batch_import_findings(Findings=[_asff(Workflow={"Status": "SUPPRESSED"}, RecordState="ARCHIVED")])
    [record] = hub.get_findings()["Findings"]
    assert record["Workflow"] == {"Status": "NEW"} and record["RecordState"] == "ARCHIVED"
    answer = hub.batch_update_findings(
        FindingIdentifiers=[{"Id": "mlgov/x", "ProductArn": SH_PRODUCT}, {"Id": "mlgov/y", "ProductArn": SH_PRODUCT}],
        Workflow={"Status": "RESOLVED"},
    )
    assert [p["Id"] for p in answer["ProcessedFindings"]] == ["mlgov/x"]
    assert answer["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"
    assert hub.get_findings()["Findings"][0]["Workflow"] == {"Status": "RESOLVED"}


def test_security_hub_import_enforces_the_documented_rules(hub: Any) -> None:
    answer = hub.batch_import_findings(
        Findings=[
            _asff(Id="a", AwsAccountId="210987654321"),  # another account, default product
            _asff(Id="b", ProductArn=SH_PRODUCT.replace("123456789012", "210987654321")),
            _asff(Id="c", Description="d" * 1025),
            _asff(Id="d", Title="t" * 257),
            _asff(Id="e"),
        ]
    )
    assert answer["SuccessCount"] == 1 and [f["Id"] for f in answer["FailedFindings"]] == ["a", "b", "c", "d"]
    with pytest.raises(ClientError, match="InvalidInputException"):
        hub.batch_import_findings(Findings=[_asff(Id=str(n)) for n in range(101)])


def test_security_hub_import_needs_the_hub_enabled() -> None:
    install()
    with mock_aws():
        client = boto3.client("securityhub", region_name=REGION)
        with pytest.raises(ClientError, match="InvalidAccessException"):
            client.batch_import_findings(Findings=[_asff()])


def test_the_emulator_server_answers_a_presigned_caller_identity_as_its_signer() -> None:
    """In server mode (make demo, the CLI tests) a query-presigned GetCallerIdentity carries no Authorization
    header; the server still routes it to STS, which names the signer, as the approval service relies on."""
    import json

    from botocore import UNSIGNED
    from botocore.config import Config

    from mlgov import sandbox
    from mlgov.ops.identity_proof import presign
    from mlgov_runtime.approvals.identity import Unproven, binding, caller_via_sts

    with sandbox.moto_server() as server:
        admin = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="a", region_name="us-east-1")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam = admin.client("iam", endpoint_url=server.url)
        role = iam.create_role(RoleName="MLOps", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        sts = admin.client("sts", endpoint_url=server.url)
        c = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="alice")["Credentials"]
        alice = boto3.session.Session(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
            region_name="us-east-1",
        )
        body, credentials = binding({"action": "decide"}), alice.get_credentials()
        assert credentials is not None
        here = "approvals0here.lambda-url.us-east-1.on.aws"
        proof = presign(credentials.get_frozen_credentials(), "us-east-1", server.url, body, here)
        unsigned = boto3.client(
            "sts", region_name="us-east-1", endpoint_url=server.url, config=Config(signature_version=UNSIGNED)
        )
        assert caller_via_sts(unsigned, proof, body, here) == "arn:aws:sts::123456789012:assumed-role/MLOps/alice"
        # The same proof checked by another service (its own host in the signed audience) does not verify.
        with pytest.raises(Unproven, match="SignatureDoesNotMatch"):
            caller_via_sts(unsigned, proof, body, "approvals0else.lambda-url.us-east-1.on.aws")


def test_a_function_url_answers_where_the_sandbox_serves_it() -> None:
    """GetFunctionUrlConfig answers the pinned URL (moto names a random host nobody serves), as Lambda answers a
    deployed function; the approval service checks proofs against it."""
    import io
    import zipfile

    from mlgov.emulator import serve_function_url_at

    install()
    with mock_aws():
        iam, lam = boto3.client("iam", region_name=REGION), boto3.client("lambda", region_name=REGION)
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("README", "")
        arn = lam.create_function(
            FunctionName="fn", Runtime="python3.11", Role=role, Handler="h.h", Code={"ZipFile": archive.getvalue()}
        )["FunctionArn"]
        serve_function_url_at(arn, "http://127.0.0.1:8123/")
        assert lam.get_function_url_config(FunctionName="fn")["FunctionUrl"] == "http://127.0.0.1:8123/"
        serve_function_url_at(arn, "http://127.0.0.1:8124/")  # served again elsewhere: the config stays, pinned anew
        assert lam.get_function_url_config(FunctionName=arn)["FunctionUrl"] == "http://127.0.0.1:8124/"


# -- AppConfig: environments, deployments and the AppConfigData data plane

ROUTE = {"recommendation_backend": "manga-recommender-serverless", "fallback_percent": 0}


@pytest.fixture
def appconfig() -> Iterator[tuple[Any, Any]]:
    install()
    with mock_aws():
        yield boto3.client("appconfig", region_name=REGION), boto3.client("appconfigdata", region_name=REGION)


def _deploy(ac: Any, ids: dict[str, str], document: dict[str, Any], strategy: str = "AppConfig.AllAtOnce") -> Any:
    import json

    version = ac.create_hosted_configuration_version(
        ApplicationId=ids["application_id"],
        ConfigurationProfileId=ids["configuration_profile_id"],
        Content=json.dumps(document).encode(),
        ContentType="application/json",
    )["VersionNumber"]
    return ac.start_deployment(
        ApplicationId=ids["application_id"],
        EnvironmentId=ids["environment_id"],
        DeploymentStrategyId=strategy,
        ConfigurationProfileId=ids["configuration_profile_id"],
        ConfigurationVersion=str(version),
        Description="50% to the fallback",
    )


def _recommender_alarm(cw: Any) -> str:
    """The recommender's error alarm (state OK until a test sets it), as an environment monitor names it."""
    cw.put_metric_alarm(
        AlarmName="recommender-errors",
        MetricName="Errors",
        Namespace="MangaAssist/Recommendations",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    return str(cw.describe_alarms(AlarmNames=["recommender-errors"])["MetricAlarms"][0]["AlarmArn"])


def _watched_route(ac: Any) -> tuple[Any, str, dict[str, str]]:
    """The route seeded in an environment that the recommender's error alarm monitors: (cloudwatch, alarm, ids)."""

    cw = boto3.client("cloudwatch", region_name=REGION)
    alarm = _recommender_alarm(cw)
    return cw, alarm, emulator.seed_route(ac, ROUTE, monitors=[{"AlarmArn": alarm}])


def _served(data: Any, ids: dict[str, str]) -> Any:
    """The route document a new client session reads."""
    import json

    return json.loads(emulator.read_route(data, ids)["Configuration"].read())


def _assert_rolled_back_by(deployment: Any, alarm: str) -> None:
    latest = deployment["EventLog"][0]
    assert deployment["State"] == "ROLLED_BACK" and latest["TriggeredBy"] == "CLOUDWATCH_ALARM"
    assert alarm in latest["Description"]


def _polls(monkeypatch: pytest.MonkeyPatch, deploying: int, baking: int = 0) -> None:
    """How many GetDeployment answers say DEPLOYING, then BAKING, for the deployments started next."""
    monkeypatch.setattr(emulator, "DEPLOYMENT_POLLS", deploying)
    monkeypatch.setattr(emulator, "BAKING_POLLS", baking)


def _deployment(ac: Any, ids: dict[str, str], number: int) -> Any:
    return ac.get_deployment(
        ApplicationId=ids["application_id"], EnvironmentId=ids["environment_id"], DeploymentNumber=number
    )


def test_clients_read_the_latest_completed_deployment_once_per_session(appconfig: tuple[Any, Any]) -> None:
    import json

    ac, data = appconfig
    ids = emulator.seed_route(ac, ROUTE)
    first = emulator.read_route(data, ids)
    assert json.loads(first["Configuration"].read()) == ROUTE and first["ContentType"] == "application/json"
    started = _deploy(ac, ids, {**ROUTE, "fallback_percent": 50})
    assert (started["DeploymentNumber"], started["State"], started["GrowthFactor"]) == (2, "COMPLETE", 100.0)
    assert _deployment(ac, ids, 2)["EventLog"][0]["EventType"] == "DEPLOYMENT_COMPLETED"
    assert _served(data, ids)["fallback_percent"] == 50
    # A session's next poll returns the new configuration once, then an empty body; a used token is refused.
    following = data.get_latest_configuration(ConfigurationToken=first["NextPollConfigurationToken"])
    assert json.loads(following["Configuration"].read())["fallback_percent"] == 50
    again = data.get_latest_configuration(ConfigurationToken=following["NextPollConfigurationToken"])
    assert again["Configuration"].read() == b""
    with pytest.raises(ClientError, match="BadRequestException"):
        data.get_latest_configuration(ConfigurationToken=first["NextPollConfigurationToken"])


def test_appconfig_refuses_what_does_not_exist(appconfig: tuple[Any, Any]) -> None:
    ac, data = appconfig
    ids = emulator.seed_route(ac, ROUTE)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        emulator.read_route(data, {**ids, "environment_id": "staging"})
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _deploy(ac, ids, ROUTE, strategy="abc1234")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _deployment(ac, ids, 7)
    # A profile never deployed to the environment has nothing to read.
    other = ac.create_configuration_profile(ApplicationId=ids["application_id"], Name="other", LocationUri="hosted")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        emulator.read_route(data, {**ids, "configuration_profile_id": other["Id"]})


def test_a_custom_deployment_strategy_is_used_by_its_id(appconfig: tuple[Any, Any]) -> None:
    ac, _ = appconfig
    ids = emulator.seed_route(ac, ROUTE)
    strategy = ac.create_deployment_strategy(
        Name="quarter", DeploymentDurationInMinutes=4, GrowthFactor=25, FinalBakeTimeInMinutes=2
    )
    assert ac.get_deployment_strategy(DeploymentStrategyId=strategy["Id"])["GrowthFactor"] == 25.0
    started = _deploy(ac, ids, ROUTE, strategy=strategy["Id"])
    assert (started["DeploymentStrategyId"], started["DeploymentDurationInMinutes"]) == (strategy["Id"], 4)


def test_a_deployment_deploys_for_the_polls_set_and_blocks_another_meanwhile(
    appconfig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ac, data = appconfig
    ids = emulator.seed_route(ac, ROUTE)
    _polls(monkeypatch, deploying=1)
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 10})["State"] == "DEPLOYING"
    env = ac.get_environment(ApplicationId=ids["application_id"], EnvironmentId=ids["environment_id"])
    assert env["State"] == "DEPLOYING"
    with pytest.raises(ClientError, match="ConflictException"):
        _deploy(ac, ids, {**ROUTE, "fallback_percent": 25})
    assert _served(data, ids)["fallback_percent"] == 0  # not delivered yet
    assert _deployment(ac, ids, 2)["State"] == "DEPLOYING"
    assert _deployment(ac, ids, 2)["State"] == "COMPLETE"
    assert _served(data, ids)["fallback_percent"] == 10


def test_a_deployment_bakes_for_the_polls_set_with_clients_served_and_an_alarm_then_rolls_it_back(
    appconfig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ac, data = appconfig
    cw, alarm, ids = _watched_route(ac)
    _polls(monkeypatch, deploying=1, baking=2)
    # Given one DEPLOYING answer then two BAKING answers: the bake serves the new configuration.
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 10})["State"] == "DEPLOYING"
    assert _deployment(ac, ids, 2)["State"] == "DEPLOYING"
    baking = _deployment(ac, ids, 2)
    assert (baking["State"], baking["PercentageComplete"]) == ("BAKING", 100.0)
    assert baking["EventLog"][0]["EventType"] == "BAKE_TIME_STARTED"
    assert _served(data, ids)["fallback_percent"] == 10
    assert _deployment(ac, ids, 2)["State"] == "BAKING"
    assert _deployment(ac, ids, 2)["State"] == "COMPLETE"
    # When the alarm fires during the next bake, that deployment is rolled back and clients get 10% again.
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 50})["State"] == "DEPLOYING"
    assert _deployment(ac, ids, 3)["State"] == "DEPLOYING"
    assert _deployment(ac, ids, 3)["State"] == "BAKING"
    assert _served(data, ids)["fallback_percent"] == 50
    cw.set_alarm_state(AlarmName="recommender-errors", StateValue="ALARM", StateReason="errors above 10")
    _assert_rolled_back_by(_deployment(ac, ids, 3), alarm)
    assert _served(data, ids)["fallback_percent"] == 10


def test_a_failed_deployment_is_rolled_back_and_clients_keep_the_previous_configuration(
    appconfig: tuple[Any, Any],
) -> None:
    ac, data = appconfig
    ids = emulator.seed_route(ac, ROUTE)
    emulator.fail_next_deployment(ids["application_id"], ids["environment_id"], "validator rejected the document")
    started = _deploy(ac, ids, {**ROUTE, "fallback_percent": 50})
    assert started["State"] == "ROLLED_BACK"
    assert [e["EventType"] for e in started["EventLog"]][:2] == ["ROLLBACK_COMPLETED", "ROLLBACK_STARTED"]
    env = ac.get_environment(ApplicationId=ids["application_id"], EnvironmentId=ids["environment_id"])
    assert env["State"] == "ROLLED_BACK"
    assert _served(data, ids) == ROUTE
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 25})["State"] == "COMPLETE"  # the fault was one-off


def test_a_monitor_alarm_in_alarm_rolls_a_deployment_back(
    appconfig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ac, data = appconfig
    cw, alarm, ids = _watched_route(ac)
    # The alarm fires while a deployment deploys: AppConfig rolls it back.
    _polls(monkeypatch, deploying=2)
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 10})["State"] == "DEPLOYING"
    cw.set_alarm_state(AlarmName="recommender-errors", StateValue="ALARM", StateReason="errors above 10")
    _assert_rolled_back_by(_deployment(ac, ids, 2), alarm)
    assert _served(data, ids)["fallback_percent"] == 0
    # Still in ALARM when the next one starts: rolled back at once; back to OK, it completes.
    _polls(monkeypatch, deploying=0)
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 10})["State"] == "ROLLED_BACK"
    cw.set_alarm_state(AlarmName="recommender-errors", StateValue="OK", StateReason="recovered")
    assert _deploy(ac, ids, {**ROUTE, "fallback_percent": 10})["State"] == "COMPLETE"


def test_the_emulator_server_deploys_and_serves_the_route_to_the_product_adapter() -> None:
    """Server mode (make demo): AppConfigData is signed as appconfig and reaches the same backend; the product's
    adapter steps the share, and an alarm in ALARM rolls the next step back."""
    from mlgov import sandbox
    from mlgov.ops.appconfig import AppConfigRoute, RouteError, RouteTarget

    with sandbox.moto_server() as server:
        session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="a", region_name=REGION)
        ac, data, cw = (
            session.client(s, endpoint_url=server.url) for s in ("appconfig", "appconfigdata", "cloudwatch")
        )
        alarm = _recommender_alarm(cw)
        ids = emulator.seed_route(ac, ROUTE, monitors=[{"AlarmArn": alarm}])
        target = RouteTarget(ids["application_id"], ids["environment_id"], ids["configuration_profile_id"])
        route = AppConfigRoute(ac, data, target, sleep=lambda s: None)
        assert route.value("fallback_percent") == 0
        assert "deployment 2 COMPLETE" in route.set_value("fallback_percent", 10, "10% to the fallback")
        assert route.value("fallback_percent") == 10
        cw.set_alarm_state(AlarmName="recommender-errors", StateValue="ALARM", StateReason="errors above 10")
        with pytest.raises(RouteError, match="deployment 3 of fallback_percent=50 was ROLLED_BACK"):
            route.set_value("fallback_percent", 50, "50% to the fallback")
        assert route.value("fallback_percent") == 10
