"""What the pages and the texts around the commands tell a new user: nothing outside the repository, no
variable no code reads, no hidden option, no `<placeholder>` in a fix, and the hint that fits the case."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/manga-recommender/8"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_points_a_reader_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`(\.\./[^`\s]+)`", text)
    outside = []
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        resolved = (page.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            outside.append(target)
    assert outside == [], f"{page.name}: {outside}"


def _read_by_cli() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "mlgov").rglob("*.py"))


def test_every_mlgov_variable_a_stack_output_or_a_page_names_is_read_by_the_cli() -> None:
    """A stack output's description and the pages tell users which MLGOV_* variable to set: each must be one
    the CLI reads (MLGOV_<CAPABILITY>_SETTINGS are the functions' own and named as such)."""
    code = _read_by_cli()
    sources = [*sorted((ROOT / "stacks").glob("*.py")), *PAGES]
    named: dict[str, set[str]] = {}
    for source in sources:
        text = source.read_text(encoding="utf-8")
        if source.suffix == ".py":  # only what a user reads: the outputs' descriptions
            text = "\n".join(re.findall(r"description=((?:\"[^\"]*\"\s*)+)", text))
        for name in re.findall(r"\bMLGOV_[A-Z_]+\b", text):
            if not name.endswith("_SETTINGS"):
                named.setdefault(name, set()).add(source.name)
    assert named, "no MLGOV_* variable found: the scan is broken"
    unread = {name: sorted(where) for name, where in named.items() if f'"{name}"' not in code}
    assert unread == {}, unread


def test_the_cli_reference_leaves_out_hidden_options() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = gen.cli_page()
    assert "==SUPPRESS==" not in page and "--poll-seconds" not in page
    assert "--wait-minutes" in page  # the shown options of the same command are still there


def test_the_demo_says_a_scan_exit_3_was_an_account_it_could_not_read() -> None:
    from mlgov.scenes.org_scan import scan_exit_meaning

    table = [
        "ACCOUNT       REGION          STATUS  ENDPOINTS  VIOLATIONS  REASON",
        "210987654321  us-east-1       OK              2           0",
        "999999999999  us-east-1       ERROR           0           0  ROLE_NOT_ASSUMABLE (see below)",
    ]
    meaning = scan_exit_meaning(3, table)
    assert "999999999999 could not be read" in meaning and "violations" not in meaning
    assert scan_exit_meaning(3, table[:2]) == "3 = violations or open findings"


def test_the_cost_section_hint_fits_why_there_are_no_costs() -> None:
    from mlgov_runtime.retirement.costs import purpose_costs, unavailable

    start, end = date(2026, 11, 29), date(2026, 12, 6)
    no_data = purpose_costs([{"ResultsByTime": []}], "endpoint_purpose", start, end)
    assert no_data["status"] == "UNAVAILABLE"
    assert "Grant" not in no_data["next_step"] and "enable Cost Explorer" in no_data["next_step"]
    denied = unavailable(
        "Cost Explorer GetCostAndUsage: An error occurred (AccessDeniedException) when calling the "
        "GetCostAndUsage operation: User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
        "endpoint_purpose",
        start,
        end,
    )
    assert denied["next_step"].startswith("Grant ce:GetCostAndUsage")


def _placeholders(text: str) -> list[str]:
    return re.findall(r"<[a-z][^>]*>", text)


def test_a_pin_fix_names_the_real_group_and_no_placeholder() -> None:
    from mlgov_runtime.lineage_audit.pins import fix_for

    fix = fix_for(PACKAGE)
    assert _placeholders(fix) == [], fix
    assert "mlgov rollback --group manga-recommender" in fix


def _snapshot_finding(packages: list[dict[str, Any]], status: str, options: dict[str, Any]) -> Any:
    from mlgov_runtime.core.checks import CheckContext
    from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict
    from mlgov_runtime.org_scan import snapshot_age

    def no_aws(service: str) -> Any:
        raise AssertionError(service)

    ctx = CheckContext(
        "123456789012",
        "us-east-1",
        clients=no_aws,
        home_clients=no_aws,
        options=options,
        source="scheduled",
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )
    audit = EndpointAudit("manga-recommender-prod", None, "123456789012", "us-east-1", Verdict.COMPLIANT)
    return snapshot_age._finding(ctx, audit, status, packages, 60)


def test_a_snapshot_finding_names_the_real_group_table_and_date_not_placeholders() -> None:
    missing = _snapshot_finding(
        [{"model_package_arn": PACKAGE, "catalog_snapshot_date": None, "age_days": None}], "MISSING", {}
    )
    assert _placeholders(missing.detail) == [], missing.detail
    assert "mlgov register --group manga-recommender" in missing.detail

    no_uri = [{"model_package_arn": PACKAGE, "catalog_snapshot_date": "2026-05-02", "age_days": 212}]
    stale = _snapshot_finding(no_uri, "STALE", {})  # no catalog_table_name passed: the setting's default
    assert _placeholders(stale.detail) == [], stale.detail
    assert "mlgov coverage --catalog-table manga-catalog" in stale.detail
    assert "under catalog-snapshots/2026-05-02/" in stale.detail  # one folder per run below the date


def test_a_reader_that_closes_the_pipe_gets_no_failure_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mlgov ... | head`: head exits, the next write fails; that is no "unexpected failure" to report."""
    from mlgov.cli import main

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    code = main(["challenger", "simulate", "--traffic", "70", "--drop", "0", "--runs", "10", "--format", "json"])
    assert code == 1
    assert capsys.readouterr().err == ""


def test_a_page_that_cites_contracts_md_cites_what_the_repository_holds() -> None:
    """The repository's CONTRACTS.md adds to a base contract (CONTRACTS.base.md): pages cited CONTRACTS.md for the
    recommendation metrics, the catalog's items and the coverage JSON, which only the base held, then outside the
    repository. A quoted section must be one of CONTRACTS.md's; what only the base holds is on the pages too."""
    headings = [
        line[3:] for line in (ROOT / "CONTRACTS.md").read_text(encoding="utf-8").splitlines() if line[:3] == "## "
    ]
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    cited = re.findall(r'CONTRACTS\.md,?\s+"([^"]+)"', text)
    assert cited, "no quoted CONTRACTS.md section found: the scan is broken"
    assert [c for c in cited if not any(h.startswith(c) for h in headings)] == []
    for vague in ("CONTRACTS.md shape", "CONTRACTS.md names", "CONTRACTS.md JSON", "shape is in `CONTRACTS.md`"):
        assert vague not in text, vague


def test_an_example_on_a_named_endpoint_whose_comment_names_exit_codes_names_the_one_it_gives() -> None:
    """deploy.md said `mlgov challenger status --endpoint manga-recommender-prod  # ... (exit 3: reject)`; on that
    endpoint, one variant and no challenger, it exits 2 (tests/integration/test_cli_readme.py runs it)."""
    from tests.integration.test_cli_readme import RUNS

    checked = 0
    for page in PAGES:
        blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
            command, _, comment = line.partition(" #")
            command = " ".join(command.split())
            codes = {
                int(code) for code in re.findall(r"\b(?:exit )?(\d): ", comment) + re.findall(r"exit (\d)", comment)
            }
            if command in RUNS and "--endpoint " in command and codes:
                checked += 1
                assert RUNS[command] in codes, (page.name, line)
    assert checked, "no commented example on a named endpoint: the scan is broken"
