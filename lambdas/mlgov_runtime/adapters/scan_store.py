"""Where the org-wide scan keeps a run in S3 (org-scan/runs/<run id>/, org-scan/latest.json): docs/org-scan.md.
targets.json, every result and the roll-up carry a KMS HMAC (metadata `mlgov-mac`) over run id, key and body
SHA-256; one that does not verify is not believed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.org_scan.logic import Target, TargetResult

PREFIX = "org-scan"
MAP_RESULTS_PREFIX = f"{PREFIX}/map-results"


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


MAC_METADATA = "mlgov-mac"
MAC_ALGORITHM = "HMAC_SHA_256"
TARGETS, RESULT, ROLLED_UP = "targets", "result", "rolled_up"


class UnverifiedObject(Exception):
    """An object of the run that this run's scan did not write (missing or wrong HMAC)."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"s3 object {key}: {why}")
        self.key, self.why = key, why


class KmsMac:
    """HMAC through KMS: the key never leaves KMS, and its key policy names who may generate."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms, self.key_id = kms, key_id

    def sign(self, message: bytes) -> str:
        mac = self._kms.generate_mac(Message=message, KeyId=self.key_id, MacAlgorithm=MAC_ALGORITHM)["Mac"]
        return base64.b64encode(mac).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        try:
            raw = base64.b64decode(mac, validate=True)
        except ValueError:
            return False
        try:
            answer = self._kms.verify_mac(Message=message, KeyId=self.key_id, MacAlgorithm=MAC_ALGORITHM, Mac=raw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise
        return bool(answer.get("MacValid"))


class S3ScanStore:
    def __init__(self, s3: Any, bucket: str, mac: KmsMac | None = None) -> None:
        self._s3, self.bucket, self._mac = s3, bucket, mac

    def run_prefix(self, run_id: str) -> str:
        return f"{PREFIX}/runs/{run_id}"

    def _message(self, purpose: str, key: str, run_id: str, body: bytes) -> bytes:
        digest = hashlib.sha256(body).hexdigest()
        return f"mlgov-org-scan/1\n{purpose}\n{self.bucket}\n{key}\n{run_id}\n{digest}".encode()

    def _put(
        self, key: str, body: str, content_type: str = "application/json", signed: tuple[str, str] | None = None
    ) -> str:
        data = body.encode("utf-8")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data, "ContentType": content_type}
        if signed and self._mac:
            purpose, run_id = signed
            kwargs["Metadata"] = {MAC_METADATA: self._mac.sign(self._message(purpose, key, run_id, data))}
        self._s3.put_object(**kwargs)
        return key

    def _get_verified(self, key: str, purpose: str, run_id: str) -> Any | None:
        """The object's JSON, only when its HMAC says this run's scan wrote it; None when it is missing."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        body = answer["Body"].read()
        if self._mac is not None:
            mac = (answer.get("Metadata") or {}).get(MAC_METADATA)
            if not mac:
                raise UnverifiedObject(key, "carries no HMAC: it was not written by this run's scan")
            if not self._mac.verify(self._message(purpose, key, run_id, body), mac):
                raise UnverifiedObject(
                    key, "its HMAC does not verify: it was changed, or written for another run or key"
                )
        return json.loads(body)

    def _get_json(self, key: str) -> Any | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return json.loads(body)

    def targets_key(self, run_id: str) -> str:
        return f"{self.run_prefix(run_id)}/targets.json"

    def put_targets(self, run_id: str, targets: list[Target]) -> str:
        body = json.dumps([t.to_dict() for t in targets])
        return self._put(self.targets_key(run_id), body, signed=(TARGETS, run_id))

    def targets(self, key: str, run_id: str | None = None) -> list[Target]:
        """The planned targets; with run_id, only from this run's own targets.json, verified."""
        if run_id is None:
            return [Target.from_dict(t) for t in self._get_json(key) or []]
        if key != self.targets_key(run_id):
            raise UnverifiedObject(key, f"is not run {run_id}'s targets.json")
        data = self._get_verified(key, TARGETS, run_id)
        if data is None:
            raise UnverifiedObject(key, "is missing: the plan of this run cannot be read")
        return [Target.from_dict(t) for t in data]

    def result_key(self, run_id: str, target: Target) -> str:
        return f"{self.run_prefix(run_id)}/results/{target.key}.json"

    def put_result(self, run_id: str, result: TargetResult) -> str:
        key = self.result_key(run_id, result.target)
        return self._put(key, json.dumps(result.to_dict(), default=str), signed=(RESULT, run_id))

    def result(self, run_id: str, target: Target) -> TargetResult | None:
        """This account/region's result; an ERROR row when the object there was not written by this run's
        worker (so nothing is resolved from it); None when there is none."""
        key = self.result_key(run_id, target)
        try:
            data = self._get_verified(key, RESULT, run_id)
        except UnverifiedObject as exc:
            return TargetResult.unreachable(
                target,
                f"The scan result s3://{self.bucket}/{key} {exc.why}; it is not believed and nothing here is "
                "resolved. Next: find who wrote it (CloudTrail data events or the bucket's access logs), list its "
                f"versions (`aws s3api list-object-versions --bucket {self.bucket} --prefix {key}`), then "
                f"`mlgov scan --accounts {target.account_id} --regions {target.region}`.",
                "UNVERIFIED_RESULT",
            )
        if not data:
            return None
        result = TargetResult.from_dict(data)
        if result.target != target:
            return TargetResult.unreachable(
                target, f"The scan result s3://{self.bucket}/{key} names another account/region.", "UNVERIFIED_RESULT"
            )
        return result

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

    def rolled_up_key(self, run_id: str) -> str:
        return f"{self.run_prefix(run_id)}/rolled_up.json"

    def put_rolled_up(self, run_id: str, decision: dict[str, Any]) -> str:
        """The aggregate's roll-up decision for the run (before it publishes anything), signed."""
        return self._put(self.rolled_up_key(run_id), json.dumps(decision, sort_keys=True), signed=(ROLLED_UP, run_id))

    def rolled_up(self, run_id: str) -> dict[str, Any] | None:
        """An earlier attempt's roll-up decision for this run (None: this is the first); UnverifiedObject when
        this run's aggregate did not write it."""
        data = self._get_verified(self.rolled_up_key(run_id), ROLLED_UP, run_id)
        if data is not None and (not isinstance(data, dict) or data.get("run_id") != run_id):
            raise UnverifiedObject(self.rolled_up_key(run_id), f"is not run {run_id}'s roll-up decision")
        return data

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
