"""Re-approving a Rejected package (spec scenario 3, follow-up 3) takes a comment saying why the rejection no
longer applies (`mlgov challenger reapprove`, mlgov/ops/challenger_reapprove.py, stores it with who and when in the
package's ApprovalDescription). An Approved package whose ApprovalDescription is still a rejection's text was
re-approved without one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What the product's rejections write first (the gate, mlgov rollback): still there on an Approved package, the
# status was flipped without a comment.
REJECTION_PREFIX = "Rejected by "


def unexplained_reapproval(package: Mapping[str, Any]) -> str | None:
    """Why this package looks re-approved without a comment, or None."""
    text = str(package.get("ApprovalDescription") or "")
    if package.get("ModelApprovalStatus") != "Approved" or not text.startswith(REJECTION_PREFIX):
        return None
    return (
        f"{package.get('ModelPackageArn')} is Approved, but its ApprovalDescription is still the rejection's "
        f"({text[:200]!r}): it was re-approved without a comment saying why the rejection no longer applies."
    )
