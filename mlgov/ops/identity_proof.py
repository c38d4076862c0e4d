"""The caller's side of an identity proof (mlgov_runtime.approvals.identity says what the service checks): the CLI
presigns sts:GetCallerIdentity, binding what it asks and the service it asks."""

from __future__ import annotations

import urllib.parse
from typing import Any

from mlgov_runtime.approvals.identity import AUDIENCE_HEADER, BINDING_HEADER, MAX_EXPIRES, Unproven

PROOF_EXPIRES = MAX_EXPIRES  # the longest the service accepts


def presign(
    credentials: Any, region: str, sts_endpoint: str, bound_to: str, audience: str, expires: int = PROOF_EXPIRES
) -> str:
    """The query string of a presigned GetCallerIdentity for `sts_endpoint`, with the binding and audience
    headers signed (`audience`: the host of the approval service's function URL the proof is sent to)."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    if not audience:
        raise Unproven("a proof is made for one approval service: name its function URL's host")
    url = sts_endpoint.rstrip("/") + "/?Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="GET", url=url, headers={BINDING_HEADER: bound_to, AUDIENCE_HEADER: audience})
    SigV4QueryAuth(credentials, "sts", region, expires=expires).add_auth(request)
    return str(urllib.parse.urlsplit(request.url).query)
