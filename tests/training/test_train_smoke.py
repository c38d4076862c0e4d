"""The real entry point (training/train.py), end to end on the CPU, as SageMaker runs it.

A tiny Llama and tokenizer are built from a config (nothing downloaded); the SageMaker directories
live in a temp folder; the offline gate then reads the evaluation.json the job wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="the training requirements (training/requirements.txt) are not installed")

from mlgov_training import smoke

from tests.training.gate import REQUIRED, OfflineThresholds, offline_gate, validate_evaluation


@dataclass(frozen=True)
class SmokeRun:
    layout: smoke.Layout
    proc: subprocess.CompletedProcess[str]
    seconds: float

    def evaluation(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.layout.evaluation_local.read_text(encoding="utf-8"))
        return result

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.layout.output_data_dir / "training_summary.json").read_text())
        return result


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    layout = smoke.build_fixture(tmp_path_factory.mktemp("train-smoke"))
    started = time.monotonic()
    proc = smoke.run_entry_point(layout)
    return SmokeRun(layout, proc, time.monotonic() - started)


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def test_the_entry_point_trains_an_adapter_and_the_offline_gate_reads_its_evaluation(smoke_run: SmokeRun) -> None:
    _ok(smoke_run.proc)
    evaluation = smoke_run.evaluation()

    # The same evaluation.json lands in SM_OUTPUT_DATA_DIR and where the gate reads it
    assert json.loads((smoke_run.layout.output_data_dir / "evaluation.json").read_text()) == evaluation
    # The gate accepts its shape and decides every Stage-1 check from it
    checks = offline_gate(validate_evaluation(evaluation), None, OfflineThresholds())
    assert set(REQUIRED) <= {c.name for c in checks}
    assert {"mrr_at_10", "eval_accuracy", "language_recall_ja", "language_recall_en"} <= set(evaluation)
    assert evaluation["cold_start_cases"] == 50 and evaluation["safety_cases"] > 0

    # The adapter (not the base weights), its tokenizer and the prompt format are the model artifact
    model_dir = smoke_run.layout.model_dir
    adapter = json.loads((model_dir / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 16
    assert set(adapter["target_modules"]) == set(smoke.SMOKE_HYPERPARAMETERS["target_modules"].split(","))
    assert (model_dir / "adapter_model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    assert json.loads((model_dir / "mlgov_prompt.json").read_text())["format_version"] == 1
    assert any(p.name.startswith("checkpoint-") for p in smoke_run.layout.checkpoints.iterdir())


def test_the_tiny_model_really_learned_the_schema_and_the_ids(smoke_run: SmokeRun) -> None:
    _ok(smoke_run.proc)
    evaluation = smoke_run.evaluation()
    # Chance is ln(vocabulary) ~ 6.7 nats; an adapter that trained nothing stays near it.
    assert evaluation["eval_loss"] < 1.0
    assert evaluation["json_format_failure_rate"] < 0.5  # most failures are on cold starts, unlike anything trained
    assert evaluation["mrr_at_10"] > 0.25  # ~0.06 by chance among 48 titles


def test_only_the_response_is_learned_and_it_ends_the_sequence(smoke_run: SmokeRun) -> None:
    from mlgov_training.data import Example
    from mlgov_training.model import IGNORE_INDEX, encode
    from mlgov_training.prompts import PROFILE_GENERAL, build_prompt, build_response
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smoke_run.layout.base_model))
    example = Example(PROFILE_GENERAL, "ja", "星剣2みたいな漫画を教えて", ("MNG-00002",))
    row = encode(tokenizer, example, max_length=96)
    learned = [label for label in row["labels"] if label != IGNORE_INDEX]
    # The prompt is context, not a target: a model that learns to write prompts has a flattering loss.
    assert row["labels"][: len(row["labels"]) - len(learned)] == [IGNORE_INDEX] * (len(row["labels"]) - len(learned))
    assert tokenizer.decode(row["input_ids"][: len(row["input_ids"]) - len(learned)]) == build_prompt(
        PROFILE_GENERAL, "ja", example.query
    )
    assert learned[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(learned[:-1]) == build_response(["MNG-00002"])
    # A prompt too long for max_length loses its beginning, never the response.
    long = encode(tokenizer, Example(PROFILE_GENERAL, "en", "very " * 200 + "long", ("MNG-00002",)), max_length=40)
    assert len(long["input_ids"]) == 40 and [t for t in long["labels"] if t != IGNORE_INDEX] == learned


def test_a_restarted_spot_job_resumes_from_its_last_checkpoint(smoke_run: SmokeRun, tmp_path: Path) -> None:
    # Given a job whose first attempt finished one epoch and checkpointed it
    layout = smoke.make_layout(tmp_path)
    shutil.copytree(smoke_run.layout.base_model, layout.base_model)
    shutil.copytree(smoke_run.layout.train, layout.train, dirs_exist_ok=True)
    shutil.copytree(smoke_run.layout.catalog, layout.catalog, dirs_exist_ok=True)
    _ok(smoke.run_entry_point(layout, epochs="1"))
    first = json.loads((layout.output_data_dir / "training_summary.json").read_text())
    steps = first["global_step"]
    assert first["resumed_from"] is None and first["steps_this_run"] == steps > 0

    # When it runs again with the same checkpoint directory (as SageMaker restores it)
    second = smoke.run_entry_point(layout, epochs="2")

    # Then it continues from that checkpoint instead of starting over
    _ok(second)
    summary = json.loads((layout.output_data_dir / "training_summary.json").read_text())
    assert summary["resumed_from"] == f"checkpoint-{steps}"
    assert (summary["global_step"], summary["steps_this_run"]) == (2 * steps, steps)
