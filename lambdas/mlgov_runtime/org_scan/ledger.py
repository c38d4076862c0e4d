"""The findings table for the aggregate: how each open finding was told, claims, conditional marks. Runs may
overlap (docs/org-scan.md, 'Overlapping runs'): without them two would publish one version, or a late mark
overwrite a newer one's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.adapters.findings_store import FindingsStore
from mlgov_runtime.core.findings import STATUS_OPEN, Finding

# Outlives the aggregate (15-minute timeout), then another run may claim.
CLAIM_SECONDS = 16 * 60


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _conflict(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class ScanLedger(FindingsStore):
    def __init__(
        self,
        dynamodb: Any,
        sns: Any,
        table_name: str,
        topic_arn: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(dynamodb, sns, table_name, topic_arn)
        self._now = now

    def open_findings(self, kinds: Iterable[str]) -> Iterator[dict[str, Any]]:
        """OPEN findings of these kinds, with how each was told."""
        for item in self._scan_kinds(
            kinds,
            "#status = :open",
            {":open": {"S": STATUS_OPEN}},
            "finding_id, kind, severity, account_id, #region, resource_arn, title, rolled_up_in, published_fingerprint",
            {"#status": "status", "#region": "region"},
        ):
            yield {k: next(iter(v.values())) for k, v in item.items()}

    def claim(self, findings: Sequence[Finding], run_id: str) -> list[Finding]:
        """Those this run may publish: the stored version, unpublished, no other run's live claim."""
        now = self._now()
        claimed = []
        for finding in findings:
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"finding_id": {"S": finding.finding_id}},
                    UpdateExpression="SET claimed_by = :run, claimed_fingerprint = :fp, claimed_until = :until",
                    ConditionExpression=(
                        "fingerprint = :fp AND (attribute_not_exists(published_fingerprint) OR "
                        "published_fingerprint <> :fp) AND (attribute_not_exists(claimed_fingerprint) OR "
                        "claimed_fingerprint <> :fp OR claimed_by = :run OR claimed_until < :now)"
                    ),
                    ExpressionAttributeValues={
                        ":run": {"S": run_id},
                        ":fp": {"S": finding.fingerprint()},
                        ":until": {"S": _iso(now + timedelta(seconds=CLAIM_SECONDS))},
                        ":now": {"S": _iso(now)},
                    },
                )
            except ClientError as exc:
                if _conflict(exc):
                    continue
                raise
            claimed.append(finding)
        return claimed

    def mark_published(self, findings: Sequence[Finding], rolled_up_in: str | None = None) -> None:
        """Mark as told while still the stored version (a roll-up mark: not published one by one meanwhile)."""
        condition = "fingerprint = :fp"
        if rolled_up_in:
            condition += " AND (attribute_not_exists(published_fingerprint) OR published_fingerprint <> :fp)"
        now = _iso(self._now())
        for finding in findings:
            values = {":fp": {"S": finding.fingerprint()}, ":now": {"S": now}}
            expression = "SET published_fingerprint = :fp, published_at = :now"
            # The claim ends with the mark: a version whose mark is undone later may be claimed again at once.
            release = "claimed_by, claimed_fingerprint, claimed_until"
            if rolled_up_in:
                values[":run"] = {"S": rolled_up_in}
                expression += f", rolled_up_in = :run REMOVE {release}"
            else:
                expression += f" REMOVE rolled_up_in, {release}"
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"finding_id": {"S": finding.finding_id}},
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if not _conflict(exc):
                    raise
