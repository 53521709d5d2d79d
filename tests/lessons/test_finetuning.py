"""labkit.lessons.finetuning: learner mistakes become LabErrors, the data is right, the fast trainer computes
the same loss as trl's, completion_loss is trl's loss, a merged adapter answers exactly like base + adapter,
and the checks of exercise 06 accept right answers and refuse wrong ones."""
from __future__ import annotations

import json

import pytest
import torch

import labkit
from labkit.lessons import finetuning as finetune, quantization as quant

REAL = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture(scope="module")
def nano():
    return labkit.load_model()


@pytest.mark.model
def test_linear_module_names_are_read_from_the_model(nano):
    model, _ = nano
    assert finetune.linear_module_names(model) == REAL


def test_a_bad_target_module_lists_the_real_names(nano):
    model, _ = nano
    with pytest.raises(labkit.LabError) as err:
        finetune.lora_config(model, ["q_proj", "query_key_value"])
    text = str(err.value)
    assert "'query_key_value'" in text and "'q_proj'" not in text.split("How to fix")[0]
    assert all(name in text for name in REAL)
    with pytest.raises(labkit.LabError):
        finetune.validate_targets(model, [])


@pytest.mark.parametrize("r", [0, -4, 2.5, True])
def test_rank_must_be_a_positive_int(nano, r):
    with pytest.raises(labkit.LabError, match="rank"):
        finetune.lora_config(nano[0], r=r)


def test_lora_config_defaults(nano):
    cfg = finetune.lora_config(nano[0], r=4)
    assert set(cfg.target_modules) == set(finetune.ALL_PROJECTIONS)
    assert cfg.r == 4 and cfg.lora_alpha == 8 and cfg.task_type == "CAUSAL_LM"


def test_doubling_rows(nano):
    from labkit.nano import curriculum

    _, tok = nano
    rows = finetune.doubling_rows(tok, 40, seed=3, replay=2, thinking=False)
    assert len(rows) == 120
    double = rows[:40]
    for r in double:
        assert r["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")   # thinking off
        n = int(r["completion"].split(" + ")[0])
        assert r["completion"] == f"{n} + {n} = {2 * n}<|im_end|>"
        assert not curriculum.is_held_out(n, "+", n)                                  # training numbers only
    assert not any("Double" in r["prompt"] for r in rows[40:])                         # replay: the curriculum
    assert all(r["completion"].endswith("<|im_end|>") for r in rows[40:])
    held = finetune.doubling_rows(tok, 20, seed=3, held_out=True)
    assert all(curriculum.is_held_out(n, "+", n) for n in
               (int(r["completion"].split("\n\n")[-1].split(" + ")[0]) for r in held))
    with pytest.raises(labkit.LabError):
        finetune.doubling_rows(tok, -1)


def test_doubling_rows_in_the_thinking_mode(nano):
    _, tok = nano
    worked = finetune.doubling_rows(tok, 5, seed=3, thinking=True)
    assert len(worked) == 5
    for r in worked:
        assert r["prompt"].endswith("<|im_start|>assistant\n")                      # the model opens <think>
        n = int(r["completion"].split("\n\n")[-1].split(" + ")[0])
        assert r["completion"].startswith("<think>\n") and "carry" in r["completion"]
        assert r["completion"].endswith(f"</think>\n\n{n} + {n} = {2 * n}<|im_end|>")


def _config(**overrides):
    from trl import SFTConfig

    args = dict(output_dir="/tmp/qwen-labs-test-ft", max_steps=1, per_device_train_batch_size=4,
                completion_only_loss=True, bf16=False, activation_checkpointing=False, use_cpu=True,
                report_to="none", save_strategy="no", disable_tqdm=True, seed=0)
    return SFTConfig(**{**args, **overrides})


def _trainer(cls, model, tok, data, **overrides):
    return cls(model=model, args=_config(**overrides), train_dataset=data, processing_class=tok,
               peft_config=finetune.lora_config(model, r=4))


