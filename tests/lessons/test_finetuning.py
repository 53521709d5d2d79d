"""labkit.lessons.finetuning: learner mistakes become LabErrors, the data is right, the fast trainer computes
the same loss as trl's, and a merged adapter answers exactly like base + adapter."""
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


def test_a_dataset_without_the_fields_is_named(nano):
    from datasets import Dataset

    bad = Dataset.from_list([{"instruction": "Double 4.", "output": "4 + 4 = 8"}])
    with pytest.raises(labkit.LabError) as err:
        finetune.validate_dataset(bad)
    assert "'prompt'" in str(err.value) and "'completion'" in str(err.value) and "instruction" in str(err.value)
    with pytest.raises(labkit.LabError, match="empty"):
        finetune.validate_dataset(Dataset.from_list([]))


def test_4bit_without_bitsandbytes_is_refused(nano, monkeypatch):
    monkeypatch.setattr(quant, "bnb_status", lambda: (False, "bitsandbytes cannot be imported (test)"))
    with pytest.raises(labkit.LabError, match="pip install"):
        finetune.validate_setup(nano[0], precision="nf4")
    finetune.validate_setup(nano[0], precision="fp32")


def test_doubling_rows(nano):
    _, tok = nano
    rows = finetune.doubling_rows(tok, 40, seed=3, replay=0.25, thinking=False)
    assert len(rows) == 50
    double = [r for r in rows if "Double" in r["prompt"] or "double" in r["prompt"] or "twice" in r["prompt"]]
    assert len(double) == 40
    for r in double:
        assert r["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")   # thinking off
        n = int(r["completion"].split(" + ")[0])
        assert r["completion"] == f"{n} + {n} = {2 * n}<|im_end|>"
    ds = finetune.build_datasets(tok, n_train=8, n_eval=4)
    assert ds["train"].column_names == ["prompt", "completion"] and len(ds["eval"]) == 4


def _trainer(cls, model, tok, data):
    from trl import SFTConfig

    args = SFTConfig(output_dir="/tmp/qwen-labs-test-ft", max_steps=1, per_device_train_batch_size=4,
                     completion_only_loss=True, bf16=False, activation_checkpointing=False, use_cpu=True,
                     report_to="none", save_strategy="no", disable_tqdm=True)
    return cls(model=model, args=args, train_dataset=data, processing_class=tok,
               peft_config=finetune.lora_config(model, r=4))


@pytest.mark.model
def test_label_only_trainer_gives_trl_s_loss(nano):
    from trl import SFTTrainer

    _, tok = nano
    data = finetune.build_datasets(tok, n_train=8, n_eval=4, replay=0.5)["train"]
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
def test_param_counts_and_adapter_size(nano, tmp_path):
    from peft import get_peft_model

    model, _ = labkit.load_model()
    peft_model = get_peft_model(model, finetune.lora_config(model, ["q_proj", "v_proj"], r=4))
    counts = finetune.param_counts(peft_model)
    cfg = model.config
    q = 4 * (cfg.hidden_size + cfg.num_attention_heads * cfg.head_dim)
    v = 4 * (cfg.hidden_size + cfg.num_key_value_heads * cfg.head_dim)
    assert counts["trainable"] == cfg.num_hidden_layers * (q + v)
    assert counts["total"] == sum(p.numel() for p in nano[0].parameters()) + counts["trainable"]
    peft_model.save_pretrained(tmp_path / "a")
    size = finetune.adapter_size(tmp_path / "a")
    assert counts["trainable"] * 4 < size < counts["trainable"] * 4 + 20_000
    mem = finetune.training_memory(peft_model)
    assert mem["optimizer_state"] == 2 * mem["gradients"] == 2 * 4 * counts["trainable"]
    with pytest.raises(labkit.LabError):
        finetune.adapter_size(tmp_path / "missing")


@pytest.mark.model
def test_merged_outputs_equal_base_plus_adapter(nano, tmp_path):
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
    import random

    rng = random.Random(1)
    questions = [nano_mod.double_sample(rng, held_out=True).messages for _ in range(6)]
    reloaded = PeftModel.from_pretrained(labkit.load_model()[0], tmp_path / "adapter").eval()
    with_adapter = finetune.greedy_outputs(reloaded, tok, questions)
    base_out = finetune.greedy_outputs(labkit.load_model()[0], tok, questions)
    assert with_adapter != base_out                       # the adapter does something
    merged = reloaded.merge_and_unload()
    assert not any("lora" in n for n, _ in merged.named_modules())
    assert finetune.greedy_outputs(merged, tok, questions) == with_adapter


