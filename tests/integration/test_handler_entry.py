"""The one handler entry every capability uses (mlgov_runtime.core.entry), against moto's DynamoDB.

Given a capability's parse function and logic, the entry rejects a malformed event before anything runs,
answers a refused event without processing it, runs the logic once per event id with the function's own
account, answers a skipped event, and carries the log keys and metrics the handlers carried before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import boto3
import pytest
from moto import mock_aws

from mlgov.sandbox import ACCOUNT, FakeContext, emf_metric
from mlgov_runtime.core.entry import Entry, account_of, once_per_event
from mlgov_runtime.core.events import InvalidEvent
from tests.conftest import load_event
from tests.integration.conftest import Sandbox

TABLE = "entry-idempotency"
calls: list[tuple[dict[str, Any], str]] = []


@dataclass(frozen=True)
class Settings:
    idempotency_table: str = TABLE
    idempotency_ttl_seconds: int = 3600


@dataclass(frozen=True)
class Request:
    LOG_KEYS: ClassVar[tuple[str, ...]] = ("event_id", "name")
    event_id: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Unreachable(Exception):
    pass


def parse(event: Any) -> Request:
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidEvent("no event id")
    return Request(event["id"], str(event.get("name", "")))


def process(request: dict[str, Any], own_account: str) -> dict[str, Any]:
    calls.append((request, own_account))
    if request["name"] == "unreachable":
        raise Unreachable("role not assumable")
    return {"status": "done", "name": request["name"]}


def refuse(parsed: Request, event: Any, account: str) -> dict[str, Any] | None:
    return {"status": "refused"} if event.get("account") not in (None, account) else None


@pytest.fixture
def entry_handler(request: pytest.FixtureRequest) -> Iterator[Any]:
    calls.clear()
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        entry = Entry(f"entry-test-{request.node.name}")
        handler = entry.handler(
            entry.events(
                parse,
                process,
                Settings,
                refuse=refuse,
                skipped=(Unreachable,),
                skipped_log="Account not auditable",
                failure_metric="EventRejected",
            )
        )
        handler.entry = entry  # type: ignore[attr-defined]
        yield handler


def test_a_malformed_event_is_rejected_before_anything_runs(
    entry_handler: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert entry_handler({"detail": {}}, FakeContext()) == {"status": "rejected", "reason": "no event id"}
    assert calls == []
    [rejected] = [r for r in caplog.records if r.getMessage() == "Event rejected"]
    assert rejected.levelname == "WARNING" and rejected.reason == "no event id"  # type: ignore[attr-defined]
    assert emf_metric(capsys.readouterr().out, "EventRejected") == 1.0


def test_an_event_runs_once_per_event_id_with_the_functions_own_account(entry_handler: Any) -> None:
    first = entry_handler({"id": "e-1", "name": "prod"}, FakeContext())
    again = entry_handler({"id": "e-1", "name": "prod"}, FakeContext())
    assert first == again == {"status": "done", "name": "prod"}
    assert calls == [({"event_id": "e-1", "name": "prod"}, ACCOUNT)]  # the second answered by the record
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=TABLE)["Items"]
    # The record names the capability's own logic (module and function), as before the entry existed.
    assert [i["id"]["S"].split("#")[0] for i in items] == [f"test-func.{__name__}.process"]
    keys = entry_handler.entry.logger.get_current_keys()
    assert keys["event_id"] == "e-1" and keys["name"] == "prod"


def test_a_refused_event_is_answered_without_processing(entry_handler: Any) -> None:
    assert entry_handler({"id": "e-2", "account": "999999999999"}, FakeContext()) == {"status": "refused"}
    assert calls == []
    assert not boto3.client("dynamodb", region_name="us-east-1").scan(TableName=TABLE)["Items"]


def test_a_skipped_event_is_answered_and_logged_as_an_error(
    entry_handler: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    result = entry_handler({"id": "e-3", "name": "unreachable"}, FakeContext())
    assert result == {"status": "skipped", "reason": "role not assumable"}
    [skipped] = [r for r in caplog.records if r.getMessage() == "Account not auditable"]
    assert skipped.levelname == "ERROR" and skipped.reason == "role not assumable"  # type: ignore[attr-defined]
    assert emf_metric(capsys.readouterr().out, "EventRejected") == 1.0


def test_the_account_is_the_functions_own() -> None:
    assert account_of(FakeContext()) == ACCOUNT  # type: ignore[arg-type]


def test_the_lineage_audits_idempotency_record_still_names_its_process(sandbox: Sandbox) -> None:
    event = {**load_event("cloudtrail_create_endpoint.json"), "id": "entry-key-check"}
    first = sandbox.invoke(event)
    assert first["status"] == "audited"
    items = sandbox.ddb.scan(TableName=sandbox.resources["IDEMPOTENCY_TABLE_NAME"])["Items"]
    assert [i["id"]["S"].split("#")[0] for i in items] == ["test-func.mlgov_runtime.lineage_audit.handler.process"]


def test_the_idempotency_key_follows_the_wrapped_function() -> None:
    config, wrapped = once_per_event(process, Settings())
    assert config.event_key_jmespath == "event_id"
    assert wrapped.__wrapped__ is process  # type: ignore[attr-defined]
