"""How AWS says "not found", and a failure in one line: shared by the adapters that map botocore errors
to their capability's own exceptions."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

# SageMaker answers a missing resource with ValidationException and a message, not with a code of its own.
_NOT_FOUND = re.compile(r"could not find|not found|does not exist", re.IGNORECASE)


def is_not_found(exc: BaseException) -> bool:
    """AWS's "no such resource" answer; access denied, throttling or anything else is not."""
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    return code in ("ResourceNotFound", "ResourceNotFoundException") or (
        code == "ValidationException" and bool(_NOT_FOUND.search(message))
    )


def error_text(exc: BaseException) -> str:
    """`Code: message` of an AWS error (the code alone without a message), `Type: text` of anything else."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"
