"""Where the org-wide scan keeps a run in S3: the planned targets (the Distributed Map's ItemReader
input), each account/region's full result, the Map's ResultWriter manifest, and the reports.

    org-scan/runs/<run id>/targets.json            [{"account_id", "region"}, ...]
    org-scan/runs/<run id>/results/<acct>-<region>.json
    org-scan/runs/<run id>/report.json | report.md
    org-scan/map-results/<map run>/manifest.json   (written by Step Functions)
    org-scan/latest.json                           {"run_id", "report_key", "previous_report_key"}
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.org_scan.logic import Target, TargetResult

PREFIX = "org-scan"
MAP_RESULTS_PREFIX = f"{PREFIX}/map-results"


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


class S3ScanStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self.bucket = s3, bucket

    def run_prefix(self, run_id: str) -> str:
        return f"{PREFIX}/runs/{run_id}"

    def _put(self, key: str, body: str, content_type: str = "application/json") -> str:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)
        return key

    def _get_json(self, key: str) -> Any | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return json.loads(body)

    def put_targets(self, run_id: str, targets: list[Target]) -> str:
        return self._put(f"{self.run_prefix(run_id)}/targets.json", json.dumps([t.to_dict() for t in targets]))

    def targets(self, key: str) -> list[Target]:
        return [Target.from_dict(t) for t in self._get_json(key) or []]

    def result_key(self, run_id: str, target: Target) -> str:
        return f"{self.run_prefix(run_id)}/results/{target.key}.json"

    def put_result(self, run_id: str, result: TargetResult) -> str:
        return self._put(self.result_key(run_id, result.target), json.dumps(result.to_dict(), default=str))

    def result(self, run_id: str, target: Target) -> TargetResult | None:
        data = self._get_json(self.result_key(run_id, target))
        return TargetResult.from_dict(data) if data else None

    def failed_items(self, manifest_key: str | None) -> dict[Target, str]:
        """Why the Map's failed child executions failed, per target (from the ResultWriter's FAILED files)."""
        manifest = self._get_json(manifest_key) if manifest_key else None
        failures: dict[Target, str] = {}
        for entry in (manifest or {}).get("ResultFiles", {}).get("FAILED", []):
            for child in self._get_json(entry["Key"]) or []:
                reason = (
                    f"The scan worker failed ({child.get('Error') or 'error'}: "
                    f"{str(child.get('Cause') or '')[:300]}). Next: see the worker's logs, then `mlgov scan` for it."
                )
                raw = child.get("Input")
                items = json.loads(raw) if isinstance(raw, str) else raw or {}
                for item in items.get("Items", [items]) if isinstance(items, dict) else []:
                    if isinstance(item, dict) and "account_id" in item:
                        failures[Target.from_dict(item)] = reason
        return failures

    def previous_report(self, run_id: str) -> dict[str, Any] | None:
        """The last run's report before this one (a retried aggregation of this run skips its own)."""
        pointer = self._get_json(f"{PREFIX}/latest.json") or {}
        key = pointer.get("previous_report_key") if pointer.get("run_id") == run_id else pointer.get("report_key")
        return self._get_json(key) if key else None

    def put_report(self, run_id: str, report: dict[str, Any], markdown: str) -> str:
        """Write the report (JSON and Markdown) and point latest.json at it; the JSON's s3:// URI."""
        pointer = self._get_json(f"{PREFIX}/latest.json") or {}
        previous = pointer.get("previous_report_key") if pointer.get("run_id") == run_id else pointer.get("report_key")
        key = self._put(f"{self.run_prefix(run_id)}/report.json", json.dumps(report, indent=1, default=str))
        self._put(f"{self.run_prefix(run_id)}/report.md", markdown, "text/markdown; charset=utf-8")
        latest = {"run_id": run_id, "report_key": key, "previous_report_key": previous}
        self._put(f"{PREFIX}/latest.json", json.dumps(latest))
        return f"s3://{self.bucket}/{key}"