@pytest.mark.model
def test_label_only_trainer_gives_trl_s_loss(nano):
    from datasets import Dataset
    from trl import SFTTrainer

    _, tok = nano
    data = Dataset.from_list(finetune.doubling_rows(tok, 6, replay=1))
    losses, heads = [], []
    for cls, min_merge in ((SFTTrainer, None), (finetune.LabelOnlySFTTrainer, 0.5), (finetune.LabelOnlySFTTrainer, 0.0)):
        torch.manual_seed(0)
        trainer = _trainer(cls, labkit.load_model()[0], tok, data)
        if min_merge is not None:
            trainer.min_merge = min_merge            # 0.0: never merge, the whole output layer
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        trainer.model.train()
        with torch.no_grad():
            losses.append(float(trainer.compute_loss(trainer.model, batch)))
        if min_merge is not None:
            heads.append(trainer._head_cache[1])
    used = json.loads((labkit.nano_path() / "training.json").read_text())["meta"]["compact_vocab"]
    assert heads[0] is not None and heads[0][0].shape[0] <= used + 1  # the merged head was used (a row per used
    #                                                                   token at most, and one shared by the rest)...
    assert heads[1] is None                                           # ...and here the whole one
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert losses[2] == pytest.approx(losses[0], rel=1e-4)


@pytest.mark.model
def test_the_fast_trainer_trains_like_trl_step_by_step(nano):
    from datasets import Dataset
    from trl import SFTTrainer

    _, tok = nano
    data = Dataset.from_list(finetune.doubling_rows(tok, 8, replay=1))
    curves = []
    for cls in (SFTTrainer, finetune.LabelOnlySFTTrainer):
        trainer = _trainer(cls, labkit.load_model()[0], tok, data, max_steps=3, logging_steps=1, learning_rate=3e-3)
        trainer.train()
        curves.append([h["loss"] for h in trainer.state.log_history if "loss" in h])
    assert len(curves[0]) == 3 and curves[1] == pytest.approx(curves[0], rel=1e-3)
    assert curves[0][-1] < curves[0][0]


def test_merged_rows_give_the_full_vocabulary_loss_and_argmax():
    import torch.nn.functional as F

    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    with torch.no_grad():
        head.weight[10:] = head.weight[10]               # tokens 10..49 share one row (as unused tokens do)
    head.weight.requires_grad_(False)
    merged = finetune.merge_equal_rows(head.weight)
    assert merged is not None and merged[0].shape[0] == 11
    hidden = torch.randn(64, 8)
    hidden[:16] = head.weight[10] * 5                    # rows where the shared row wins the argmax
    targets = torch.randint(0, 50, (64,))
    targets[:4] = 10                                     # the shared group's lowest id: argmax picks it
    targets[4:8] = 30                                    # same group, not the lowest id: never the argmax
    full = head(hidden)
    loss, correct = finetune.head_cross_entropy(hidden, targets, head, merged)
    assert float(loss) == pytest.approx(float(F.cross_entropy(full, targets, reduction="sum")), rel=1e-5)
    assert correct == int((full.argmax(-1) == targets).sum()) and correct >= 4
    plain_loss, plain_correct = finetune.head_cross_entropy(hidden, targets, head, None)
    assert float(plain_loss) == pytest.approx(float(loss), rel=1e-5) and plain_correct == correct
    assert finetune.merge_equal_rows(torch.randn(50, 8)) is None        # distinct rows: no merging


@pytest.mark.model
def test_completion_loss_is_trl_s_eval_loss(nano):
    from datasets import Dataset
    from trl import SFTTrainer

    model, tok = nano
    rows = finetune.doubling_rows(tok, 6, seed=5, held_out=True)
    data = Dataset.from_list(rows)   # trl 1.16 wants a train_dataset even to evaluate
    trainer = SFTTrainer(model=model, args=_config(per_device_eval_batch_size=len(rows)), train_dataset=data,
                         eval_dataset=data, processing_class=tok)
    expected = trainer.evaluate()["eval_loss"]
    assert finetune.completion_loss(model, tok, rows) == pytest.approx(expected, rel=1e-4)
    assert not model.training
    with pytest.raises(labkit.LabError):
        finetune.completion_loss(model, tok, [])


