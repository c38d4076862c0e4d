"""The job's inputs: SageMaker hyperparameters (`--key value` arguments, strings) and SM_* paths.

SageMaker's training toolkit passes every hyperparameter as `--key value` on the command line and
also as JSON in SM_HPS; the command line wins. Values may arrive as strings or, once the toolkit
has JSON-decoded them, as numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
CHECKPOINT_DIR_ENV = "MLGOV_CHECKPOINT_DIR"
EVALUATION_LOCAL_ENV = "MLGOV_EVALUATION_LOCAL_PATH"


class ConfigError(ValueError):
    """A hyperparameter or path the job cannot run with; the message names it."""


@dataclass(frozen=True)
class Hyperparameters:
    base_model: str
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 3.0
    learning_rate: float = 2e-4
    evaluation_s3_uri: str = ""
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_seq_length: int = 256
    eval_fraction: float = 0.05
    eval_sessions: int = 1000
    save_steps: int = 200
    seed: int = 42
    gradient_checkpointing: bool = False
    generation_batch_size: int = 8


@dataclass(frozen=True)
class Paths:
    train: Path
    catalog: Path | None
    model_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path
    evaluation_local: str | None


def _as_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError(f"{text!r} is not true or false")


def _as_modules(text: str) -> tuple[str, ...]:
    # The pipeline sends "q_proj,v_proj"; a JSON list is accepted too.
    items = json.loads(text) if text.startswith("[") else text.split(",")
    modules = tuple(str(m).strip() for m in items if str(m).strip())
    if not modules:
        raise ValueError("names no module")
    return modules


_PARSERS: dict[str, Any] = {
    "base_model": str,
    "lora_r": int,
    "lora_alpha": int,
    "lora_dropout": float,
    "target_modules": _as_modules,
    "epochs": float,
    "learning_rate": float,
    "evaluation_s3_uri": str,
    "batch_size": int,
    "gradient_accumulation_steps": int,
    "max_seq_length": int,
    "eval_fraction": float,
    "eval_sessions": int,
    "save_steps": int,
    "seed": int,
    "gradient_checkpointing": _as_bool,
    "generation_batch_size": int,
}
# (check, what the value must be); each check reads the parsed value.
_RULES: dict[str, tuple[Any, str]] = {
    "base_model": (lambda v: bool(v.strip()), "a model path or hub name"),
    "lora_r": (lambda v: v >= 1, ">= 1"),
    "lora_alpha": (lambda v: v >= 1, ">= 1"),
    "lora_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "epochs": (lambda v: v > 0, "> 0"),
    "learning_rate": (lambda v: 0 < v < 1, "in (0, 1)"),
    "evaluation_s3_uri": (lambda v: v == "" or (v.startswith("s3://") and "/" in v[5:]), "s3://bucket/key"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "max_seq_length": (lambda v: v >= 16, ">= 16"),
    "eval_fraction": (lambda v: 0 < v < 1, "in (0, 1)"),
    "eval_sessions": (lambda v: v >= 1, ">= 1"),
    "save_steps": (lambda v: v >= 1, ">= 1"),
    "generation_batch_size": (lambda v: v >= 1, ">= 1"),
}


def _raw_hyperparameters(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    try:
        from_env = json.loads(env.get("SM_HPS") or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"SM_HPS is not JSON: {error}") from None
    if not isinstance(from_env, dict):
        raise ConfigError("SM_HPS is not a JSON object")
    raw.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in from_env.items()})
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in _PARSERS:
        parser.add_argument(f"--{name}", dest=name, default=None)
    known, unknown = parser.parse_known_args(list(argv))
    raw.update({k: v for k, v in vars(known).items() if v is not None})
    # A hyperparameter the pipeline added before this code knew it should not fail the job.
    ignored = [a for a in unknown if a.startswith("--") and not a.startswith("--sagemaker_")]
    ignored += [k for k in from_env if k not in _PARSERS and not str(k).startswith("sagemaker_")]
    if ignored:
        LOG.warning("ignoring unknown hyperparameters: %s", ", ".join(sorted(set(ignored))))
    return {k: v for k, v in raw.items() if k in _PARSERS}


def parse_hyperparameters(argv: Sequence[str], env: Mapping[str, str]) -> Hyperparameters:
    raw = _raw_hyperparameters(argv, env)
    if not raw.get("base_model"):
        raise ConfigError("hyperparameter base_model is required (a local model directory or a hub name)")
    values: dict[str, Any] = {}
    for name, text in raw.items():
        try:
            value = _PARSERS[name](text.strip())
        except ValueError as error:
            raise ConfigError(f"hyperparameter {name}={text!r}: {error}") from None
        check, expected = _RULES.get(name, (lambda v: True, ""))
        if not check(value):
            raise ConfigError(f"hyperparameter {name}={text!r} must be {expected}")
        values[name] = value
    known = {f.name for f in fields(Hyperparameters)}
    return Hyperparameters(**{k: v for k, v in values.items() if k in known})


def _channel(env: Mapping[str, str], name: str) -> Path | None:
    explicit = env.get(f"SM_CHANNEL_{name.upper()}")
    if explicit:
        return Path(explicit)
    default = Path("/opt/ml/input/data") / name
    return default if default.exists() else None


def resolve_paths(env: Mapping[str, str]) -> Paths:
    train = _channel(env, "train")
    if train is None:
        raise ConfigError("no train channel: SM_CHANNEL_TRAIN is unset and /opt/ml/input/data/train is missing")
    return Paths(
        train=train,
        catalog=_channel(env, "catalog"),
        model_dir=Path(env.get("SM_MODEL_DIR") or "/opt/ml/model"),
        output_data_dir=Path(env.get("SM_OUTPUT_DATA_DIR") or "/opt/ml/output/data"),
        checkpoint_dir=Path(env.get(CHECKPOINT_DIR_ENV) or DEFAULT_CHECKPOINT_DIR),
        evaluation_local=env.get(EVALUATION_LOCAL_ENV) or None,
    )
