"""The training job, start to end: data -> LoRA training (resumable) -> adapter -> evaluation.json."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from . import data
from .config import ConfigError, Hyperparameters, Paths, parse_hyperparameters, resolve_paths
from .evaluation import TOP_K, build_suite, evaluate
from .prompts import FORMAT_VERSION, PROFILE_GENERAL, PROMPT_TEMPLATE
from .publish import write_evaluation

LOG = logging.getLogger("mlgov_training")
SUMMARY_FILE = "training_summary.json"
PROMPT_FILE = "mlgov_prompt.json"


def run(hp: Hyperparameters, paths: Paths) -> dict[str, Any]:
    """Trains, saves the adapter to the model dir, writes evaluation.json; returns the summary."""
    from . import model as m  # torch loads only when training really starts

    started = time.monotonic()
    pairs = data.read_pairs(paths.train)
    catalog = data.read_catalog(data.find_catalog(paths.catalog, paths.train))
    if not catalog:
        LOG.warning("no catalog.jsonl: popularity comes from the pairs, and no title is known to be restricted")
    train_pairs, heldout = data.split_pairs(pairs, hp.eval_fraction, hp.seed)
    restricted = data.restricted_ids(catalog)
    examples = data.training_examples(train_pairs, restricted, hp.seed)
    suite = build_suite(
        train_pairs,
        heldout,
        catalog,
        data.popularity_ranking(pairs, catalog),
        data.catalog_ids(pairs, catalog),
        hp.eval_sessions,
    )
    LOG.info(
        "%d pairs: %d train (%d examples), %d held out; %d catalog titles, %d restricted",
        len(pairs),
        len(train_pairs),
        len(examples),
        len(heldout),
        len(catalog),
        len(restricted),
    )

    m.set_seed(hp.seed)  # before the adapter's random init, so a run is repeatable
    dtype = m.pick_dtype()
    base, tokenizer = m.load_base(hp.base_model, dtype)
    if hp.gradient_checkpointing:
        base.enable_input_require_grads()
    model = m.with_lora(base, hp)
    train_rows = [m.encode(tokenizer, e, hp.max_seq_length) for e in examples]
    eval_rows = [
        m.encode(tokenizer, data.Example(PROFILE_GENERAL, p.query_language, p.query, (p.title_id,)), hp.max_seq_length)
        for p in heldout
    ]
    outcome = m.train(model, tokenizer, train_rows, eval_rows, hp, paths.checkpoint_dir, dtype)
    m.save_adapter(model, tokenizer, paths.model_dir)
    (paths.model_dir / PROMPT_FILE).write_text(
        json.dumps(
            {"format_version": FORMAT_VERSION, "prompt_template": PROMPT_TEMPLATE, "base_model": hp.base_model},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )

    longest_response = max(len(r["labels"]) - r["labels"].count(m.IGNORE_INDEX) for r in train_rows)
    generator = m.BeamGenerator(
        model,
        tokenizer,
        num_beams=TOP_K,
        max_new_tokens=longest_response + 4,
        batch_size=hp.generation_batch_size,
        max_prompt_tokens=hp.max_seq_length,
    )
    evaluated = time.monotonic()
    evaluation = evaluate(suite, generator, outcome.eval_loss)
    written = write_evaluation(evaluation, paths.output_data_dir, hp.evaluation_s3_uri, paths.evaluation_local)
    summary = {
        "resumed_from": outcome.resumed_from,
        "global_step": outcome.global_step,
        "steps_this_run": outcome.steps_this_run,
        "train_runtime_s": round(outcome.train_runtime_s, 2),
        "evaluation_runtime_s": round(time.monotonic() - evaluated, 2),
        "total_runtime_s": round(time.monotonic() - started, 2),
        "train_examples": len(examples),
        "heldout_pairs": len(heldout),
        "evaluation_written_to": written,
        "device": m.device_name(),
        "dtype": str(dtype).replace("torch.", ""),
    }
    (paths.output_data_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    LOG.info("evaluation: %s", json.dumps(evaluation, ensure_ascii=False))
    LOG.info("summary: %s", json.dumps(summary))
    return summary


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    environment = dict(os.environ if env is None else env)
    try:
        hp = parse_hyperparameters(sys.argv[1:] if argv is None else argv, environment)
        paths = resolve_paths(environment)
        run(hp, paths)
    except (ConfigError, data.DataError) as error:
        LOG.error("%s", error)
        return 2
    return 0
