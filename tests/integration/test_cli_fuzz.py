"""Fuzz: `mlgov audit|coverage|notify|register|challenger status|simulate|capacity audit|retire audit|recreate|scan`
on arguments, files and environment of any kind exit 0-3, and every error is one line on stderr: no traceback,
no "unexpected failure", no HTML page. AWS is moto; no generated value is a reachable URL, so nothing leaves
the machine."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from mlgov.cli import main
from tests.strategies import FUZZ, Tally, json_values

argv_text = st.text(max_size=30).map(lambda t: t.replace("\x00", ""))  # argv never carries NUL
values = st.one_of(
    argv_text,
    st.sampled_from(
        [
            "",
            "-",
            "notaurl",
            "http://",
            "ftp://x",
            "http://[::1",
            "http://h:port",
            "nowhere-1",
            "us-east-1",
            "eu-west-1",
            "s3://b/k",
            "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "manga-recommender-prod",
            "manga-catalog",
            "0",
            "-1",
            "99999999999999999999",
            "\udcff",
        ]
    ),
)
FILE = "<file>"
FLAG = "<flag>"  # an option that takes no value


def mostly(*valid: str) -> st.SearchStrategy[str]:
    """A value the option accepts three times in four, anything at all otherwise."""
    good = st.sampled_from(valid)
    return st.one_of(good, good, good, values)


OPTION_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--endpoint": mostly("manga-recommender-prod", "manga-recommender-ab"),
    "--region": mostly("us-east-1", "eu-west-1"),
    "--profile": values,
    "--endpoint-url": st.sampled_from(["notaurl", "http://", "ftp://x", "http://[::1", "http://h:port", ""]),
    "--format": mostly("table", "json"),
    "--config": st.one_of(st.just(FILE), st.just(FILE), values),
    "--finding-file": st.one_of(st.just(FILE), st.just(FILE), values),
    "--metadata-file": st.one_of(st.just(FILE), st.just(FILE), values),
    "--channel": mostly("slack", "jira", "page"),
    "--catalog-table": mostly("manga-catalog"),
    "--snapshot-uri": mostly("s3://manga-training/k.jsonl", "s3://b/k"),
    "--dlq-url": mostly("https://sqs.us-east-1.amazonaws.com/123456789012/dlq"),
    "--queue-url": mostly("https://sqs.us-east-1.amazonaws.com/123456789012/q"),
    "--limit": mostly("1", "10"),
    "--group": mostly("manga-recommender"),
    "--model-data-url": mostly("s3://b/m.tar.gz"),
    "--image": mostly("763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1"),
    "--description": values,
    # issue 21 item 5: numbers out of range, names that do not exist, scans that reach nothing
    "--minutes": mostly("5", "30", "99999999999", "nan", "inf", "0"),
    "--traffic": mostly("70", "nan", "inf", "1e300", "0"),
    "--drop": mostly("0.1", "0", "1", "nan"),
    "--runs": mostly("1", "10", "99999999999", "0"),
    "--window": mostly("30", "0", "5", "nan", "99999999999"),
    "--endpoint-config": mostly("nope", "manga-recommender-prod-config"),
    "--accounts": mostly("123456789012", "111122223333,444455556666", "12345"),
    "--regions": mostly("us-east-1", "us-east-1,eu-west-1", "nowhere-1"),
    "--organization": st.just(FLAG),
}
COMMON = ["--region", "--profile", "--endpoint-url", "--format", "--config"]
COMMANDS: dict[tuple[str, ...], tuple[list[str], list[str]]] = {  # (required, optional)
    ("audit",): ([], ["--endpoint", "--endpoint", *COMMON]),
    ("coverage",): (["--catalog-table", "--snapshot-uri"], COMMON),
    ("notify", "send"): (["--finding-file"], ["--channel", *COMMON]),
    ("notify", "test"): (["--channel"], COMMON),
    ("notify", "redrive"): (["--dlq-url", "--queue-url"], ["--limit", *COMMON]),
    ("register",): (["--group", "--metadata-file", "--model-data-url", "--image"], ["--description", *COMMON]),
    ("challenger", "status"): (["--endpoint"], ["--minutes", *COMMON]),
    ("challenger", "simulate"): (["--traffic", "--drop", "--runs"], ["--minutes", "--window", "--format", "--config"]),
    ("capacity", "audit"): ([], ["--endpoint", *COMMON]),
    ("retire", "audit"): ([], ["--endpoint", *COMMON]),
    ("retire", "recreate"): (["--endpoint", "--endpoint-config"], COMMON),
    ("scan",): ([], ["--accounts", "--organization", "--regions", *COMMON]),
}
# Registration metadata with the wrong types (issue 21 item 5): numbers where strings belong, a dict for team.
_METADATA = {
    "training_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/manga-lora",
    "git_commit_sha": "0123abcd",
    "training_data_s3_uri": "s3://b/k",
    "training_data_version": "v1",
    "trained_at_utc": "2026-05-01T09:00:00Z",
    "catalog_snapshot_date": "2026-05-01",
    "evaluation_metrics": {"eval_loss": 0.1},
    "shadow_ctr_eligible": "true",
    "intended_use_case": "recommendation",
    "team": "recs",
    "approved_by": "lead",
}
metadata_files = st.builds(
    lambda key, value: json.dumps({**_METADATA, key: value}).encode(),
    st.sampled_from(sorted(_METADATA)),
    st.one_of(st.sampled_from([12345, 20260501, {"name": "recs"}, ["a"], None, True, 1.5]), json_values),
)
file_contents = st.one_of(
    metadata_files,
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"\xff\xfe{}", b"[" * 5000, b'{"context": {"mlgov": []}}', b'{"context": []}']),
    st.builds(
        lambda finding: json.dumps(finding).encode(),
        st.fixed_dictionaries({"finding_id": st.text(max_size=10), "kind": json_values, "detail": json_values}),
    ),
)


@st.composite
def invocations(draw: Any) -> tuple[list[str], dict[str, bytes], dict[str, str]]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    required, optional = COMMANDS[command]
    options = [o for o in required if draw(st.integers(0, 19))]  # now and then a required one is missing
    options += draw(st.lists(st.sampled_from(optional), max_size=3))
    argv, files = list(command), dict[str, bytes]()
    for option in draw(st.permutations(options)):
        value = draw(OPTION_VALUES[option])
        if value == FLAG:
            argv.append(option)
            continue
        if value == FILE:
            value = f"f{len(files)}"
            files[value] = draw(file_contents)
        argv += [option, value] if draw(st.integers(0, 29)) else [option]  # rarely a value is missing
    if not draw(st.integers(0, 19)):
        argv.append("--bogus")
    env = draw(
        st.dictionaries(
            st.sampled_from(
                ["MLGOV_SLACK_WEBHOOK_URL", "MLGOV_JIRA_URL", "MLGOV_JIRA_PROJECT", "MLGOV_PAGE_TOPIC_ARN"]
            ),
            st.sampled_from(["", "notaurl", "ftp://x", "ops", "OPS", "arn:aws:sns:us-east-1:1:t", "http://"]),
            max_size=2,
        )
    )
    return argv, files, env


def test_fuzz_cli_arguments_files_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally("CLI (arguments, --config/--finding-file/--metadata-file contents, MLGOV_* environment)")
    for key in ("MLGOV_SLACK_WEBHOOK_URL", "MLGOV_JIRA_URL", "MLGOV_JIRA_USER", "MLGOV_JIRA_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLGOV_JIRA_USER", "bot")
    monkeypatch.setenv("MLGOV_JIRA_TOKEN", "t")

    @settings(FUZZ, max_examples=300)
    @given(invocations())
    def check(invocation: tuple[list[str], dict[str, bytes], dict[str, str]]) -> None:
        argv, files, env = invocation
        tally.generated += 1
        for name, content in files.items():
            (tmp_path / name).write_bytes(content)
        argv = [str(tmp_path / a) if a in files else a for a in argv]
        err, out = io.StringIO(), io.StringIO()
        with (
            mock_aws(),
            monkeypatch.context() as m,
            contextlib.redirect_stderr(err),
            contextlib.redirect_stdout(out),
        ):
            for key, value in env.items():
                m.setenv(key, value)
            try:
                code = main(argv)
            except Exception as exc:
                tally.unhandled.append(f"{argv}: {type(exc).__name__}: {exc}")
                raise
        text = err.getvalue()
        problem = None
        if code not in (0, 1, 2, 3):
            problem = f"exit {code}"
        elif "unexpected failure" in text or "Traceback" in text or "<html" in text.lower():
            problem = text
        elif code == 2 and [line.startswith("mlgov: ") for line in text.splitlines() if not line.startswith("  ")] != [
            True
        ]:
            problem = f"a usage error is one line (progress lines aside): {text!r}"
        if problem:
            tally.unhandled.append(f"{argv}: {problem}")
            raise AssertionError(f"{argv} env={env}: {problem}")

    check()
    tally.report(capsys)
    assert tally.generated >= 200 and tally.unhandled == []


def test_fuzz_register_refuses_every_metadata_field_of_the_wrong_json_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21 item 5: a number, object, array, boolean or null where the registry stores a string is exit 2
    naming the field, before any AWS call (never exit 1, never registered as its text)."""
    tally = Tally("mlgov register (one metadata field of a wrong JSON type)")
    strings = sorted(k for k, v in _METADATA.items() if isinstance(v, str) and k != "shadow_ctr_eligible")
    wrong = st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )

    @settings(FUZZ, max_examples=60)
    @given(st.sampled_from(strings), wrong)
    def check(key: str, value: Any) -> None:
        tally.generated += 1
        path = tmp_path / "metadata.json"
        path.write_text(json.dumps({**_METADATA, key: value}))
        err = io.StringIO()
        argv = ["register", "--group", "manga-recommender", "--metadata-file", str(path), "--region", "us-east-1"]
        argv += ["--model-data-url", "s3://b/m.tar.gz", "--image", "763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1"]
        with mock_aws(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        if code != 2 or f"refused: {key} is a JSON" not in err.getvalue():
            tally.unhandled.append(f"{key}={value!r}: exit {code}: {err.getvalue().strip()}")
            raise AssertionError(tally.unhandled[-1])

    check()
    tally.report(capsys)
    assert tally.generated >= 30 and tally.unhandled == []
