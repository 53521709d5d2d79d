"""The checks of exercise 06: a training row, what a LoraConfig trains, old trainer settings under today's names;
every right answer passes, the usual wrong ones fail with a hint.  (The training-run check, which needs trained
adapters, is tested in tests/lessons/test_finetuning.py.)"""
from __future__ import annotations

import copy
import tempfile

import pytest

import labkit
from labkit import checks


@pytest.fixture(scope="module")
def nano():
    return labkit.load_model()


def _machine():
    return dict(output_dir=tempfile.mkdtemp(), report_to="none", use_cpu=True, bf16=False, fp16=False)


def test_the_checks_are_registered():
    for name in ("check_doubling_row", "check_trainable_params", "check_sft_config", "check_lora_run"):
        assert callable(getattr(checks, name))


def test_doubling_row(nano, capsys):
    _, tok = nano
    prompt = tok.apply_chat_template([{"role": "user", "content": checks.DOUBLE_06}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    assert checks.check_doubling_row({"prompt": prompt, "completion": "21 + 21 = 42<|im_end|>"}) is True
    hand_written = {"prompt": "<|im_start|>user\nDouble 21.<|im_end|>\n<|im_start|>assistant\n",
                    "completion": "21 + 21 = 42<|im_end|>"}
    assert checks.check_doubling_row(hand_written) is False                       # no empty think block
    assert checks.check_doubling_row({"prompt": prompt, "completion": "21 + 21 = 42"}) is False   # never stops
    assert checks.check_doubling_row(None) is False
    out = capsys.readouterr().out
    assert out.count("❌") == 3 and "Hint:" in out and "apply_chat_template" in out


def test_trainable_params(nano, capsys):
    from peft import LoraConfig, get_peft_model

    model, _ = nano
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    right = get_peft_model(copy.deepcopy(model), config).get_nb_trainable_parameters()[0]
    assert checks.check_trainable_params(right) is True
    by_hand = sum(4 * (m.in_features + m.out_features) for name, m in model.named_modules()
                  if name.split(".")[-1] in ("q_proj", "v_proj"))
    assert by_hand == right
    assert checks.check_trainable_params(2 * right) is False                      # rank 8
    assert "Hint:" in capsys.readouterr().out


def test_sft_config(capsys):
    from transformers import TrainingArguments
    from trl import SFTConfig

    assert checks.check_sft_config(SFTConfig(eval_strategy="steps", eval_steps=500, max_length=2048, packing=True,
                                             **_machine())) is True
    assert checks.check_sft_config(SFTConfig(eval_strategy="steps", eval_steps=500, max_length=2048, packing=True,
                                             learning_rate=1e-4, **_machine())) is True   # more settings: fine
    assert checks.check_sft_config(SFTConfig(eval_strategy="steps", eval_steps=500, max_length=2048,
                                             **_machine())) is False              # packing left in SFTTrainer
    assert checks.check_sft_config(TrainingArguments(eval_strategy="steps", eval_steps=500,
                                                     **_machine())) is False      # not trl's config
    out = capsys.readouterr().out
    assert out.count("❌") == 2 and "eval_strategy" in out
