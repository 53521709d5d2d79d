"""labkit.lessons.reinforcement: the verifiers accept what they should and refuse the hack, the advantages are
GRPO's, Dr. GRPO's and RLOO's, the compact trainer's log-probabilities, entropies and sampling distribution equal
trl's full-vocabulary ones, its loss equals GRPOTrainer's, and a short seeded run raises held-out accuracy."""
from __future__ import annotations

import copy
import random

import pytest
import torch

import labkit
from labkit.lessons import reinforcement as rl


@pytest.fixture(scope="module")
def nano():
    model, tok = labkit.load_model()
    tok.padding_side = "left"
    return model, tok


# --------------------------------------------------------------------------- verifiers
@pytest.mark.parametrize("text,ok", [
    ("47 + 47 = 94", True), ("47 × 2 = 94", True), ("2 × 47 = 94", True), (" 47 + 47 = 94 ", True),
    ("47 + 4 = 94", False),          # the hack: a false equation that ends on the right number
    ("94", False), ("47 + 47 = 95", False), ("46 + 48 = 94", False), ("47 × 3 = 141", False),
    ("The answer is 94.", False), ("47 + 47 = 94\n47 + 47 = 94", False), ("", False)])
def test_strict_check_of_doubling(text, ok):
    assert rl.check_strict(text, 47, "+", 47) is ok


def test_strict_check_of_arithmetic_and_the_loose_check():
    assert rl.check_strict("38 × 7 = 266", 38, "×", 7) and rl.check_strict("7 × 38 = 266", 38, "×", 7)
    assert not rl.check_strict("38 + 7 = 45", 38, "×", 7)
    assert rl.check_loose("47 + 4 = 94", 94) and rl.check_loose("so -3 then 94", 94)
    assert not rl.check_loose("94 is 47 + 47", 94) and not rl.check_loose("none", 94)


def test_reward_functions_take_trls_arguments():
    completions = [[{"role": "assistant", "content": "47 + 47 = 94"}], [{"role": "assistant", "content": "47 + 4 = 94"}]]
    columns = {"a": [47, 47], "op": ["+", "+"], "b": [47, 47], "expected": [94, 94], "task": ["double"] * 2}
    assert rl.strict_reward(completions, **columns) == [1.0, 0.0]
    assert rl.loose_reward(completions, **columns) == [1.0, 1.0]
    assert rl.strict_reward(["47 + 47 = 94"], a=[47], op=["+"], b=[47]) == [1.0]   # plain-text completions


def test_prompt_rows_keep_the_splits_apart_and_mix_replay():
    from labkit.nano import curriculum as nano

    rows = rl.doubling_prompts(400, seed=3, replay=0.5)
    share = sum(r["task"] == "arithmetic" for r in rows) / len(rows)
    assert 0.4 < share < 0.6
    assert not any(nano.is_held_out(r["a"], r["op"], r["b"]) for r in rows)
    held = rl.doubling_prompts(100, seed=3, replay=0.0, held_out=True)
    assert all(r["task"] == "double" and nano.is_held_out(r["a"], "+", r["b"]) for r in held)
    assert all(r["expected"] == 2 * r["a"] for r in held)
    assert len({r["a"] for r in held}) == len(held)                             # each held-out number asked once
    assert len(rl.doubling_prompts(rl.HELD_OUT_DOUBLINGS, seed=3, replay=0.0, held_out=True)) == 200
    with pytest.raises(labkit.LabError):
        rl.doubling_prompts(rl.HELD_OUT_DOUBLINGS + 1, seed=3, replay=0.0, held_out=True)
    with pytest.raises(labkit.LabError):
        rl.doubling_prompts(4, replay=1.5)


