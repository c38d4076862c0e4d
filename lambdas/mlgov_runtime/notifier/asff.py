"""A finding as an ASFF record for BatchImportFindings. Pure. One finding_id is one record (Id, ProductArn,
GeneratorId fixed), so a resolution updates it; limits: the *_MAX constants, a cut says where the rest is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlgov_runtime.notifier.messages import ELLIPSIS, clip, console_url, full_record, one_line

SCHEMA_VERSION = "2018-10-08"
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512
PRODUCT_FIELD_MAX = 2048
RESOURCE_ID_MAX = 2048  # an ARN is at most 2048 characters
FINDING_BYTES_MAX = 240 * 1024
BATCH_MAX = 100
# Our severities are ASFF's labels; ASFF calls the lowest one INFORMATIONAL.
SEVERITY_LABEL = {"CRITICAL": "CRITICAL", "HIGH": "HIGH", "MEDIUM": "MEDIUM", "LOW": "LOW", "INFO": "INFORMATIONAL"}
# ASFF resource types that exist for SageMaker; everything else is Other with its ARN.
RESOURCE_TYPES = {"notebook-instance": "AwsSageMakerNotebookInstance"}
_ARN = re.compile(r"arn:(aws[a-z-]*):sagemaker:[a-z0-9-]*:\d{12}:([a-z-]+)/")
_NEXT = re.compile(r"(?:^|\s)(Next(?: step)?:)", re.IGNORECASE)


def product_arn(account_id: str, region: str, partition: str = "aws") -> str:
    """The default product ARN: what an account's own findings are imported under."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def record_id(finding_id: str) -> str:
    return f"mlgov/{finding_id}"


def resource_type(resource_arn: str) -> str:
    match = _ARN.match(resource_arn)
    return RESOURCE_TYPES.get(match.group(2), "Other") if match else "Other"


def recommendation(detail: str) -> str:
    """The fix named in a finding's detail: from its last `Next:`, else its last sentence with a command,
    else the whole detail (cut to fit)."""
    text = one_line(detail)
    starts = [m.start(1) for m in _NEXT.finditer(text)]
    if starts:
        text = text[starts[-1] :]
    else:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`])", text) if s]
        with_command = [s for s in sentences if "`" in s]
        if with_command:
            text = with_command[-1]
    return clip(text, RECOMMENDATION_MAX)


def _url(resource_arn: str, region: str) -> str | None:
    link = console_url(resource_arn, region)
    return None if link.endswith("/console/home?region=" + region) else link  # the home page is no deep link


def asff_finding(finding: dict[str, Any], importer_account: str, importer_region: str) -> dict[str, Any]:
    """The ASFF record of a finding, imported by `importer_account` (Security Hub takes a default-product
    finding only from its own account; a member account is named in ProductFields and the resource ARN)."""
    arn = finding["resource_arn"]
    partition = arn.split(":", 2)[1] if arn.startswith("arn:") and arn.count(":") >= 2 else "aws"
    partition = partition if re.fullmatch(r"aws[a-z-]*", partition) else "aws"
    resolved = finding.get("status") == "RESOLVED"
    label = SEVERITY_LABEL[finding["severity"]]
    pointer = full_record(finding["finding_id"], None)
    where = "" if finding["account_id"] == importer_account else f"Account {finding['account_id']}: "
    description = clip(where + one_line(finding["detail"]), DESCRIPTION_MAX, f"{ELLIPSIS} (cut; {pointer})")
    types = [f"Software and Configuration Checks/AWS Security Best Practices/{finding['kind']}"]
    remediation: dict[str, Any] = {"Text": recommendation(finding["detail"])}
    url = _url(arn, finding["region"])
    if url:
        remediation["Url"] = url
    product_fields = {
        "mlgov/FindingId": finding["finding_id"],
        "mlgov/Kind": finding["kind"],
        "mlgov/AccountId": finding["account_id"],
        "mlgov/Region": finding["region"],
        "mlgov/Source": finding["source"],
        "mlgov/Status": finding.get("status", "OPEN"),
    }
    record: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": record_id(finding["finding_id"]),
        "ProductArn": product_arn(importer_account, importer_region, partition),
        "GeneratorId": f"mlgov/{finding['kind']}",
        "AwsAccountId": importer_account,
        "Types": types,
        "CreatedAt": finding["detected_at"],
        "UpdatedAt": finding["detected_at"],
        "Severity": {"Label": label},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": finding["severity"]}, "Types": types},
        "Title": clip(one_line(finding["title"]) or finding["kind"], TITLE_MAX),
        "Description": description or finding["kind"],
        "Remediation": {"Recommendation": remediation},
        "ProductFields": {k: clip(v, PRODUCT_FIELD_MAX) for k, v in product_fields.items()},
        "Resources": [
            {
                "Type": resource_type(arn),
                "Id": clip(arn, RESOURCE_ID_MAX),
                "Partition": partition,
                "Region": finding["region"],
            }
        ],
        "RecordState": "ARCHIVED" if resolved else "ACTIVE",
    }
    if not resolved:
        record["Workflow"] = {"Status": "NEW"}  # taken on creation only; a resolution goes through BatchUpdateFindings
    size = len(json.dumps(record).encode("utf-8"))
    if size > FINDING_BYTES_MAX:  # every field is cut above, so this is a defect, not an input
        raise ValueError(f"ASFF record of {finding['finding_id']} is {size} bytes, over Security Hub's 240 KB")
    return record


def batches(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [records[i : i + BATCH_MAX] for i in range(0, len(records), BATCH_MAX)]
