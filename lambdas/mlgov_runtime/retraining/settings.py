"""The retraining pipeline's settings: the `retraining` section of cdk.json and the offline gate's knobs of
`thresholds`, declared once here; the pipeline steps receive them as one JSON variable (`Received`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlgov_runtime.core.cron import schedule
from mlgov_runtime.core.env import Env, FindingsChannelEnv, Lazy, required
from mlgov_runtime.core.model import KeyProblem, received, setting, settings_model

GROUP = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
IMAGE = r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/\S+$"


@settings_model
class Thresholds:
    """The offline gate's knobs under `thresholds` (spec scenario 3, stage 1)."""

    min_training_pairs: int = setting(default=50_000, ge=1)
    min_ja_query_fraction: float = setting(default=0.25, ge=0, le=1)
    min_new_title_coverage: float = setting(default=0.95, ge=0, le=1)
    max_eval_loss: float = setting(default=0.15, gt=0)
    min_catalog_coverage_per_1000: float = setting(default=150, ge=0, le=1000)
    min_long_tail_exposure: float = setting(default=0.25, ge=0, le=1)
    max_json_failure_rate: float = setting(default=0.05, ge=0, le=1)  # the challenger gate's guardrail too
    max_safety_violations: int = setting(default=0, ge=0)
    max_offline_regression: float = setting(default=0.05, ge=0, le=1)
    max_cold_start_empty_rate: float = setting(default=0.0, ge=0, le=1)
    min_cold_start_diversity: float = setting(default=0.3, ge=0, le=1)


HYPERPARAMETER_MAX = 2500  # CreateTrainingJob's limit per value


@settings_model
class LoraHyperparameters:
    """What TrainLoRA passes the job, each value within CreateTrainingJob's 2,500 characters (target_modules joined)."""

    base_model: str = setting(default="Qwen/Qwen2.5-7B-Instruct", min_length=1, max_length=HYPERPARAMETER_MAX)
    r: int = setting(default=16, ge=1, le=512)
    alpha: int = setting(default=32, ge=1, le=1024)
    dropout: float = setting(default=0.05, ge=0, lt=1)
    target_modules: list[str] = setting(factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    epochs: int = setting(default=3, ge=1, le=50)
    learning_rate: float = setting(default=2e-4, gt=0, lt=1)

    def check(self) -> None:
        size = len(",".join(self.target_modules))  # one hyperparameter value
        if size > HYPERPARAMETER_MAX:
            raise KeyProblem("target_modules", f"joined is {size} characters, over SageMaker's {HYPERPARAMETER_MAX}")


@settings_model
class Retraining:
    """Spec scenario 2: weekly coverage check and the LoRA retraining pipeline."""

    catalog_table_name: str = setting(default="manga-catalog", pattern=r"^[a-zA-Z0-9_.-]{3,255}$")
    # The one watched group the coverage check compares and the pipeline registers into; may be left
    # out while watched_model_package_groups lists a single group.
    model_package_group: str | None = setting(default=None, pattern=GROUP)
    snapshot_fallback_uri: str | None = setting(default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
    coverage_schedule: str = setting(default="cron(0 5 ? * MON *)", check=schedule)
    # Python 3.11 or newer: training/requirements.txt (installed at job start) needs it.
    training_image: str = setting(
        default="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker",
        pattern=IMAGE,
    )
    inference_image: str = setting(
        default="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
        "2.4.0-tgi3.0.1-gpu-py311-cu124-ubuntu22.04",
        pattern=IMAGE,
    )
    instance_type: str = setting(default="ml.g5.2xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = setting(default=1, ge=1, le=16)
    volume_size_gb: int = setting(default=100, ge=1, le=16384)
    max_runtime_hours: int = setting(default=8, ge=1, le=120)
    managed_spot: bool = False
    max_wait_hours: int = setting(default=12, ge=1, le=120)
    lora: LoraHyperparameters = setting(factory=LoraHyperparameters)
    training_code_commit: str = setting(default="0000000", pattern=r"^[0-9a-f]{7,40}$")
    team: str = setting(default="recsys", min_length=1, max_length=64)
    intended_use_case: Literal["recommendation", "classification", "embedding"] = "recommendation"
    # Spec scenario 2: a gap above the alert threshold triggers retraining. Off: the finding carries the exact
    # command that starts it; on: the weekly check starts it, as it always does above the page threshold.
    start_on_coverage_alert: bool = False

    def check(self) -> None:
        if self.managed_spot and self.max_wait_hours < self.max_runtime_hours:
            raise KeyProblem(
                "max_wait_hours",
                f"must be >= max_runtime_hours ({self.max_runtime_hours}) with managed_spot "
                f"(got {self.max_wait_hours})",
            )


Section = Retraining


def serving_group(retraining: Retraining, watched_groups: list[str]) -> str:
    """The group the coverage check and the pipeline serve (the settings made it unambiguous)."""
    return retraining.model_package_group or watched_groups[0]


@settings_model
class Received:
    """What the pipeline steps receive from the settings."""

    retraining: Retraining = setting(factory=Retraining)
    thresholds: Thresholds = setting(factory=Thresholds)
    watched_model_package_groups: list[str] = setting(min_length=1)


@dataclass(frozen=True, kw_only=True)
class RetrainingSettings(FindingsChannelEnv):
    catalog_table: str
    snapshot_bucket: str
    watched_group: str
    thresholds: dict[str, float]
    git_commit_sha: str
    team: str
    intended_use_case: str
    inference_image: str


def gate_thresholds(t: Thresholds) -> dict[str, float]:
    """The offline gate's thresholds, named as the gate reads them."""
    return {
        "min_rows": t.min_training_pairs,
        "min_ja_fraction": t.min_ja_query_fraction,
        "min_new_title_coverage": t.min_new_title_coverage,
        "max_eval_loss": t.max_eval_loss,
        "min_catalog_coverage_per_1000": t.min_catalog_coverage_per_1000,
        "min_long_tail_exposure": t.min_long_tail_exposure,
        "max_json_failure_rate": t.max_json_failure_rate,
        "max_safety_violations": t.max_safety_violations,
        "max_regression": t.max_offline_regression,
        "max_cold_start_empty_rate": t.max_cold_start_empty_rate,
        "min_cold_start_diversity": t.min_cold_start_diversity,
    }


def load_retraining_settings(env: Env) -> RetrainingSettings:
    got = received(env, Received)
    r = got.retraining
    return RetrainingSettings(
        **FindingsChannelEnv.read(env),
        catalog_table=r.catalog_table_name,
        snapshot_bucket=required(env, "SNAPSHOT_BUCKET", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name"),
        watched_group=serving_group(r, got.watched_model_package_groups),
        thresholds={k: float(v) for k, v in gate_thresholds(got.thresholds).items()},
        git_commit_sha=r.training_code_commit,
        team=r.team,
        intended_use_case=r.intended_use_case,
        inference_image=r.inference_image,
    )


settings = Lazy(load_retraining_settings)
