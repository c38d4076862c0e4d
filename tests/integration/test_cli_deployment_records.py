"""`mlgov audit` and `mlgov scan` told the lineage audit's ServingIndex table compare each endpoint's configuration
with its deployment record as the audit function and the weekly worker do; without it they say so."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgov.cli import main
from mlgov.commands.common import SERVING_INDEX_ENV
from mlgov.estate import SERVING_INDEX
from tests.attacker.scp_judge import REGION
from tests.attacker.test_sixteenth_review_gaps import (
    HOTFIX,
    _endpoint_touched_since,
    _open_violation,
    _recreate_config,
    indexed,
)
from tests.integration.conftest import Sandbox, sandbox
from tests.settings_files import NO_SETTINGS

__all__ = ["indexed", "sandbox"]

RECORD_REASON = "as when the audit of its deployment read it"


def _recreated_after_a_recorded_deploy(indexed: Sandbox) -> None:
    """The configuration re-created with the same variant names after the deploy's audit recorded it, then a weight
    call: nothing DescribeEndpoint gives tells it from the deployed one."""
    _open_violation(indexed)
    _recreate_config(indexed, "AllTraffic")
    _endpoint_touched_since(indexed)


def _audit(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any], str]:
    code = main(
        ["audit", "--endpoint", HOTFIX, "--format", "json", "--region", REGION, "--config", NO_SETTINGS, *extra]
    )
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out else {}, out.err


def test_mlgov_audit_compares_the_deployment_record_when_told_the_table(
    indexed: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _recreated_after_a_recorded_deploy(indexed)
    capsys.readouterr()  # the audit function's own log lines
    code, report, _ = _audit(capsys)
    assert (code, report["endpoints"][0]["verdict"]) == (0, "COMPLIANT")  # the two checks alone cannot tell
    code, report, _ = _audit(capsys, "--serving-index-table", SERVING_INDEX)
    [row] = report["endpoints"]
    assert (code, row["verdict"]) == (3, "ARTIFACT_MISMATCH"), row
    assert any(RECORD_REASON in r for r in row["reasons"]), row["reasons"]
    assert "through the deployment pipeline" in row["next_step"]
    monkeypatch.setenv(SERVING_INDEX_ENV, SERVING_INDEX)
    assert _audit(capsys)[1]["endpoints"][0]["verdict"] == "ARTIFACT_MISMATCH"


def test_mlgov_scan_compares_the_deployment_record_when_told_the_table(
    indexed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    _recreated_after_a_recorded_deploy(indexed)
    capsys.readouterr()  # the audit function's own log lines
    argv = ["scan", "--regions", REGION, "--format", "json", "--config", NO_SETTINGS]

    def about_hotfix(*extra: str) -> list[str]:
        main([*argv, *extra])
        report = json.loads(capsys.readouterr().out)
        return [str(f["detail"]) for f in report["findings"] if str(f["resource_arn"]).endswith(f"/{HOTFIX}")]

    assert not [d for d in about_hotfix() if RECORD_REASON in d]
    assert [d for d in about_hotfix("--serving-index-table", SERVING_INDEX) if RECORD_REASON in d]


@pytest.mark.parametrize("command", ["audit", "scan"])
def test_a_table_that_cannot_be_read_is_a_usage_error_before_anything_runs(
    indexed: Sandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    where = ["--region", REGION] if command == "audit" else ["--regions", REGION]
    code = main([command, *where, "--config", NO_SETTINGS, "--serving-index-table", "no-such-table"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "serving index no-such-table cannot be read" in err and "ServingIndexTableName" in err
    assert len(err.strip().splitlines()) == 1


def test_the_table_output_says_when_records_are_not_compared(
    indexed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["audit", "--endpoint", HOTFIX, "--region", REGION, "--config", NO_SETTINGS])
    assert "Deployment records not compared" in capsys.readouterr().err
    main(
        [
            "audit",
            "--endpoint",
            HOTFIX,
            "--region",
            REGION,
            "--config",
            NO_SETTINGS,
            "--serving-index-table",
            SERVING_INDEX,
        ]
    )
    assert "Deployment records not compared" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["audit", "scan"])
def test_a_region_without_endpoints_says_nothing_of_records_not_compared(
    indexed: Sandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Nothing audited leaves nothing uncompared: the note is for endpoints judged without the records."""
    empty = "eu-central-1"
    where = ["--region", empty] if command == "audit" else ["--regions", empty]
    main([command, *where, "--config", NO_SETTINGS])
    assert "Deployment records not compared" not in capsys.readouterr().err
    where = ["--region", REGION] if command == "audit" else ["--regions", REGION]
    main([command, *where, "--config", NO_SETTINGS])
    assert "Deployment records not compared" in capsys.readouterr().err
