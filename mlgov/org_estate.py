"""An organization for the org-wide scan, seeded into an emulator: member accounts (created through
Organizations), the member role deployed in some of them (as the StackSet would), and SageMaker estates
reached through OrganizationAccountAccessRole. Used by `make demo`, the integration tests and the bench."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from mlgov.estate import GROUP, TGI_IMAGE, Estate, approved_package, seed_estate

BOOTSTRAP_ROLE = "OrganizationAccountAccessRole"  # Organizations creates it in every account it creates


@dataclass
class Member:
    name: str
    account_id: str
    session: Any
    estate: Estate | None = None
    has_role: bool = False


@dataclass
class Organization:
    governance_account: str
    members: dict[str, Member] = field(default_factory=dict)  # name -> member


def _credentials(sts: Any, account_id: str, role: str) -> dict[str, str]:
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName="mlgov-seed")
    c = creds["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def member_session(sts: Any, account_id: str, region: str) -> boto3.session.Session:
    creds = _credentials(sts, account_id, BOOTSTRAP_ROLE)
    return boto3.session.Session(
        creds["aws_access_key_id"], creds["aws_secret_access_key"], creds["aws_session_token"], region
    )


def create_organization(session: Any, endpoint_url: str | None, names: list[str]) -> tuple[str, dict[str, str]]:
    """An organization with one account per name; (governance account id, name -> account id)."""
    org = session.client("organizations", endpoint_url=endpoint_url)
    with contextlib.suppress(org.exceptions.AlreadyInOrganizationException):  # another scene made it
        org.create_organization(FeatureSet="ALL")
    ids = {}
    for name in names:
        status = org.create_account(Email=f"{name}@example.com", AccountName=name, Tags=[{"Key": "env", "Value": name}])
        ids[name] = status["CreateAccountStatus"]["AccountId"]
    governance = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"]
    return governance, ids


def deploy_member_role(
    member: boto3.session.Session, endpoint_url: str | None, role_name: str, governance: str
) -> None:
    """What the member role StackSet puts in an account: the role and exactly the checks' reads."""
    from mlgov.member_actions import member_actions

    iam = member.client("iam", endpoint_url=endpoint_url)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{governance}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(member_actions()), "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=role_name, PolicyName="MemberRead", PolicyDocument=json.dumps(policy))


def seed_small_estate(sm: Any, account_id: str, region: str) -> Estate:
    """Three endpoints: one on a fresh Approved package, one on an Approved package trained on an old
    catalog, one on a raw artifact."""
    estate = Estate(account_id, region)
    sm.create_model_package_group(ModelPackageGroupName=GROUP, ModelPackageGroupDescription="recommendation adapters")
    image = TGI_IMAGE.format(region=region)
    for label, snapshot in (("fresh", "2026-11-02"), ("old", "2026-03-14")):
        arn = approved_package(sm, region, {"catalog_snapshot_date": snapshot, "team": "recsys"})
        estate.packages[label] = arn
        sm.create_model(
            ModelName=f"rec-{label}",
            ExecutionRoleArn=f"arn:aws:iam::{account_id}:role/SageMakerExecution",
            PrimaryContainer={"ModelPackageName": arn},
        )
    sm.create_model(
        ModelName="rec-raw",
        ExecutionRoleArn=f"arn:aws:iam::{account_id}:role/SageMakerExecution",
        PrimaryContainer={"Image": image, "ModelDataUrl": "s3://staging-scratch/lora/model.tar.gz"},
    )
    for name, model, verdict, what in (
        ("recs-staging", "rec-fresh", "COMPLIANT", "approved package, catalog of 2026-11-02"),
        ("recs-staging-legacy", "rec-old", "COMPLIANT", "approved package, catalog of 2026-03-14"),
        ("recs-staging-hotfix", "rec-raw", "UNREGISTERED", "raw S3 artifact"),
    ):
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g4dn.xlarge",
                }
            ],
        )
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
        estate.expected[name], estate.descriptions[name] = verdict, what
    return estate


def seed_organization(
    session: Any, endpoint_url: str | None, region: str, role_name: str, *, denied: str = "sandbox"
) -> Organization:
    """Three member accounts: `prod` (the demo estate) and `staging` (three endpoints) with the member role,
    and `sandbox`, where the member role was never deployed."""
    governance, ids = create_organization(session, endpoint_url, ["prod", "staging", "sandbox"])
    sts = session.client("sts", endpoint_url=endpoint_url)
    org = Organization(governance)
    for name, account in ids.items():
        member = member_session(sts, account, region)
        sm = member.client("sagemaker", endpoint_url=endpoint_url)
        estate = seed_estate(sm, account, region) if name == "prod" else seed_small_estate(sm, account, region)
        org.members[name] = Member(name, account, member, estate)
        if name != denied:
            deploy_member_role(member, endpoint_url, role_name, governance)
            org.members[name].has_role = True
    return org
