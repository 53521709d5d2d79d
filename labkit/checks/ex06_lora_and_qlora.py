"""Answer keys of exercise 06 (LoRA and QLoRA): its check functions and the data they check against.

Used in notebook 06.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.models import load_model

DOUBLE_05 = "Double 21."
SEED_ARGS_05 = {"evaluation_strategy": "steps", "eval_steps": 500, "max_seq_length": 2048, "packing": True}


def _targets_ok(names: Any) -> bool:
    from labkit.lessons.finetuning import linear_module_names

    return (isinstance(names, (list, tuple, set)) and all(isinstance(n, str) for n in names)
            and sorted(set(names)) == linear_module_names(course_model()[0]) and len(set(names)) == len(names))


@lru_cache(maxsize=1)
def _qv_r4_trainable_05() -> int:
    from peft import get_peft_model

    from labkit.lessons.finetuning import lora_config

    model, _ = load_model()  # a fresh copy: get_peft_model changes the model it wraps
    return get_peft_model(model, lora_config(model, ["q_proj", "v_proj"], r=4)).get_nb_trainable_parameters()[0]


def _sft_config_ok(cfg: Any) -> bool:
    from trl import SFTConfig

    return (isinstance(cfg, SFTConfig) and cfg.eval_strategy == "steps" and cfg.eval_steps == 500
            and cfg.max_length == 2048 and cfg.packing is True)


def _doubling_row_ok(row: Any) -> bool:
    tok = course_model()[1]
    prompt = tok.apply_chat_template([{"role": "user", "content": DOUBLE_05}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    return isinstance(row, dict) and row == {"prompt": prompt, "completion": "21 + 21 = 42<|im_end|>"}


check_lora_targets = exercise(
    "lora_targets", predicate=_targets_ok,
    expects="a list of the names LoRA can target in the course model: every linear layer's name, once each, "
            "the output head excluded",
    hint="labkit.lessons.finetuning.linear_module_names(model) reads them from the model; peft's default for Qwen3 "
         "(q_proj, v_proj) is only two of them",
    where="notebook 06, section 3 'LoRA: which modules?'")
check_trainable_params = exercise(
    "trainable_params", _qv_r4_trainable_05,
    expects="the number (an int) of trainable parameters of LoRA with r=4 on q_proj and v_proj of the course model",
    hint="wrap a fresh model with peft.get_peft_model(model, labkit.lessons.finetuning.lora_config(model, ['q_proj', "
         "'v_proj'], r=4)) and read get_nb_trainable_parameters()[0]; by hand: per layer and matrix r x (in + out)",
    where="notebook 06, section 3 'LoRA: which modules?'")
check_sft_config = exercise(
    "sft_config", predicate=_sft_config_ok,
    expects=f"a trl SFTConfig carrying the seed's settings {SEED_ARGS_05} under today's names",
    hint="evaluation_strategy is now eval_strategy, max_seq_length is SFTConfig's max_length, and packing moved "
         "from the SFTTrainer call into SFTConfig",
    where="notebook 06, section 1 'The seed's fine-tuning code, run today'")
check_doubling_row = exercise(
    "doubling_row", predicate=_doubling_row_ok,
    expects=f"a dict {{'prompt': ..., 'completion': ...}} for {DOUBLE_05!r}: the prompt rendered with the chat "
            "template (assistant turn opened, thinking off), the completion '21 + 21 = 42<|im_end|>'",
    hint="tok.apply_chat_template([...], tokenize=False, add_generation_prompt=True, enable_thinking=False) "
         "gives the prompt; the completion ends with the end-of-turn token",
    where="notebook 06, section 2 'A skill the model never saw'")
