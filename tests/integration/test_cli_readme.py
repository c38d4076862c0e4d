"""Every `mlgov ...` example in the bash blocks of the README and of the documentation pages (docs/*.md) parses
against the CLI's parser, and the ones the emulator can serve run as a user runs them: the installed entry point
(.venv/bin/mlgov), in a shell, from a directory outside the checkout, against the moto server (AWS_ENDPOINT_URL)
seeded with the demo estates, and exit as the pages and CONTRACTS.md say."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from mlgov.cli import build_parser, sample_finding
from mlgov.sandbox import MotoServer, moto_server
from mlgov.sinks import Sink, start_sink
from tests import cli_examples

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ENTRY_POINT = Path(sys.executable).parent / "mlgov"


def readme_commands() -> list[str]:
    """`mlgov ...` lines of the bash blocks of the README and the documentation pages, continuation lines joined."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    found: list[str] = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("mlgov "):
                found.append(" ".join(re.sub(r"\s#.*$", "", line).split()))  # without the trailing comment
    return found


COMMANDS = readme_commands()

# What each runnable example exits with on the seeded estates, and why the pages say so.
RUNS: dict[str, int] = {
    "mlgov audit": 3,  # the estate has unregistered and unapproved endpoints
    "mlgov audit --endpoint manga-recommender-prod --format json": 0,  # serves Approved v2
    "mlgov coverage --catalog-table manga-catalog --snapshot-uri "
    "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl --format json": 3,  # a gap above 5 %
    "mlgov challenger status --endpoint manga-recommender-prod": 2,  # one variant: no challenger to judge
    "mlgov challenger status --endpoint manga-recommender-prod --minutes 30 --format json": 2,
    "mlgov challenger simulate --traffic 70 --drop 0 --window 30": 0,
    "mlgov scan": 3,
    # moto's AssumeRole does not check that the member role exists, so each account/region is read (no endpoints);
    # none has the SageMaker event forwarding rule: EVENT_FORWARDING_MISSING is an open finding (exit 3)
    "mlgov scan --accounts 111122223333,444455556666 --regions us-east-1,ap-northeast-1": 3,
    "mlgov scan --organization --format json": 3,  # the management account holds the estate
    # The role Organizations creates in a new account: the emulator has it; no endpoints, but no SageMaker event
    # forwarding rule there either (EVENT_FORWARDING_MISSING is an open finding: exit 3)
    "mlgov scan --accounts 111122223333 --role-name OrganizationAccountAccessRole": 3,
    "mlgov guardrails explain --action sagemaker:CreateEndpoint --endpoint-name manga-hotfix "
    "--principal arn:aws:iam::210987654321:role/DataScientist": 3,  # denied
    "mlgov guardrails explain --action sagemaker:DeleteTags --tag-key ModelPackageName "
    "--principal arn:aws:iam::210987654321:role/DataScientist": 3,
    "mlgov guardrails explain --action sagemaker:UpdateModelPackage --approval-status Approved "
    "--principal arn:aws:iam::210987654321:role/mlgov-protected/MlGovModelApprover": 0,  # allowed
    "mlgov capacity audit --endpoint manga-recommender-prod --format json": 0,  # NO_AUTOSCALING: cannot reach 0
    "mlgov capacity restore --endpoint manga-recommender-prod --dry-run": 0,  # nothing to restore
    "mlgov retire audit": 3,  # manga-recommender-v1 is stale and still called
    "mlgov retire audit --endpoint manga-recommender-v1 --format json": 3,
    "mlgov notify test --channel slack": 0,
    "mlgov notify send --finding-file finding.json": 0,
    "mlgov notify send --finding-file - --channel jira < finding.json": 0,
    'mlgov notify redrive --dlq-url "$DLQ" --queue-url "$QUEUE"': 0,
}


PLACEHOLDERS = {  # what a user's shell variables in the examples hold
    "DLQ": "https://sqs.us-east-1.amazonaws.com/123456789012/MlGovEndpointAudit-NotifierDlq",
    "QUEUE": "https://sqs.us-east-1.amazonaws.com/123456789012/MlGovEndpointAudit-NotifierQueue",
    "TOKEN": "AQCEAAAAKgAAAAMAAAAAAAAAAR",
    "FINDINGS_TABLE": "MlGovEndpointAudit-Findings",
}


def argv_of(command: str) -> list[str]:
    return cli_examples.argv_of(command, PLACEHOLDERS)


