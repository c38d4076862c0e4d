"""`make train-smoke`: the real entry point, end to end on the CPU, in a SageMaker-shaped temp folder.

A tiny Llama (2 layers) and a byte-level BPE tokenizer are built here from a config (nothing is
downloaded), with a generated catalog and snapshot; train.py then runs as SageMaker would run it
(`python train.py --key value ...`), and the offline gate reads the evaluation.json it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import CATALOG_FILE, TRAINING_FILE
from .evaluation import HEAD_TITLES
from .prompts import PROFILE_AGE_RESTRICTED, PROFILE_GENERAL, build_prompt, build_response

ENTRY_POINT = Path(__file__).resolve().parent.parent / "train.py"
TEMPLATES = (
    ("ja", "「{t}」みたいな漫画を教えて"),
    ("ja", "{t}が好きな人におすすめの漫画"),
    ("ja", "{t}に似た作品を探しています"),
    ("ja", "{t}の次に読むべき漫画は？"),
    ("en", "manga like {t}"),
    ("en", "what should I read after {t}"),
    ("en", "recommend something similar to {t}"),
    ("en", "stories like {t}"),
)
JA_WORDS = ("星", "剣", "海", "夜", "花", "竜", "空", "影", "風", "雪", "炎", "月")
EN_WORDS = ("Blade", "Ocean", "Night", "Flower", "Dragon", "Sky", "Shadow", "Wind", "Snow", "Flame", "Moon", "Star")
# Enough for the tiny model to learn the schema and many ids (MRR@10 ~0.5 over seeds) in ~10 s on one core.
SMOKE_HYPERPARAMETERS = {
    "lora_r": "16",
    "lora_alpha": "32",
    "lora_dropout": "0.0",
    "target_modules": "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
    "epochs": "20",
    "learning_rate": "0.005",
    "batch_size": "16",
    "save_steps": "100",
    "eval_fraction": "0.15",
    "max_seq_length": "96",
    "generation_batch_size": "32",
}


@dataclass(frozen=True)
class Layout:
    root: Path
    base_model: Path
    train: Path
    catalog: Path
    model_dir: Path
    output_data_dir: Path
    checkpoints: Path
    evaluation_local: Path


def make_layout(root: Path) -> Layout:
    layout = Layout(
        root=root,
        base_model=root / "base-model",
        train=root / "input" / "data" / "train",
        catalog=root / "input" / "data" / "catalog",
        model_dir=root / "model",
        output_data_dir=root / "output" / "data",
        checkpoints=root / "checkpoints",
        evaluation_local=root / "s3" / "evaluations" / "lora-smoke" / "evaluation.json",
    )
    for folder in (layout.train, layout.catalog, layout.model_dir, layout.output_data_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return layout


def synthetic_catalog(titles: int = 48, restricted_every: int = 16) -> list[dict[str, Any]]:
    """Half Japanese, half English titles; every 16th adult-restricted; popularity falling with the id."""
    items = []
    for i in range(1, titles + 1):
        ja = i % 2 == 0
        a, b = (JA_WORDS if ja else EN_WORDS)[i % 12], (JA_WORDS if ja else EN_WORDS)[(i * 5 + 3) % 12]
        items.append(
            {
                "title_id": f"MNG-{i:05d}",
                "title": f"{a}{b}{i}" if ja else f"{a} of the {b} {i}",
                "language": "ja" if ja else "en",
                "added_at": "2026-01-01",
                "adult_content_restricted": i % restricted_every == 0,
                "popularity": round(1000.0 / i, 3),
            }
        )
    return items


def training_pairs(catalog: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"query": template.format(t=item["title"]), "query_language": language, "title_id": item["title_id"]}
        for item in catalog
        for language, template in TEMPLATES
    ]


def write_json_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def build_tiny_base_model(directory: Path, corpus: list[str], vocab_size: int = 800) -> None:
    """A byte-level BPE tokenizer trained on the corpus and a randomly initialised 2-layer Llama."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # The default 0.02 caps a frozen random model's logits near uniform; LoRA alone could not lift them.
        initializer_range=0.5,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))


