"""Who is calling, proven by STS rather than by the invoke event (Vault's AWS IAM auth pattern).

The caller presigns sts:GetCallerIdentity signing `x-mlgov-binding` (SHA-256 of the request) and
`x-mlgov-audience` (the host of the function URL it posts to). The service sends it to its own region's STS with
the binding it computed and its OWN function URL's host (from Lambda, never the event): a proof for another body
or service fails at STS; one that signs no audience is refused before.

Who counts as one person (roles, users, Identity Center sessions): docs/approvals.md, "How a caller is proven".
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

BINDING_HEADER = "x-mlgov-binding"
AUDIENCE_HEADER = "x-mlgov-audience"
# How long a proof lives (X-Amz-Expires, the CLI signs exactly this): a captured proof is good for no longer.
MAX_EXPIRES = 60
_PARAMS = {
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
}
_ASSUMED = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]{1,64})/([\w+=,.@-]{2,64})")
# Identity Center's role names (docs.aws.amazon.com/singlesignon: "AWSReservedSSO_<permission set>_<id>").
IDENTITY_CENTER_ROLE = "AWSReservedSSO_"
_USER = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(user|role)/[\w+=,.@/-]{1,512}")
_ROOT = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):root")


class Unproven(Exception):
    """The identity proof is missing, malformed, or STS did not accept it."""


def binding(fields: dict[str, Any]) -> str:
    """What the proof is bound to: the action and its arguments, canonically encoded."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def audience_of(url: str) -> str:
    """The service a proof is for: the host of its function URL, lower-case, with its port unless the scheme's
    default (both sides name one service alike); "" if `url` names no host."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return ""
    if parts.username is not None or not re.fullmatch(r"[a-z0-9.-]{1,253}", host):
        return ""
    return host if port in (None, {"https": 443, "http": 80}.get(parts.scheme)) else f"{host}:{port}"


def check_query(query: str) -> str:
    """The proof's query string if it is a GetCallerIdentity presign binding our header; else Unproven."""
    if not isinstance(query, str) or not query or len(query) > 8192:
        raise Unproven("no identity proof: sign with `mlgov` (a presigned sts:GetCallerIdentity)")
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Unproven("the identity proof is not a query string") from None
    params = dict(pairs)
    if len(params) != len(pairs) or not set(params) <= _PARAMS:
        raise Unproven("the identity proof carries repeated or unexpected parameters")
    if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
        raise Unproven("the identity proof is not an sts:GetCallerIdentity request")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not params.get("X-Amz-Signature"):
        raise Unproven("the identity proof is not SigV4-signed")
    if not re.fullmatch(r"[A-Z0-9]{16,128}/\d{8}/[a-z0-9-]+/sts/aws4_request", params.get("X-Amz-Credential", "")):
        raise Unproven("the identity proof is not signed for STS")
    expires = params.get("X-Amz-Expires", "")
    if not re.fullmatch(r"[0-9]{1,4}", expires) or not 0 < int(expires) <= MAX_EXPIRES:
        raise Unproven(f"the identity proof must expire within {MAX_EXPIRES} s")
    signed = params.get("X-Amz-SignedHeaders", "").split(";")
    if BINDING_HEADER not in signed:
        raise Unproven(f"the identity proof does not sign {BINDING_HEADER} (bound to nothing)")
    if AUDIENCE_HEADER not in signed:
        raise Unproven(
            f"the identity proof does not sign {AUDIENCE_HEADER} (made for no particular approval service): "
            "sign with a current `mlgov`"
        )
    return query


def caller_via_sts(sts: Any, query: str, bound_to: str, own_audience: str) -> str:
    """Send the proof to STS through `sts` (a botocore client of this function's region: its endpoint is the
    only host ever called) with `bound_to` and `own_audience` (the host of this service's own function URL, as
    Lambda states it) as the signed headers, and return the ARN STS answers."""
    from botocore.exceptions import BotoCoreError, ClientError

    check_query(query)
    if not own_audience:  # never accept a proof without checking whom it was made for
        raise Unproven("the approval service does not know its own URL, so no proof can be checked")

    def swap(request: Any, **_: Any) -> None:
        base = urllib.parse.urlsplit(request.url)
        request.url = urllib.parse.urlunsplit((base.scheme, base.netloc, "/", query, ""))
        request.method, request.body = "GET", b""
        for header in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Content-Type", "Content-Length"):
            if header in request.headers:
                del request.headers[header]
        request.headers[BINDING_HEADER] = bound_to
        request.headers[AUDIENCE_HEADER] = own_audience

    event = "before-send.sts.GetCallerIdentity"
    sts.meta.events.register_first(event, swap)
    try:
        arn = str(sts.get_caller_identity()["Arn"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message") or "")
        hint = (
            f" (a proof lives {MAX_EXPIRES} s from the signing machine's clock: check that clock, NTP)"
            if "expired" in message.lower()
            else ""
        )
        raise Unproven(f"STS refused the identity proof ({error.get('Code')}: {message}){hint}") from None
    except BotoCoreError as exc:
        raise Unproven(f"STS could not be asked: {exc}") from None
    finally:
        sts.meta.events.unregister(event, swap)
    return arn


def person(arn: str) -> str:
    """The person an ARN stands for: an assumed role's role ARN, or the user/role/root ARN itself. Anything
    else (federated users name themselves) is no person: it never requests nor approves."""
    arn = arn.strip()
    match = _ASSUMED.fullmatch(arn)
    if match:
        partition, account, role, _ = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    if _USER.fullmatch(arn) and ":role/" in arn:  # an assumed-role ARN omits the role's path
        return arn.split(":role/", 1)[0] + ":role/" + arn.rsplit("/", 1)[-1]
    if _USER.fullmatch(arn) or _ROOT.fullmatch(arn):
        return arn
    return ""


def identity_center_user(arn: str) -> str:
    """ "partition:account:user" for a session of an Identity Center role (the session name is the user name
    Identity Center set, compared without case: refusing more is the safe side); "" for any other ARN."""
    match = _ASSUMED.fullmatch(arn.strip())
    if not match or not match.group(3).startswith(IDENTITY_CENTER_ROLE):
        return ""
    partition, account, _, session = match.groups()
    return f"{partition}:{account}:{session.casefold()}"


def same_person(a: str, b: str) -> bool:
    """One role or user (any session names), or one Identity Center user under any of their permission sets."""
    pa, pb = person(a), person(b)
    if bool(pa) and pa == pb:
        return True
    ua = identity_center_user(a)
    return bool(ua) and bool(pa) and bool(pb) and ua == identity_center_user(b)


def _mapped_as(arn: str, mapped: str) -> bool:
    """`arn` is the identity settings name as `mapped`: a mapped session (assumed-role/ROLE/session) is that
    session only (the role may be shared, as Identity Center's are); a mapped role or user is every session of it."""
    return arn == mapped or (not _ASSUMED.fullmatch(mapped.strip()) and same_person(arn, mapped))


def mapped_identities(arns: Iterable[str], people: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """`arns` and every identity settings map to the same person (`people`: each entry one person's identities,
    approvals.slack_approvers), through entries that share an identity, whatever channel the caller used."""
    found, entries = list(dict.fromkeys(arns)), [tuple(entry) for entry in people]
    grown = True
    while grown:
        grown = False
        for entry in entries:
            if any(_mapped_as(arn, mapped) for arn in found for mapped in entry):
                new = [mapped for mapped in entry if mapped not in found]
                found += new
                grown = grown or bool(new)
    return tuple(found)
