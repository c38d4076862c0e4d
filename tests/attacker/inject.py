"""Failure injection at botocore, shared by the reviews that inject failures into real (moto) calls."""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError


def fail_calls(monkeypatch: pytest.MonkeyPatch, operation: str, code: str, *, after: bool = False) -> list[str]:
    """Every botocore call of `operation` fails with `code` (a ClientError), or, with `after`, goes through and
    then loses its answer (a read timeout); the others go through. Returns the calls seen."""
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
    seen: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name != operation:
            return original(self, name, params)
        seen.append(name)
        if after:
            original(self, name, params)
            raise ReadTimeoutError(endpoint_url="https://api.aws.example")
        raise ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, name)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return seen