def build_fixture(root: Path) -> Layout:
    layout = make_layout(root)
    catalog = synthetic_catalog()
    pairs = training_pairs(catalog)
    write_json_lines(layout.train / TRAINING_FILE, pairs)
    write_json_lines(layout.catalog / CATALOG_FILE, catalog)
    corpus = [
        build_prompt(profile, p["query_language"], p["query"])
        for p in pairs
        for profile in (PROFILE_GENERAL, PROFILE_AGE_RESTRICTED)
    ]
    corpus += [build_response([item["title_id"]]) for item in catalog] + [build_response([])]
    build_tiny_base_model(layout.base_model, corpus)
    return layout


def entry_point_environment(layout: Layout) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "MLGOV_"))}
    env.update(
        {
            "SM_CHANNEL_TRAIN": str(layout.train),
            "SM_CHANNEL_CATALOG": str(layout.catalog),
            "SM_MODEL_DIR": str(layout.model_dir),
            "SM_OUTPUT_DATA_DIR": str(layout.output_data_dir),
            "MLGOV_CHECKPOINT_DIR": str(layout.checkpoints),
            "MLGOV_EVALUATION_LOCAL_PATH": str(layout.evaluation_local),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(layout.root / "hf-home"),
            "TOKENIZERS_PARALLELISM": "false",
            # One thread: a tiny model gains nothing from more, and a parallel test run shares the cores.
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


def entry_point_arguments(layout: Layout, **overrides: str) -> list[str]:
    """`--key value` pairs, as SageMaker's toolkit passes hyperparameters."""
    hyperparameters = {
        "base_model": str(layout.base_model),
        **SMOKE_HYPERPARAMETERS,
        "evaluation_s3_uri": "s3://smoke-bucket/evaluations/lora-smoke/evaluation.json",
        **overrides,
    }
    return [item for key, value in hyperparameters.items() for item in (f"--{key}", value)]


def run_entry_point(layout: Layout, **overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ENTRY_POINT), *entry_point_arguments(layout, **overrides)],
        env=entry_point_environment(layout),
        cwd=str(layout.root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def gate_verdict(evaluation: dict[str, Any]) -> list[Any] | None:
    """The project's Stage-1 offline gate on this evaluation, or None where it is not importable."""
    try:
        from mlgov_runtime.retraining.offline_gate import (  # type: ignore[import-not-found, unused-ignore]
            OfflineThresholds,
            offline_gate,
            validate_evaluation,
        )
    except ImportError:
        try:
            from governance.offline_gate import (  # type: ignore[import-not-found, no-redef, unused-ignore]
                OfflineThresholds,
                offline_gate,
                validate_evaluation,
            )
        except ImportError:
            return None
    return list(offline_gate(validate_evaluation(evaluation), None, OfflineThresholds()))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlgov-train-smoke-") as tmp:
        started = time.monotonic()
        layout = build_fixture(Path(tmp))
        built = time.monotonic()
        proc = run_entry_point(layout)
        finished = time.monotonic()
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            print(f"train-smoke: the entry point exited {proc.returncode}", file=sys.stderr)
            return 1
        evaluation = json.loads(layout.evaluation_local.read_text(encoding="utf-8"))
        summary = json.loads((layout.output_data_dir / "training_summary.json").read_text(encoding="utf-8"))
        print(
            f"train-smoke: fixture {built - started:.1f}s, entry point {finished - built:.1f}s "
            f"(training {summary['train_runtime_s']}s, {summary['global_step']} steps; "
            f"evaluation {summary['evaluation_runtime_s']}s)"
        )
        print(f"train-smoke: evaluation.json written to {', '.join(summary['evaluation_written_to'])}:")
        shown = dict(evaluation)
        shown["cold_start_recommendations"] = f"{len(evaluation['cold_start_recommendations'])} titles"
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        checks = gate_verdict(evaluation)
        if checks is None:
            print("train-smoke: the offline gate is not importable here; evaluation.json not gated")
        else:
            for check in checks:
                verdict = "PASS" if check.passed else "FAIL"
                print(f"  gate {verdict} {check.name}: {check.detail} (needs {check.required})")
            verdict = "passes" if all(c.passed for c in checks) else "rejects"
            print(f"train-smoke: the offline gate {verdict} this tiny model (Stage 1, no baseline)")
            print(
                f"train-smoke: {HEAD_TITLES} most popular titles are the head; this 48-title catalog has no long tail"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
