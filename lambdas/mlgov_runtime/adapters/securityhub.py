"""Security Hub: the notifier's channel to where security teams look (BatchImportFindings, ASFF), imported in
the governance account under its default product (docs/notifications.md). A resolution archives the record only
when the stored finding says RESOLVED: a forged or stale one never archives an open violation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.adapters.http import DeliveryError
from mlgov_runtime.notifier.asff import asff_finding, batches, record_id
from mlgov_runtime.notifier.messages import full_record

_RETRYABLE = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalException",
    "ServiceUnavailable",
}
NEXT_STEP = (
    "enable Security Hub in account {account} region {region} (`aws securityhub enable-security-hub --region "
    "{region}`) and grant the notifier securityhub:BatchImportFindings, then `mlgov notify redrive`"
)


def _client_error(exc: ClientError, account: str, region: str) -> DeliveryError:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))[:300]
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _RETRYABLE or (isinstance(status, int) and status >= 500):
        return DeliveryError(f"Security Hub {code}: {message}", status, retryable=True)
    return DeliveryError(
        f"Security Hub refused: {code}: {message}; next: " + NEXT_STEP.format(account=account, region=region),
        status,
        objection=f"{code}: {message}",
    )


class SecurityHub:
    """Imports into the hub of `account` in `region` (the notifier's own)."""

    def __init__(
        self,
        client: Callable[[], Any],
        account: str,
        region: str,
        stored_status: Callable[[str], str | None] | None = None,
        findings_table: str | None = None,
    ) -> None:
        self._client, self.account, self.region = client, account, region
        self.findings_table = findings_table
        self._stored_status = stored_status

    def import_findings(self, findings: list[dict[str, Any]]) -> int:
        """Import in batches of at most 100; any FailedFindings entry raises a refusal naming it."""
        try:
            records = [asff_finding(f, self.account, self.region) for f in findings]
        except ValueError as exc:  # over 240 KB: retrying cannot shrink it
            raise DeliveryError(f"not sent to Security Hub: {exc}", objection=str(exc)[:300]) from None
        imported = 0
        for batch in batches(records):
            try:
                answer = self._client().batch_import_findings(Findings=batch)
            except ClientError as exc:
                raise _client_error(exc, self.account, self.region) from None
            except BotoCoreError as exc:
                raise DeliveryError(f"Security Hub unreachable: {exc}", retryable=True) from None
            failed = answer.get("FailedFindings") or []
            imported += int(answer.get("SuccessCount", len(batch) - len(failed)))
            if failed:
                first = failed[0]
                objection = f"{first.get('Id')}: {first.get('ErrorCode')}: {first.get('ErrorMessage')}"[:300]
                raise DeliveryError(
                    f"Security Hub refused {len(failed)} of {len(batch)} findings ({objection}); next: "
                    + NEXT_STEP.format(account=self.account, region=self.region),
                    objection=objection,
                )
        return imported

    def _resolve_workflow(self, finding_id: str, product: str) -> None:
        try:
            answer = self._client().batch_update_findings(
                FindingIdentifiers=[{"Id": record_id(finding_id), "ProductArn": product}],
                Workflow={"Status": "RESOLVED"},
                Note={"Text": "Resolved: mlgov no longer detects this problem.", "UpdatedBy": "mlgov-notifier"},
            )
        except ClientError as exc:
            raise _client_error(exc, self.account, self.region) from None
        except BotoCoreError as exc:
            raise DeliveryError(f"Security Hub unreachable: {exc}", retryable=True) from None
        unprocessed = answer.get("UnprocessedFindings") or []
        if unprocessed:
            first = unprocessed[0]
            raise DeliveryError(
                f"Security Hub did not set the workflow of {record_id(finding_id)} to RESOLVED: "
                f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}",
                retryable=True,  # the record was just archived; the workflow update follows on the retry
            )

    def send(self, finding: dict[str, Any], target: str | None = None) -> str:
        resolved = finding.get("status") == "RESOLVED"
        if resolved and self._stored_status is not None:
            stored = self._stored_status(finding["finding_id"])
            if stored != "RESOLVED":
                where = full_record(finding["finding_id"], self.findings_table)
                # Refused (reported, parked), not "sent": a later genuine resolution must not be suppressed.
                raise DeliveryError(
                    f"not archived: the stored finding {finding['finding_id']} is {stored or 'missing'}, so this "
                    f"resolution is forged or stale; check the stored finding ({where}) before a redrive",
                    objection=f"stored finding is {stored or 'missing'}",
                )
        self.import_findings([finding])
        record = asff_finding(finding, self.account, self.region)
        if resolved:
            self._resolve_workflow(finding["finding_id"], record["ProductArn"])
            return f"archived {record['Id']} (workflow RESOLVED)"
        return f"imported {record['Id']}"
