"""The findings table as the org scan's aggregate uses it: the shared store (adapters/findings_store.py), plus
how each open finding was told (so its resolution is told the same way), a claim on each finding before it is
published, and published marks conditional on the stored version.

Two runs may overlap (a retried or hand-started execution beside the scheduled one) and detectors write the
same items meanwhile. Without a claim both runs would publish the same due version; without the condition a
late mark would overwrite a newer version's (a version published one by one marked as rolled up, whose issue
would then never be closed, or a newer version's publication forgotten and sent again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.adapters.findings_store import FindingsStore
from mlgov_runtime.core.findings import STATUS_OPEN, Finding

# A claim outlives the aggregate that took it (its Lambda timeout is 15 minutes), then another run may take it.
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
        """Every OPEN finding of these kinds, with `rolled_up_in` and `published_fingerprint` when set."""
        for item in self._scan_kinds(
            kinds,
            "#status = :open",
            {":open": {"S": STATUS_OPEN}},
            "finding_id, kind, severity, account_id, #region, resource_arn, title, rolled_up_in, published_fingerprint",
            {"#status": "status", "#region": "region"},
        ):
            yield {k: next(iter(v.values())) for k, v in item.items()}

    def claim(self, findings: Sequence[Finding], run_id: str) -> list[Finding]:
        """Those whose stored version this run may publish: still that version, not published, and not claimed
        by another run whose claim still holds (this run's own claim holds for its retries)."""
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
        """Remember these versions as told, only while each is still the stored version; a roll-up mark also
        only while that version was not published one by one meanwhile (its issue stays its own)."""
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