# --------------------------------------------------------------------------- advantages
def test_advantages_of_the_grpo_family():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    dr = rl.advantages(r, "dr_grpo")
    assert torch.allclose(dr[0], torch.tensor([0.75, -0.25, -0.25, -0.25])) and torch.all(dr[1] == 0)
    grpo = rl.advantages(r, "grpo")
    assert torch.allclose(grpo[0], dr[0] / (r[0].std() + 1e-4)) and torch.all(grpo[1] == 0)
    rloo = rl.advantages(r, "rloo")
    assert torch.allclose(rloo[0], torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    assert torch.allclose(rloo, dr * 4 / 3)                       # leave-one-out = k/(k-1) x Dr. GRPO's
    with pytest.raises(labkit.LabError):
        rl.advantages(r, "ppo")
    with pytest.raises(labkit.LabError):
        rl.advantages([1.0, 0.0])


def test_advantages_equal_trls_for_its_scalings():
    """trl computes group advantages in _generate_and_score_completions; its formula, re-read: mean and std per
    group of num_generations, std + 1e-4 (scale_rewards="group") or no scaling ("none")."""
    import inspect

    from trl import GRPOTrainer

    source = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    assert "std_rewards + 1e-4" in source or "(std_rewards + 1e-4)" in source, "trl's group scaling changed"


# --------------------------------------------------------------------------- the compact trainer
def _trainer(model, tok, reward=rl.strict_reward, **overrides):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig

    args = dict(output_dir="/tmp/qwen-labs-test-grpo", max_steps=1, per_device_train_batch_size=16,
                num_generations=4, max_completion_length=12, learning_rate=1e-3, loss_type="dr_grpo",
                scale_rewards="none", beta=0.0, use_cpu=True, bf16=False, report_to="none", save_strategy="no",
                disable_tqdm=True, chat_template_kwargs={"enable_thinking": False}, seed=0, logging_steps=1)
    args.update(overrides)
    data = Dataset.from_list(rl.doubling_prompts(64, seed=0))
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False)
    return rl.CompactGRPOTrainer(model=copy.deepcopy(model), reward_funcs=reward, args=GRPOConfig(**args),
                                 train_dataset=data, processing_class=tok, peft_config=lora)


def _batch(tok, n=12):
    rows = rl.doubling_prompts(n, seed=5)
    texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True, enable_thinking=False)
             + f"{r['a']} {r['op']} {r['b']} = {r['expected']}<|im_end|>" for r in rows]
    return tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)


@pytest.mark.model
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_compact_log_probs_and_entropy_equal_trls(nano, temperature):
    from trl import GRPOTrainer

    model, tok = nano
    trainer = _trainer(model, tok, temperature=temperature)
    batch = _batch(tok)
    args = (trainer.model, batch["input_ids"], batch["attention_mask"], 10)
    ours, our_h, _ = trainer._get_per_token_logps_and_entropies(*args, compute_entropy=True)
    theirs, their_h, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, *args, compute_entropy=True)
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=2e-5), (ours - theirs).abs().max()
    assert torch.allclose(our_h, their_h, atol=5e-5), (our_h - their_h).abs().max()


@pytest.mark.model
@pytest.mark.parametrize("loss_type", ["dr_grpo", "grpo", "dapo"])
def test_compact_loss_and_gradient_equal_grpo_trainers(nano, loss_type):
    """The same inputs through GRPOTrainer.compute_loss with either log-probability path: same loss, same
    gradient on the LoRA weights (non-zero advantages, so the gradient is not trivially zero)."""
    from trl import GRPOTrainer

    model, tok = nano
    trainer = _trainer(model, tok, loss_type=loss_type)
    trainer.current_gradient_accumulation_steps = 1          # set by Trainer.train() in a real run
    batch = _batch(tok, 8)
    prompt_len = batch["input_ids"].shape[1] - 10
    inputs = {"prompt_ids": batch["input_ids"][:, :prompt_len], "prompt_mask": batch["attention_mask"][:, :prompt_len],
              "completion_ids": batch["input_ids"][:, prompt_len:],
              "completion_mask": batch["attention_mask"][:, prompt_len:],
              "advantages": torch.tensor([1.0, -1.0, 0.5, -0.5, 0.25, -0.25, 2.0, -2.0]),
              "old_per_token_logps": None, "num_items_in_batch": batch["attention_mask"][:, prompt_len:].sum()}
    results = []
    for path in (rl.CompactGRPOTrainer._get_per_token_logps_and_entropies,
                 GRPOTrainer._get_per_token_logps_and_entropies):
        trainer.model.zero_grad()
        trainer._get_per_token_logps_and_entropies = path.__get__(trainer)
        loss = trainer.compute_loss(trainer.model, dict(inputs))
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.requires_grad])
        results.append((loss.detach(), grads.clone()))
    (l1, g1), (l2, g2) = results
    assert torch.allclose(l1, l2, atol=1e-6) and g1.abs().sum() > 0
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-3), (g1 - g2).abs().max()