@pytest.mark.model
def test_linear_module_names_see_through_peft_and_4bit(nano):
    from peft import get_peft_model

    model, _ = labkit.load_model()
    wrapped = get_peft_model(model, finetune.lora_config(model, ["q_proj"], r=2))
    assert finetune.linear_module_names(wrapped) == REAL
    if quant.bnb_status()[0]:
        assert finetune.linear_module_names(quant.load_quantized("nf4")[0]) == REAL


@pytest.mark.model
def test_exercise_checks_of_notebook_05(nano, capsys):
    from labkit import checks

    _, tok = nano
    assert checks.check_lora_targets(["q_proj", "v_proj"]) is False                      # peft's default only
    assert checks.check_lora_targets(REAL) is True
    assert checks.check_trainable_params(6 * 4 * (64 + 128 + 64 + 64)) is True
    hand_written = {"prompt": "<|im_start|>user\nDouble 21.<|im_end|>\n<|im_start|>assistant\n",
                    "completion": "21 + 21 = 42<|im_end|>"}
    assert checks.check_doubling_row(hand_written) is False                              # no empty think block
    out = capsys.readouterr().out
    assert out.count("❌") == 2 and "Hint:" in out and "notebook 06" in out
    checks.reset()


def test_exercise_checks_of_notebook_04(capsys):
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


def test_doubling_rows_in_the_thinking_mode(nano):
    _, tok = nano
    worked = finetune.doubling_rows(tok, 5, seed=3, thinking=True, replay=0.0)
    assert len(worked) == 5
    for r in worked:
        assert r["prompt"].endswith("<|im_start|>assistant\n")                      # the model opens <think>
        n = int(r["completion"].split("\n\n")[-1].split(" + ")[0])
        assert r["completion"].startswith("<think>\n") and "carry" in r["completion"]
        assert r["completion"].endswith(f"</think>\n\n{n} + {n} = {2 * n}<|im_end|>")


@pytest.mark.model
def test_step_time_times_training_steps_and_returns_the_first_loss(nano):
    import time

    _, tok = nano
    data = finetune.build_datasets(tok, n_train=4, n_eval=4, replay=0.0)["train"]   # 4 rows: one batch
    trainer = _trainer(finetune.LabelOnlySFTTrainer, labkit.load_model()[0], tok, data)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.train()
    with torch.no_grad():
        expected = float(trainer.compute_loss(trainer.model, batch))
    t0 = time.perf_counter()
    seconds, loss = finetune.step_time(trainer, min_run_time=0.0)
    wall = time.perf_counter() - t0
    assert 0 < seconds < wall                # per step: a warm-up step and the timed ones took longer
    assert loss == pytest.approx(expected, rel=1e-4)


@pytest.mark.model
def test_lora_grads_are_one_vector_and_do_not_accumulate(nano):
    from peft import get_peft_model

    model, tok = labkit.load_model()
    peft_model = get_peft_model(model, finetune.lora_config(model, ["q_proj", "v_proj"], r=2))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    sample = tok(["<|im_start|>user\nDouble 4.<|im_end|>\n<|im_start|>assistant\n4 + 4 = 8"], return_tensors="pt")
    first, second = finetune.lora_grads(peft_model, sample), finetune.lora_grads(peft_model, sample)
    assert first.numel() == finetune.param_counts(peft_model)["trainable"] and first.norm() > 0
    assert torch.allclose(first, second)


def test_greedy_outputs_are_the_ids_of_generate_batch(nano):
    import random

    from labkit.nano import curriculum as nano_mod

    model, tok = nano
    rng = random.Random(2)
    questions = [nano_mod.double_sample(rng, held_out=True).messages for _ in range(3)]
    replies = labkit.generate_batch(model, tok, questions, thinking=True, max_new_tokens=40, do_sample=False)
    assert finetune.greedy_outputs(model, tok, questions, thinking=True, max_new_tokens=40) == [r.ids for r in replies]


def test_the_trainer_is_a_module_level_sft_trainer():
    from trl import SFTTrainer

    assert issubclass(finetune.LabelOnlySFTTrainer, SFTTrainer)
    assert vars(finetune)["LabelOnlySFTTrainer"].__qualname__ == "LabelOnlySFTTrainer"