def test_the_docs_have_examples_and_every_pinned_one_is_still_in_them() -> None:
    assert len(COMMANDS) >= 30, COMMANDS
    assert sorted(set(RUNS) - set(COMMANDS)) == []


def test_every_command_the_readme_shows_is_one_that_runs_here() -> None:
    """The README is what a user tries first: each `mlgov ...` example it shows, fenced or inline, is run below."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.DOTALL)
    shown = [" ".join(re.sub(r"\s#.*$", "", line).split()) for b in fenced for line in b.splitlines()]
    shown = [c for c in shown if c.startswith("mlgov ")]
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    # Inline examples carry options; `mlgov notify redrive` alone names a command (the unit test checks it exists).
    shown += [" ".join(c.split()) for c in re.findall(r"`(mlgov [^`\n]+)`", prose) if " -" in c]
    assert shown, "the README shows no mlgov command"
    assert sorted(set(shown) - set(RUNS)) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_example_parses_against_the_cli(command: str) -> None:
    args = build_parser().parse_args(argv_of(command))  # argparse exits 2 on anything it cannot parse
    assert callable(args.func)


class World:
    def __init__(self, server: MotoServer, slack: Sink, jira: Sink, home: Path, env: dict[str, str]) -> None:
        self.server, self.slack, self.jira, self.home, self.env = server, slack, jira, home, env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from mlgov.catalog_estate import catalog_items, create_catalog, create_snapshot_bucket, put_old_snapshot
    from mlgov.estate import seed_estate
    from mlgov.retirement_estate import seed_retirement_estate

    home = tmp_path_factory.mktemp("user-home")  # outside the checkout: no cdk.json, no stacks/
    with moto_server(timeout=120) as server, start_sink("slack") as slack, start_sink("jira") as jira:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

        def client(service: str) -> object:
            return session.client(service, endpoint_url=server.url)  # type: ignore[call-overload]

        account = client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
        seed_estate(client("sagemaker"), account, REGION)
        seed_retirement_estate(client("sagemaker"), client("cloudwatch"), account, REGION, datetime.now(UTC))
        items = catalog_items()
        create_catalog(client("dynamodb"), items)
        create_snapshot_bucket(client("s3"), REGION)
        put_old_snapshot(client("s3"), items)
        client("organizations").create_organization(FeatureSet="ALL")  # type: ignore[attr-defined]
        sqs = client("sqs")
        dlq = sqs.create_queue(QueueName="MlGovEndpointAudit-NotifierDlq")["QueueUrl"]  # type: ignore[attr-defined]
        queue = sqs.create_queue(QueueName="MlGovEndpointAudit-NotifierQueue")["QueueUrl"]  # type: ignore[attr-defined]
        # As the stack builds it: the DLQ's policy names its producer (the notifier role), whom redrive believes.
        iam = client("iam")
        role = iam.create_role(RoleName="mlgov-notifier", AssumeRolePolicyDocument="{}")["Role"]["Arn"]  # type: ignore[attr-defined]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyItsProducersSend",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": [role]}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps(policy)})  # type: ignore[attr-defined]
        (home / "finding.json").write_text(json.dumps(sample_finding()))
        env = {
            "PATH": f"{ENTRY_POINT.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "AWS_ENDPOINT_URL": server.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "MLGOV_SLACK_WEBHOOK_URL": slack.url + "/services/T/B/X",
            "MLGOV_JIRA_URL": jira.url,
            "MLGOV_JIRA_USER": "bot@example.com",
            "MLGOV_JIRA_TOKEN": "token",
            "MLGOV_JIRA_PROJECT": "OPS",
            "DLQ": dlq,
            "QUEUE": queue,
        }
        yield World(server, slack, jira, home, env)


RUNNABLE = list(RUNS)


@pytest.mark.parametrize("command", RUNNABLE)
def test_a_readme_example_runs_through_the_installed_entry_point_and_exits_as_documented(
    world: World, command: str
) -> None:
    assert ENTRY_POINT.exists(), f"{ENTRY_POINT}: run make install"
    done = subprocess.run(
        ["bash", "-c", command], cwd=world.home, env=world.env, capture_output=True, text=True, timeout=600
    )
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == RUNS[command], f"exit {done.returncode}: {done.stderr[-1500:]}"
    if "--format json" in command and done.returncode in (0, 3):
        json.loads(done.stdout)  # JSON on stdout only
