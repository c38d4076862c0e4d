"""Which endpoints (account, region) serve which model package: kept by every audit and scan, read when a
package changes state so the endpoints that serve it are re-audited at once, in whichever account.

An entry only ever causes an audit; a stale or forged one costs one extra read and decides nothing. Beside them,
each endpoint's deployment record (no TTL; trust model: docs/lineage-audit.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

KEY = "model_package_arn"
SORT = "endpoint_key"
TTL_DAYS = 21  # the weekly scan refreshes every entry; one that no audit saw for three weeks expires


def packages_served(row: Mapping[str, Any]) -> set[str]:
    """Package ARNs an audit row (`mlgov audit` shape) names, in every variant and inference component."""
    found: set[str] = set()
    for part in [*(row.get("variants") or []), *(row.get("inference_components") or [])]:
        for container in part.get("containers") or []:
            arn = container.get("model_package_arn")
            if isinstance(arn, str) and arn.startswith("arn:"):
                found.add(arn.lower())
    return found


def _stamp(value: Any) -> bool:
    """A recorded configuration: a CreationTime, "" (re-created or gone) or "<" and an aware time (unread)."""
    if not isinstance(value, str) or value[:1] != "<":
        return isinstance(value, str)
    try:
        return datetime.fromisoformat(value[1:]).tzinfo is not None
    except ValueError:
        return False


def _deployed(account: str, region: str, name: str) -> dict[str, Any]:
    # Never a package ARN (those start "arn:").
    return {KEY: {"S": f"deployed#{account}#{region}#{name.lower()}"}, SORT: {"S": "deployed"}}


class ServingIndex:
    def __init__(self, ddb: Any, table: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._ddb, self._table, self._clock = ddb, table, clock

    def record(self, row: Mapping[str, Any]) -> int:
        """Index one audited endpoint under every package it serves; returns how many entries were written."""
        account, region, name = row.get("account_id"), row.get("region"), row.get("endpoint_name")
        if not (account and region and name):
            return 0
        now = self._clock()
        written = 0
        for arn in sorted(packages_served(row)):
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    KEY: {"S": arn},
                    SORT: {"S": f"{account}#{region}#{name}"},
                    "account_id": {"S": str(account)},
                    "region": {"S": str(region)},
                    "endpoint_name": {"S": str(name)},
                    "seen_at": {"S": now.isoformat()},
                    "expires_at": {"N": str(int((now + timedelta(days=TTL_DAYS)).timestamp()))},
                },
            )
            written += 1
        return written

    def record_deployment(self, account: str, region: str, name: str, created: str, configs: Mapping[str, str]) -> None:
        """The CreationTime of the endpoint and of its configurations, at the audit of the call that deployed them."""
        record = json.dumps({"endpoint_created": created, "configs": dict(configs)})
        self._ddb.put_item(TableName=self._table, Item={**_deployed(account, region, name), "record": {"S": record}})

    def deployment(self, account: str, region: str, name: str) -> Any:
        """The endpoint's deployment record, None without one. Query: the action the index already holds."""
        key = _deployed(account, region, name)[KEY]
        page = self._ddb.query(
            TableName=self._table, KeyConditionExpression=f"{KEY} = :k", ExpressionAttributeValues={":k": key}
        )
        for item in page.get("Items", []):
            try:
                record = json.loads(item["record"]["S"])
                if all(map(_stamp, record["configs"].values())) and record["endpoint_created"]:
                    return record
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # malformed: as if none (the other checks decide)
        return None

    def record_all(self, rows: Iterable[Mapping[str, Any]]) -> int:
        return sum(self.record(row) for row in rows)

    def endpoints_serving(self, package_arn: str) -> list[tuple[str, str, str]]:
        """(account, region, endpoint) last seen serving the package, unexpired."""
        now = int(self._clock().timestamp())
        found: list[tuple[str, str, str]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{KEY} = :arn",
            "ExpressionAttributeValues": {":arn": {"S": package_arn.lower()}},
        }
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                if int(item.get("expires_at", {}).get("N", "0")) < now:
                    continue
                found.append((item["account_id"]["S"], item["region"]["S"], item["endpoint_name"]["S"]))
            if not page.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
