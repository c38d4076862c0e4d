"""Whether an AWS call that failed may still have been taken (the CLI's rollback and redrive say so)."""

from __future__ import annotations

from botocore.exceptions import ClientError


def is_refused(exc: BaseException) -> bool:
    """AWS answered no (throttled, denied, invalid): the call was not taken. A lost answer (a timeout, a dropped
    connection) or a server error may have been."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status is None or int(status) < 500
