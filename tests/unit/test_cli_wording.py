"""Wording of CLI output a user reads: counts agree with their nouns, help shows the defaults it relies on."""

from __future__ import annotations

import contextlib
import io

from mlgov.cli import main
from mlgov.commands import common
from mlgov.commands.lineage_audit import render_audit_table


def test_a_count_of_one_is_singular() -> None:
    assert [common.count(n, "endpoint") for n in (0, 1, 2)] == ["0 endpoints", "1 endpoint", "2 endpoints"]


def test_the_audit_summary_says_1_endpoint_and_1_violation() -> None:
    row = {"endpoint_name": "manga-recommender-prod", "verdict": "NO_MODEL", "reasons": ["no model"], "variants": []}
    summary = {"total": 1, "compliant": 0, "violations": 1, "exempt": 0, "errors": 0}
    text = render_audit_table({"endpoints": [row], "summary": summary})
    assert "1 endpoint: 0 compliant, 1 violation, 0 exempt, 0 errors" in text, text


def test_explain_help_shows_the_default_principal() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["guardrails", "explain", "--help"]) == 0
    assert "arn:aws:iam::111111111111:role/DataScientist" in " ".join(out.getvalue().split()), out.getvalue()


def test_the_retirement_summary_says_1_watched_endpoint_and_1_error() -> None:
    from mlgov.commands.retirement import render_table

    row = {
        "endpoint_name": "manga-recommender-v1",
        "verdict": "ERROR",
        "invocations_24h": None,
        "served_versions": [],
        "current_versions": [],
        "purpose": None,
        "monthly_cost_usd": None,
        "reasons": ["cannot read it"],
        "purpose_problem": None,
        "next_step": None,
    }
    summary = {
        "total": 1,
        "current": 0,
        "stale_active": 0,
        "retirement_candidates": 1,
        "errors": 1,
        "not_watched": 0,
    }
    text = render_table({"endpoints": [row], "summary": summary})
    said = "1 watched endpoint: 0 current, 0 stale with traffic, 1 retirement candidate, 1 error (0 not watched)"
    assert said in text, text


def test_scan_refuses_a_role_name_iam_would_refuse_in_every_account() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["scan", "--accounts", "111122223333", "--role-name", "bad role"]) == 2
    assert "argument --role-name: 'bad role' is not an IAM role name" in err.getvalue(), err.getvalue()


def test_scan_takes_a_role_name_with_its_path() -> None:
    from mlgov.cli import build_parser

    args = build_parser().parse_args(["scan", "--role-name", "mlgov-member/MlGovMemberAudit"])
    assert args.role_name == "mlgov-member/MlGovMemberAudit"


def test_every_command_a_lineage_next_step_quotes_parses() -> None:
    """A user copies the quoted command from the finding: with no group to name, it still parses (GROUP)."""
    import re

    from mlgov.cli import build_parser
    from mlgov_runtime.lineage_audit.findings import next_step
    from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict

    raw = EndpointAudit("manga-recommender-hotfix", None, "123456789012", "us-east-1", Verdict.UNREGISTERED)
    unmatched = EndpointAudit("manga-recommender-prod", None, "123456789012", "us-east-1", Verdict.ERROR)
    unmatched.reasons = ["Variant challenger-v8: no running experiment could be read (states:ListExecutions denied)."]
    quoted = [q for audit in (raw, unmatched) for q in re.findall(r"`(mlgov [^`]+)`", next_step(audit))]
    assert sum(q.startswith("mlgov rollback") for q in quoted) == 2, quoted
    for command in quoted:
        argv = [w.replace("GROUP", "manga-recommender") for w in command.split()[1:]]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                build_parser().parse_args(argv)
            except SystemExit:
                raise AssertionError(f"`{command}` does not parse: {err.getvalue()}") from None
