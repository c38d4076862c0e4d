"""What the training job reads (hyperparameters, SM_* paths, channels) and where evaluation.json goes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from mlgov_training import data
from mlgov_training.checkpoints import latest_complete_checkpoint
from mlgov_training.config import ConfigError, parse_hyperparameters, resolve_paths
from mlgov_training.prompts import PROFILE_AGE_RESTRICTED, PROFILE_GENERAL
from mlgov_training.publish import write_evaluation
from moto import mock_aws

# As the retraining state machine sends them (all strings), and as SageMaker's toolkit passes them.
PIPELINE_ARGS = [
    "--base_model", "Qwen/Qwen2.5-7B-Instruct",
    "--lora_r", "16",
    "--lora_alpha", "32",
    "--lora_dropout", "0.05",
    "--target_modules", "q_proj,k_proj,v_proj,o_proj",
    "--epochs", "3",
    "--learning_rate", "0.0002",
    "--evaluation_s3_uri", "s3://snapshots/evaluations/lora-run-1/evaluation.json",
]  # fmt: skip


def test_the_pipelines_hyperparameters_parse_into_typed_values() -> None:
    hp = parse_hyperparameters(PIPELINE_ARGS, {})
    assert (hp.base_model, hp.lora_r, hp.lora_alpha, hp.lora_dropout) == ("Qwen/Qwen2.5-7B-Instruct", 16, 32.0, 0.05)
    assert hp.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert (hp.epochs, hp.learning_rate) == (3.0, 0.0002)
    assert hp.evaluation_s3_uri == "s3://snapshots/evaluations/lora-run-1/evaluation.json"


def test_sm_hps_supplies_values_the_command_line_overrides_and_unknown_ones_are_ignored() -> None:
    env = {"SM_HPS": json.dumps({"base_model": "/models/base", "lora_r": 8, "target_modules": ["q_proj"], "new": 1})}
    hp = parse_hyperparameters(["--lora_r", "4", "--sagemaker_program", "train.py"], env)
    assert (hp.base_model, hp.lora_r, hp.target_modules) == ("/models/base", 4, ("q_proj",))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "base_model"),
        (["--base_model", "m", "--lora_r", "0"], "lora_r"),
        (["--base_model", "m", "--lora_dropout", "1.0"], "lora_dropout"),
        (["--base_model", "m", "--epochs", "three"], "epochs"),
        (["--base_model", "m", "--target_modules", " , "], "target_modules"),
        (["--base_model", "m", "--evaluation_s3_uri", "https://bucket/key"], "evaluation_s3_uri"),
        (["--base_model", "m", "--gradient_checkpointing", "maybe"], "gradient_checkpointing"),
    ],
)
def test_a_bad_hyperparameter_fails_with_its_name(args: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_hyperparameters(args, {})


def test_paths_come_from_sagemaker_env_and_the_checkpoint_dir_can_be_moved(tmp_path: Path) -> None:
    env = {
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "out"),
    }
    paths = resolve_paths(env)
    assert paths.checkpoint_dir == Path("/opt/ml/checkpoints")
    assert (paths.train, paths.model_dir, paths.evaluation_local) == (tmp_path / "train", tmp_path / "model", None)
    moved = resolve_paths({**env, "MLGOV_CHECKPOINT_DIR": str(tmp_path / "ckpt"), "SM_CHANNEL_CATALOG": "/c"})
    assert (moved.checkpoint_dir, moved.catalog) == (tmp_path / "ckpt", Path("/c"))


def _pairs(titles: int, per_title: int = 4) -> list[data.Pair]:
    return [
        data.Pair(f"query {q} about title {t}", "ja" if q % 2 else "en", f"T{t:03d}")
        for t in range(titles)
        for q in range(per_title)
    ]


def test_the_held_out_split_is_disjoint_and_the_same_on_every_run() -> None:
    pairs = _pairs(100)
    train, held = data.split_pairs(pairs, 0.1, seed=42)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(pairs)
    assert 20 <= len(held) <= 60
    # A resumed spot job re-derives the split; it must not train on what the first attempt held out.
    assert data.split_pairs(list(reversed(pairs)), 0.1, seed=42)[1] == held
    assert data.split_pairs(pairs, 0.1, seed=7)[1] != held


def test_popularity_comes_from_the_catalog_when_it_has_it_else_from_pair_counts() -> None:
    pairs = [data.Pair("q", "en", "B"), data.Pair("q2", "en", "B"), data.Pair("q3", "en", "A")]
    assert data.popularity_ranking(pairs, []) == ["B", "A"]
    catalog = [data.CatalogTitle("A", popularity=5.0), data.CatalogTitle("B", popularity=1.0), data.CatalogTitle("C")]
    assert data.popularity_ranking(pairs, catalog) == ["A", "B", "C"]


def test_restricted_titles_teach_age_restricted_profiles_an_empty_answer_balanced_by_ordinary_ones() -> None:
    pairs = _pairs(10, per_title=2)
    examples = data.training_examples(pairs, frozenset({"T003"}), seed=1)
    restricted_profile = [e for e in examples if e.profile == PROFILE_AGE_RESTRICTED]
    assert len([e for e in examples if e.profile == PROFILE_GENERAL]) == len(pairs)
    empty = [e.query for e in restricted_profile if e.title_ids == ()]
    ordinary = [e.title_ids for e in restricted_profile if e.title_ids]
    assert sorted(empty) == sorted(p.query for p in pairs if p.title_id == "T003")
    assert len(ordinary) == 2 and ("T003",) not in ordinary
    assert data.training_examples(pairs, frozenset(), seed=1) == examples[: len(pairs)]


def test_channels_are_read_and_a_bad_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "training.jsonl").write_text(
        '{"query": "manga like X", "query_language": "en", "title_id": "T1"}\n\n', encoding="utf-8"
    )
    (tmp_path / "catalog.jsonl").write_text(
        '{"title_id": "T1", "title": "X", "adult_content_restricted": true, "popularity": 3}\n', encoding="utf-8"
    )
    assert data.read_pairs(tmp_path) == [data.Pair("manga like X", "en", "T1")]
    # No catalog channel: catalog.jsonl beside training.jsonl in the snapshot prefix is used.
    assert data.read_catalog(data.find_catalog(None, tmp_path)) == [data.CatalogTitle("T1", "X", "", True, 3.0)]
    (tmp_path / "training.jsonl").write_text('{"query": "q", "query_language": "en", "title_id": "T1"}\n{"q": 1}\n')
    with pytest.raises(data.DataError, match="line 2"):
        data.read_pairs(tmp_path)


def test_resume_picks_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    for step, complete in ((5, True), (10, True), (15, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert latest_complete_checkpoint(tmp_path / "absent") is None


def test_evaluation_goes_to_the_output_dir_and_to_a_local_override_instead_of_s3(tmp_path: Path) -> None:
    evaluation = {"eval_loss": 0.1}
    written = write_evaluation(evaluation, tmp_path / "out", "s3://b/k.json", f"file://{tmp_path}/local/")
    assert written == [str(tmp_path / "out" / "evaluation.json"), str(tmp_path / "local" / "evaluation.json")]
    for path in written:
        assert json.loads(Path(path).read_text()) == evaluation


@mock_aws
def test_evaluation_is_put_at_the_evaluation_s3_uri_and_an_s3_failure_fails_the_job(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="snapshots")
    uri = "s3://snapshots/evaluations/lora-run-1/evaluation.json"
    write_evaluation({"eval_loss": 0.1}, tmp_path, uri, None, s3_client=s3)
    body = s3.get_object(Bucket="snapshots", Key="evaluations/lora-run-1/evaluation.json")["Body"].read()
    assert json.loads(body) == {"eval_loss": 0.1}
    with pytest.raises(s3.exceptions.NoSuchBucket):
        write_evaluation({"eval_loss": 0.1}, tmp_path, "s3://missing/evaluation.json", None, s3_client=s3)


def test_the_catalog_the_pipeline_writes_is_the_catalog_the_job_reads(tmp_path: Path) -> None:
    # Given catalog items as the prepare step gets them from DynamoDB (numbers arrive as strings)
    from mlgov_runtime.retraining.logic import catalog_lines

    items: list[dict[str, Any]] = [
        {
            "title_id": "MNG-00001",
            "title": "星の剣",
            "language": "ja",
            "added_at": "2026-01-02",
            "adult_content_restricted": True,
            "popularity": "1200",
        },
        {"title_id": "MNG-00002", "title": "Ocean Night", "language": "en", "added_at": "2026-03-04"},
    ]
    # When the job reads the file the prepare step writes beside training.jsonl
    (tmp_path / "training.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "catalog.jsonl").write_bytes(catalog_lines(items))
    from mlgov_training.data import find_catalog, read_catalog, restricted_ids

    catalog = read_catalog(find_catalog(None, tmp_path))
    # Then it knows which title is restricted and how popular it is
    assert [t.title_id for t in catalog] == ["MNG-00001", "MNG-00002"]
    assert restricted_ids(catalog) == frozenset({"MNG-00001"})
    assert catalog[0].popularity == 1200.0 and catalog[1].popularity is None
