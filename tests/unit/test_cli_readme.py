"""The documentation users read stays true to the CLI: every `mlgov ...` example in README.md and in every page
of docs/ (fenced code blocks and inline code) parses against the CLI's real parser; an inline mention without
options names a real command. README.md stays a five-minute read and its links into docs/ resolve."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

import pytest

from mlgov.cli import build_parser
from tests import cli_examples

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))  # the hand-written pages; docs/reference/ is generated
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(mlgov [^`\n]+)`")
# What a user's shell variables in the examples hold.
PLACEHOLDERS = {
    "DLQ": "https://sqs.us-east-1.amazonaws.com/123456789012/MlGovEndpointAudit-NotifierDlq",
    "QUEUE": "https://sqs.us-east-1.amazonaws.com/123456789012/MlGovEndpointAudit-NotifierQueue",
    "FINDINGS_TABLE": "MlGovEndpointAudit-Findings",
    "FINDINGS_TOPIC": "arn:aws:sns:us-east-1:123456789012:MlGovEndpointAudit-Findings",
}


def fenced_commands(text: str) -> list[str]:
    """`mlgov ...` lines of every fenced block, continuation lines joined, trailing comments dropped."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("mlgov "):
                found.append(" ".join(line.split()))
    return found


def inline_commands(text: str) -> list[str]:
    return [" ".join(m.split()) for m in INLINE.findall(FENCE.sub("", text))]


def documents() -> list[Path]:
    return [README, *PAGES]


def examples() -> list[tuple[str, str, str]]:
    out = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        out += [(name, "fenced", c) for c in fenced_commands(text)]
        out += [(name, "inline", c) for c in inline_commands(text)]
    return out


EXAMPLES = examples()


def argv_of(command: str) -> list[str]:
    return cli_examples.argv_of(command, PLACEHOLDERS)


def command_path_exists(parser: argparse.ArgumentParser, words: list[str]) -> bool:
    """`mlgov retire cancel` named in prose: each word is a subcommand of the one before."""
    for word in words:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or word not in subparsers[0].choices:
            return False
        parser = subparsers[0].choices[word]
    return True


def parse_error(argv: list[str]) -> str | None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            return stderr.getvalue().strip() or "argparse exited"
    return None if callable(getattr(args, "func", None)) else "no command function"


def test_the_docs_show_commands() -> None:
    fenced = [e for e in EXAMPLES if e[1] == "fenced"]
    assert len(fenced) >= 30, fenced
    assert any(e[0] == "README.md" for e in fenced)


@pytest.mark.parametrize(("page", "where", "command"), EXAMPLES, ids=[f"{p}:{c}" for p, _, c in EXAMPLES])
def test_every_documented_command_parses_against_the_cli(page: str, where: str, command: str) -> None:
    argv = argv_of(command)
    named = where == "inline" and not any(w.startswith("-") for w in argv)
    if named and command_path_exists(build_parser(), argv):
        return  # a command named in prose: a real command path is enough
    error = parse_error(argv)
    assert error is None, f"{page}: `{command}`: {error}"


def test_the_parse_check_fails_on_a_wrong_example() -> None:
    assert parse_error(argv_of("mlgov audit --endpoints manga-recommender-prod")) is not None
    assert parse_error(argv_of("mlgov capacity restore --endpoint E --min N")) is not None
    assert not command_path_exists(build_parser(), ["retire", "delete"])
    assert command_path_exists(build_parser(), ["retire", "cancel"])


def test_the_readme_is_a_five_minute_read() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move detail to a page under docs/"


def github_slug(heading: str) -> str:
    """The anchor GitHub (and MkDocs' default toc) gives a heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_every_link_from_the_readme_into_docs_resolves() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)\s]+)\)", text)
    assert links, "the README links to no page of the documentation"
    broken = []
    for link in links:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        if not path.is_file():
            broken.append(link)
            continue
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
            if anchor not in {github_slug(h) for h in headings}:
                broken.append(link)
    assert not broken, broken


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES if f" {p.name}" not in nav]
    assert not missing, f"pages missing from mkdocs.yml nav: {missing}"
