"""Re-approving a Rejected package (spec scenario 3, follow-up 3): only with a comment saying why the rejection no
longer applies, stored with who and when in the package's ApprovalDescription (`mlgov challenger reapprove`).
An Approved package whose ApprovalDescription is still a rejection's text was re-approved without one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

APPROVAL_DESCRIPTION_MAX = 1024  # SageMaker UpdateModelPackage ApprovalDescription
PREFIX = "Re-approved after rejection by "
# What the product's rejections write first (the gate, mlgov rollback): still there on an Approved package, the
# status was flipped without a comment.
REJECTION_PREFIX = "Rejected by "
COMMENT_MIN, COMMENT_MAX = 20, 600


def comment_problem(comment: str) -> str | None:
    text = " ".join(comment.split())
    if len(text) < COMMENT_MIN:
        return (
            f"--comment is {len(text)} characters; say in at least {COMMENT_MIN} why the rejection no longer applies "
            "(it is stored in the package's ApprovalDescription)"
        )
    if len(text) > COMMENT_MAX:
        return f"--comment is {len(text)} characters; at most {COMMENT_MAX} (ApprovalDescription holds 1,024)"
    return None


def description(by: str, at: str, comment: str, previous: str) -> str:
    """Who, when and why first; the rejection it overrides after, cut first (1,024 characters at most)."""
    head = f"{PREFIX}{by} at {at}: {' '.join(comment.split())}"
    tail = f" | Was: {' '.join(previous.split())}" if previous.strip() else ""
    text = head + tail
    if len(text) <= APPROVAL_DESCRIPTION_MAX:
        return text
    return text[: APPROVAL_DESCRIPTION_MAX - 1] + "…"


def unexplained_reapproval(package: Mapping[str, Any]) -> str | None:
    """Why this package looks re-approved without a comment, or None."""
    text = str(package.get("ApprovalDescription") or "")
    if package.get("ModelApprovalStatus") != "Approved" or not text.startswith(REJECTION_PREFIX):
        return None
    return (
        f"{package.get('ModelPackageArn')} is Approved, but its ApprovalDescription is still the rejection's "
        f"({text[:200]!r}): it was re-approved without a comment saying why the rejection no longer applies."
    )
