"""Which endpoints (account, region) serve which model package: kept by every audit and scan, read when a
package changes state so the endpoints that serve it are re-audited at once, in whichever account.

An entry only ever causes an audit; a stale or forged one costs one extra read and decides nothing.

Beside them, one deployment record per endpoint (partition `deployed#<account>#<region>#<endpoint>`): the
CreationTime of the endpoint and of each configuration, as the real-time audit of CreateEndpoint/UpdateEndpoint read
them. A later audit finding another CreationTime under that configuration name judges it re-created
(ARTIFACT_MISMATCH, closes nothing). Kept until the next deploy call replaces it (no TTL: an endpoint can serve for
years between deploys); a record of an earlier endpoint of the same name is ignored. A forged record can raise a
false mismatch or hide a re-creation as if there were no record; it never closes a finding."""

from __future__ import annotations

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


def deployment_key(account: str, region: str, name: str) -> str:
    # Never a package ARN (those start "arn:"); endpoint names are case-insensitive.
    return f"deployed#{account}#{region}#{name.lower()}"


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

    def record_deployment(
        self, account: str, region: str, name: str, endpoint_created: str, configs: Mapping[str, str]
    ) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                KEY: {"S": deployment_key(account, region, name)},
                SORT: {"S": "deployed"},
                "endpoint_created": {"S": endpoint_created},
                "configs": {"M": {n: {"S": t} for n, t in configs.items()}},
                "recorded_at": {"S": self._clock().isoformat()},
            },
        )

    def deployment(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        """The deployment record of the endpoint, or None (deployed before the product, or never audited)."""
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression=f"{KEY} = :key",
            ExpressionAttributeValues={":key": {"S": deployment_key(account, region, name)}},
        )
        for item in page.get("Items", []):
            configs = item.get("configs", {}).get("M", {})
            return {
                "endpoint_created": item.get("endpoint_created", {}).get("S"),
                "configs": {n: v["S"] for n, v in configs.items() if "S" in v},
            }
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
