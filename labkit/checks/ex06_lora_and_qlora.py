"""Answer keys of exercise 06 (LoRA and QLoRA): its check functions and the data they check against.

Used in notebook 06.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.models import load_model

DOUBLE_06 = "Double 21."
OLD_ARGS_06 = {"evaluation_strategy": "steps", "eval_steps": 500, "max_seq_length": 2048, "packing": True}
RUN_MAX_STEPS_06 = 20          # "a few steps"
_RUN_LOSS_SHARE = 0.5        # the run must at least halve the base model's held-out loss
_HELD_OUT_ROWS = 16          # held-out doubling rows (thinking) the run's loss is measured on
_RUN_SEED = 606


@lru_cache(maxsize=1)
def _qv_r4_trainable() -> int:
    from peft import LoraConfig, get_peft_model

    model, _ = load_model()  # a fresh copy: get_peft_model changes the model it wraps
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    return get_peft_model(model, config).get_nb_trainable_parameters()[0]


def _sft_config_ok(cfg: Any) -> bool:
    from trl import SFTConfig

    return (isinstance(cfg, SFTConfig) and cfg.eval_strategy == "steps" and cfg.eval_steps == 500
            and cfg.max_length == 2048 and cfg.packing is True)


def _doubling_row_ok(row: Any) -> bool:
    tok = course_model()[1]
    prompt = tok.apply_chat_template([{"role": "user", "content": DOUBLE_06}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    return isinstance(row, dict) and row == {"prompt": prompt, "completion": "21 + 21 = 42<|im_end|>"}


def _held_out_rows() -> list[dict[str, str]]:
    """The held-out doubling rows (thinking mode) a training run is measured on: never in any training split."""
    from labkit.lessons.finetuning import doubling_rows

    return doubling_rows(course_model()[1], _HELD_OUT_ROWS, _RUN_SEED, thinking=True, held_out=True)


@lru_cache(maxsize=1)
def _base_held_out_loss() -> float:
    """The untrained course model's loss per completion token on :func:`_held_out_rows`."""
    from labkit.lessons.finetuning import completion_loss

    model, tok = course_model()
    return completion_loss(model, tok, _held_out_rows())


def _lora_run_ok(trainer: Any) -> bool:
    """A trl SFTTrainer that trained LoRA adapters for 1..RUN_MAX_STEPS_06 steps and at least halved the held-out
    loss.  The check trains nothing: it reads the trainer's state and runs the trained model forward."""
    from peft import PeftModel
    from trl import SFTTrainer

    from labkit.lessons.finetuning import completion_loss

    if not isinstance(trainer, SFTTrainer):
        print(f"  (a trl SFTTrainer was expected, this is a {type(trainer).__name__})")
        return False
    model = trainer.model
    if not isinstance(model, PeftModel) or not any("lora_" in name for name, _ in model.named_parameters()):
        print("  (the trainer's model has no LoRA adapters: pass peft_config=your LoraConfig to SFTTrainer)")
        return False
    steps = trainer.state.global_step
    if not 1 <= steps <= RUN_MAX_STEPS_06:
        print(f"  (the trainer ran {steps} steps; train 1 to {RUN_MAX_STEPS_06}: call trainer.train())")
        return False
    loss, base = completion_loss(model, course_model()[1], _held_out_rows()), _base_held_out_loss()
    print(f"  held-out doubling loss: {loss:.3f} after {steps} steps (the untrained model: {base:.3f}, "
          f"wanted <= {_RUN_LOSS_SHARE * base:.3f})")
    return loss <= _RUN_LOSS_SHARE * base


check_trainable_params = exercise(
    "trainable_params", _qv_r4_trainable,
    expects="the number (an int) of trainable parameters of LoRA with r=4 on q_proj and v_proj of the course model",
    hint="peft.get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=['q_proj', 'v_proj'], "
         "task_type='CAUSAL_LM')) and read get_nb_trainable_parameters()[0]; by hand: r x (in + out) per adapted "
         "layer",
    where="notebook 06, section 3 'LoraConfig'")
check_sft_config = exercise(
    "sft_config", predicate=_sft_config_ok,
    expects=f"a trl SFTConfig carrying the old settings {OLD_ARGS_06} under today's names",
    hint="evaluation_strategy is now eval_strategy, max_seq_length is SFTConfig's max_length, and packing moved "
         "from the SFTTrainer call into SFTConfig",
    where="notebook 06, section 8 'Old code, today'")
check_doubling_row = exercise(
    "doubling_row", predicate=_doubling_row_ok,
    expects=f"a dict {{'prompt': ..., 'completion': ...}} for {DOUBLE_06!r}: the prompt rendered with the chat "
            "template (assistant turn opened, thinking off), the completion '21 + 21 = 42<|im_end|>'",
    hint="tok.apply_chat_template([...], tokenize=False, add_generation_prompt=True, enable_thinking=False) "
         "gives the prompt; the completion ends with the end-of-turn token",
    where="notebook 06, section 2 'The training data, with datasets'")
check_lora_run = exercise(
    "lora_run", predicate=_lora_run_ok,
    expects=f"a trl SFTTrainer with a LoRA peft_config, trained for 1 to {RUN_MAX_STEPS_06} steps, whose model has at "
            f"most {_RUN_LOSS_SHARE:.0%} of the untrained model's loss on held-out doubling rows",
    hint="SFTTrainer(model=copy.deepcopy(model), args=SFTConfig(max_steps=..., learning_rate=..., use_cpu=..., "
         "bf16=..., ...), train_dataset=data, processing_class=tok, peft_config=LoraConfig(...)), then "
         "trainer.train(); LoRA wants a learning rate far above trl's default 2e-5 (1e-3 to 5e-3 on this task)",
    where="notebook 06, section 4 'Training with SFTTrainer'")
