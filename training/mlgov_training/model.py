"""The torch side: base model + LoRA adapter, the Trainer (checkpoints, resume), beam-search answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from .checkpoints import latest_complete_checkpoint
from .config import Hyperparameters
from .data import Example
from .prompts import build_prompt, build_response

LOG = logging.getLogger(__name__)
IGNORE_INDEX = -100


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype() -> torch.dtype:
    # bf16 trains LoRA stably on GPUs that have it; fp16 weights would need a grad scaler and fp32 masters.
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_base(name_or_path: str, dtype: torch.dtype) -> tuple[Any, Any]:
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer of {name_or_path} has no end-of-sequence token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    return model, tokenizer


def with_lora(model: Any, hp: Hyperparameters) -> Any:
    config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    trainable, total = peft_model.get_nb_trainable_parameters()
    LOG.info("LoRA adapter: %d trainable of %d parameters", trainable, total)
    return peft_model


def encode(tokenizer: Any, example: Example, max_length: int) -> dict[str, list[int]]:
    """Prompt and response tokenized apart (as generation sees them); loss only on the response."""
    prompt = tokenizer(build_prompt(example.profile, example.query_language, example.query), add_special_tokens=True)
    response = tokenizer(build_response(example.title_ids), add_special_tokens=False)
    response_ids = [*response["input_ids"], tokenizer.eos_token_id]
    # The end of the prompt (query and the response marker) matters most, so cut from the left.
    prompt_ids = list(prompt["input_ids"])[-max(1, max_length - len(response_ids)) :]
    return {"input_ids": prompt_ids + response_ids, "labels": [IGNORE_INDEX] * len(prompt_ids) + response_ids}


class EncodedDataset(torch.utils.data.Dataset[dict[str, list[int]]]):
    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


class PadCollator:
    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(row["input_ids"]) for row in batch)
        ids, mask, labels = [], [], []
        for row in batch:
            pad = width - len(row["input_ids"])
            ids.append(row["input_ids"] + [self.pad_token_id] * pad)
            mask.append([1] * len(row["input_ids"]) + [0] * pad)
            labels.append(row["labels"] + [IGNORE_INDEX] * pad)
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


class StepCounter(TrainerCallback):
    """Optimizer steps taken by this process: what a resumed job did not have to redo."""

    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps += 1


@dataclass(frozen=True)
class TrainOutcome:
    resumed_from: str | None
    global_step: int
    steps_this_run: int
    eval_loss: float
    train_runtime_s: float


def train(
    model: Any,
    tokenizer: Any,
    train_rows: list[dict[str, list[int]]],
    eval_rows: list[dict[str, list[int]]],
    hp: Hyperparameters,
    checkpoint_dir: Path,
    dtype: torch.dtype,
) -> TrainOutcome:
    set_seed(hp.seed)
    on_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=hp.epochs,
        learning_rate=hp.learning_rate,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        activation_checkpointing=hp.gradient_checkpointing,
        # Non-reentrant checkpointing lets gradients reach the adapter while the base stays frozen.
        activation_checkpointing_kwargs={"use_reentrant": False} if hp.gradient_checkpointing else None,
        save_strategy="steps",
        save_steps=hp.save_steps,
        save_total_limit=2,
        eval_strategy="no",
        logging_steps=max(1, min(50, hp.save_steps)),
        prediction_loss_only=True,
        remove_unused_columns=False,
        report_to=[],
        disable_tqdm=True,
        seed=hp.seed,
        bf16=dtype == torch.bfloat16,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
    )
    counter = StepCounter()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=EncodedDataset(train_rows),
        eval_dataset=EncodedDataset(eval_rows),
        data_collator=PadCollator(tokenizer.pad_token_id),
        callbacks=[counter],
    )
    resume = latest_complete_checkpoint(checkpoint_dir)
    if resume is not None:
        LOG.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    eval_loss = float(trainer.evaluate()["eval_loss"])
    return TrainOutcome(
        resumed_from=resume.name if resume else None,
        global_step=int(trainer.state.global_step),
        steps_this_run=counter.steps,
        eval_loss=eval_loss,
        train_runtime_s=float(result.metrics.get("train_runtime", 0.0)),
    )


class BeamGenerator:
    """Answers prompts by beam search; each prompt gets num_beams responses, best first."""

    def __init__(
        self, model: Any, tokenizer: Any, num_beams: int, max_new_tokens: int, batch_size: int, max_prompt_tokens: int
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.num_beams, self.max_new_tokens = num_beams, max_new_tokens
        self.batch_size, self.max_prompt_tokens = batch_size, max_prompt_tokens

    def __call__(self, prompts: Sequence[str]) -> list[list[str]]:
        tok = self.tokenizer
        tok.padding_side, tok.truncation_side = "left", "left"
        self.model.eval()
        device = next(self.model.parameters()).device
        answers: list[list[str]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start : start + self.batch_size])
            enc = tok(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_prompt_tokens,
                add_special_tokens=True,
            ).to(device)
            with torch.inference_mode():
                # Every sampling default a base model ships (temperature, repetition penalty) is overridden.
                out = self.model.generate(
                    input_ids=enc["input_ids"],
                    attention_mask=enc["attention_mask"],
                    do_sample=False,
                    num_beams=self.num_beams,
                    num_return_sequences=self.num_beams,
                    max_new_tokens=self.max_new_tokens,
                    repetition_penalty=1.0,
                    length_penalty=1.0,
                    early_stopping=True,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
            texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            answers += [texts[i * self.num_beams : (i + 1) * self.num_beams] for i in range(len(batch))]
        return answers


def save_adapter(model: Any, tokenizer: Any, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