@pytest.mark.model
def test_merged_outputs_equal_base_plus_adapter(nano, tmp_path):
    import random

    from peft import PeftModel, get_peft_model

    from labkit.nano import curriculum as nano_mod

    _, tok = nano
    model, _ = labkit.load_model()
    peft_model = get_peft_model(model, finetune.lora_config(model, r=4))
    torch.manual_seed(0)
    with torch.no_grad():                      # a non-zero update, so the adapter changes the answers
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(tmp_path / "adapter")
    rng = random.Random(1)
    questions = [nano_mod.double_sample(rng, held_out=True).messages for _ in range(6)]

    def greedy(m):
        return [r.ids for r in labkit.generate_batch(m, tok, questions, max_new_tokens=24, do_sample=False,
                                                     temperature=None, top_p=None, top_k=None)]

    reloaded = PeftModel.from_pretrained(labkit.load_model()[0], tmp_path / "adapter").eval()
    with_adapter = greedy(reloaded)
    assert with_adapter != greedy(labkit.load_model()[0])                   # the adapter does something
    merged = reloaded.merge_and_unload()
    assert not any("lora" in n for n, _ in merged.named_modules())
    assert greedy(merged) == with_adapter


@pytest.mark.model
def test_linear_module_names_see_through_peft_and_4bit(nano):
    from peft import get_peft_model

    model, _ = labkit.load_model()
    wrapped = get_peft_model(model, finetune.lora_config(model, ["q_proj"], r=2))
    assert finetune.linear_module_names(wrapped) == REAL
    if quant.bnb_status()[0]:
        assert finetune.linear_module_names(quant.load_quantized("nf4")[0]) == REAL


@pytest.mark.model
def test_exercise_checks_of_notebook_06(nano, capsys):
    from datasets import Dataset
    from trl import SFTTrainer

    from labkit import checks

    _, tok = nano
    assert checks.check_trainable_params(6 * 4 * (64 + 128 + 64 + 64)) is True
    hand_written = {"prompt": "<|im_start|>user\nDouble 21.<|im_end|>\n<|im_start|>assistant\n",
                    "completion": "21 + 21 = 42<|im_end|>"}
    assert checks.check_doubling_row(hand_written) is False                              # no empty think block
    data = Dataset.from_list(finetune.doubling_rows(tok, 16))
    assert checks.check_lora_run("trainer") is False                                     # not a trainer
    untrained = _trainer(SFTTrainer, labkit.load_model()[0], tok, data)
    assert checks.check_lora_run(untrained) is False                                     # 0 steps
    no_lora = SFTTrainer(model=labkit.load_model()[0], args=_config(), train_dataset=data, processing_class=tok)
    assert checks.check_lora_run(no_lora) is False                                       # full fine-tuning
    out = capsys.readouterr().out
    assert out.count("❌") == 4 and "Hint:" in out and "notebook 06" in out and "0 steps" in out
    timid = _trainer(finetune.LabelOnlySFTTrainer, labkit.load_model()[0], tok, data, max_steps=2, learning_rate=2e-5)
    timid.train()
    assert checks.check_lora_run(timid) is False                                         # trl's default rate: too slow
    learned = _trainer(finetune.LabelOnlySFTTrainer, labkit.load_model()[0], tok, data, max_steps=8,
                       learning_rate=3e-3)
    learned.train()
    assert checks.check_lora_run(learned) is True                                        # a subclass is fine
    checks.reset()


def test_exercise_checks_of_notebook_05(capsys):
    from transformers import BitsAndBytesConfig

    from labkit import checks

    assert checks.check_nf4_config(BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True,
                                                      bnb_4bit_compute_dtype="bfloat16")) is True
    assert checks.check_nf4_config(BitsAndBytesConfig(load_in_4bit=True)) is False       # fp4, no double quant
    assert checks.check_largest_nf4_fit("Qwen3-14B") is False
    assert checks.check_embedding_share(95.6) is False                                   # a percentage, not a share
    assert "Hint:" in capsys.readouterr().out
    checks.reset()


def test_the_trainer_is_a_module_level_sft_trainer():
    from trl import SFTTrainer

    assert issubclass(finetune.LabelOnlySFTTrainer, SFTTrainer)
    assert vars(finetune)["LabelOnlySFTTrainer"].__qualname__ == "LabelOnlySFTTrainer"
