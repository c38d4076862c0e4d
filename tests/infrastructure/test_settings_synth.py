"""`python app.py` (what bench and CI run) reads cdk.json like `cdk synth` does, and refuses a bad
setting with one line before synthesizing anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

import app
from mlgov.settings import SettingsError

pytestmark = pytest.mark.infrastructure


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(app, "ROOT", tmp_path, raising=False)
    for name in ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_python_app_py_applies_the_settings_in_cdk_json(project: Path) -> None:
    (project / "cdk.json").write_text(json.dumps({"context": {"mlgov": {"watched_model_package_groups": []}}}))
    with pytest.raises(SettingsError, match="watched_model_package_groups"):
        app.build_app()


def test_python_app_py_exits_2_with_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "cdk.json").write_text(json.dumps({"context": {"mlgov": {"weekly_scan_schedule": "cron(banana)"}}}))
    assert app.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlgov.weekly_scan_schedule" in err


def test_cdk_context_json_overrides_cdk_json_as_the_cli_does(project: Path) -> None:
    (project / "cdk.json").write_text(json.dumps({"context": {"mlgov": {"log_retention_days": 30}, "a": 1}}))
    (project / "cdk.context.json").write_text(json.dumps({"a": 2}))
    assert app.cdk_json_context(project) == {"mlgov": {"log_retention_days": 30}, "a": 2}


def test_the_coverage_check_and_pipeline_serve_the_named_group_of_several() -> None:
    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    from stacks.constants import AUDIT_STACK_NAME

    groups = {"watched_model_package_groups": ["manga-recommender", "manga-ranker"]}
    built = app.build_app(context={"mlgov": {**groups, "retraining": {"model_package_group": "manga-ranker"}}})
    template = Template.from_stack(cast(Stack, built.node.find_child(AUDIT_STACK_NAME)))
    from mlgov_runtime.core.model import received, variable
    from mlgov_runtime.coverage.settings import Received as CoverageReceived
    from mlgov_runtime.retraining.settings import Received as RetrainingReceived
    from mlgov_runtime.retraining.settings import serving_group

    served: dict[str, str] = {}
    for logical_id, props in template.find_resources("AWS::Lambda::Function").items():
        variables = props["Properties"].get("Environment", {}).get("Variables", {})
        for model in (CoverageReceived, RetrainingReceived):
            if variable(model) in variables:  # what the function reads back at cold start
                got: Any = received(variables, model)
                served[logical_id.split("Function")[0]] = serving_group(
                    got.retraining, got.watched_model_package_groups
                )
    assert len(served) == 2 and set(served.values()) == {"manga-ranker"}, served


def test_synth_refuses_a_context_key_that_looks_like_a_misspelt_mlgov(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "cdk.json").write_text(json.dumps({"context": {"mlgvo": {"log_retention_days": 30}}}))
    assert app.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'mlgvo': looks like a misspelt 'mlgov'" in err


def test_synth_and_the_cli_refuse_an_unwatched_challenger_group_with_the_same_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    mlgov = {"challenger": {"endpoints": {"manga-ranker": "manga-ranker-prod"}}}
    (project / "cdk.json").write_text(json.dumps({"context": {"mlgov": mlgov}}))
    assert app.main() == 2
    synth = capsys.readouterr().err.strip().removeprefix("error: ")
    assert (
        main(["challenger", "simulate", "--traffic", "70", "--drop", "0", "--config", str(project / "cdk.json")]) == 2
    )
    cli = capsys.readouterr().err.strip().removeprefix("mlgov: error: ")
    assert synth == cli and "manga-ranker" in cli
