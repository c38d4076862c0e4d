"""`mlgov challenger reapprove`: the comment a re-approval needs, and the ApprovalDescription that stores it with who
and when (mlgov_runtime.challenger.reapproval tells a re-approval without one)."""

from __future__ import annotations

APPROVAL_DESCRIPTION_MAX = 1024  # SageMaker UpdateModelPackage ApprovalDescription
PREFIX = "Re-approved after rejection by "
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