@pytest.mark.model
def test_compact_sampling_has_the_full_vocabulary_distribution(nano):
    """One prompt, 4,000 first tokens sampled each way: the compact sampler against softmax over all 151,936
    logits. Their token frequencies agree within sampling noise, tokens of the shared row included."""
    model, tok = nano
    merged, members = rl.compact_head(model)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hello!"}], add_generation_prompt=True,
                                     enable_thinking=False, return_dict=False)
    torch.manual_seed(0)
    with torch.no_grad():
        firsts = rl.sample_compact(model.model, merged, members, [prompt] * 4000, max_new_tokens=1,
                                   temperature=2.0, eos_ids=[tok.eos_token_id], pad_id=tok.pad_token_id)
        probs = torch.softmax(model(torch.tensor([prompt])).logits[0, -1] / 2.0, -1)
    ours = torch.bincount(torch.tensor([f[0] for f in firsts]), minlength=probs.numel()).float() / 4000
    top = probs.topk(5).indices
    assert torch.allclose(ours[top], probs[top], atol=4 * (0.25 / 4000) ** 0.5 + 0.005)
    shared = merged[2] == torch.mode(merged[2]).values                  # the tokens of the largest group
    assert abs(ours[shared].sum() - probs[shared].sum()) < 0.03
    assert torch.all(ours[probs == 0] == 0)


def test_a_trained_or_distinct_head_falls_back_to_trl():
    """A head whose rows are all distinct (a real checkpoint) does not merge."""
    head = torch.nn.Linear(8, 50, bias=False)
    model = torch.nn.Module()
    model.get_output_embeddings = lambda: head
    assert rl.compact_head(model) == (None, None)


@pytest.mark.model
def test_a_short_seeded_run_raises_held_out_accuracy(nano):
    """60 steps of the notebook's recipe (Dr. GRPO, LoRA r=8, lr 1e-3, strict reward, half replay): held-out
    doubling, greedy and strict, goes up by at least 25 points (notebook 11's 150 steps: 0% -> 85-90%)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig

    model, tok = nano
    held = rl.doubling_prompts(100, seed=100, replay=0.0, held_out=True)
    before = rl.verify(model, tok, held).float().mean().item()
    config = GRPOConfig(output_dir="/tmp/qwen-labs-test-grpo", max_steps=60, per_device_train_batch_size=64,
                        num_generations=8, max_completion_length=20, learning_rate=1e-3, loss_type="dr_grpo",
                        scale_rewards="none", beta=0.0, use_cpu=True, bf16=False, report_to="none",
                        save_strategy="no", disable_tqdm=True, chat_template_kwargs={"enable_thinking": False},
                        seed=0, lr_scheduler_type="constant", activation_checkpointing=False)
    trainer = rl.CompactGRPOTrainer(model=copy.deepcopy(model), reward_funcs=rl.strict_reward, args=config,
                                    train_dataset=Dataset.from_list(rl.doubling_prompts(480, seed=0)),
                                    processing_class=tok,
                                    peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                           task_type="CAUSAL_LM"))
    trainer.train()
    after = rl.verify(trainer.model.eval(), tok, held).float().mean().item()
    assert after - before >= 0.25, (before, after)


@pytest.mark.model
def test_sampled_verify_uses_the_compact_sampler_and_greedy_is_generate(nano):
    model, tok = nano
    rows = rl.doubling_prompts(6, seed=1, replay=0.5, held_out=True)
    greedy = rl.verify(model, tok, rows)
    again = rl.verify(model, tok, rows, batch_size=2)
    assert greedy.shape == (6, 1) and torch.equal(greedy, again)
    torch.manual_seed(0)
    sampled = rl.verify(model, tok, rows, samples=3, do_sample=True, temperature=1.0)
    assert sampled.shape == (6, 3)
    random.seed(0)
    with pytest.raises(labkit.LabError):
        rl.verify(model, tok, rows, check="fuzzy")


@pytest.mark.model
def test_verify_is_score_of_replies_and_both_checks_read_the_same_replies(nano):
    model, tok = nano
    rows = rl.doubling_prompts(6, seed=1, replay=0.5, held_out=True)
    torch.manual_seed(0)
    texts = rl.replies(model, tok, rows, samples=3, do_sample=True, temperature=1.0)
    assert [len(t) for t in texts] == [3] * 6 and all(isinstance(x, str) for t in texts for x in t)
    torch.manual_seed(0)
    assert torch.equal(rl.verify(model, tok, rows, samples=3, do_sample=True, temperature=1.0), rl.score(rows, texts))
    strict, loose = rl.score(rows, texts), rl.score(rows, texts, check="loose")
    assert strict.shape == loose.shape == (6, 3) and not (strict & ~loose).any()   # strict implies loose
    right = [[f"{r['a']} {r['op']} {r['b']} = {r['expected']}", f"1 + 1 = {r['expected']}"] for r in rows]
    assert rl.score(rows, right).tolist() == [[True, False]] * 6
    assert rl.score(rows, right, check="loose").tolist() == [[True, True]] * 6
    with pytest.raises(labkit.LabError, match="rows"):
        rl.score(rows[:2], texts)
