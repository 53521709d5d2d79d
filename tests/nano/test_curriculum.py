"""The shipped nano Qwen3: standard layout, quick quality regression check, curriculum rules."""
from __future__ import annotations

import json
import random

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import labkit
from labkit.nano import curriculum as nano, evaluation as nano_eval
from labkit.models import NANO_DIR


@pytest.fixture(scope="module")
def nano_model():
    return labkit.load_model()  # offline profile (conftest) -> the nano model


def test_standard_layout_and_auto_classes():
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "MODEL_CARD.md"):
        assert (NANO_DIR / name).exists(), name
    assert (NANO_DIR / "model.safetensors").stat().st_size <= 25e6
    cfg = json.loads((NANO_DIR / "config.json").read_text())
    assert cfg["model_type"] == "qwen3" and cfg["architectures"] == ["Qwen3ForCausalLM"]
    assert cfg["vocab_size"] == 151936 and cfg["tie_word_embeddings"] is True
    model = AutoModelForCausalLM.from_pretrained(NANO_DIR)
    tok = AutoTokenizer.from_pretrained(NANO_DIR)
    assert type(model).__name__ == "Qwen3ForCausalLM" and type(tok).__name__ == "Qwen2Tokenizer"
    assert model.get_output_embeddings().weight.shape == (151936, cfg["hidden_size"])


@pytest.mark.model
def test_shipped_tokenizer_equals_the_rebuilt_one():
    shipped, built = AutoTokenizer.from_pretrained(NANO_DIR), labkit.load_tokenizer("qwen3")
    assert shipped.chat_template == built.chat_template
    for text in ["Kui palju on 12 + 5?", "<think>\nx\n</think>\n\n😀 שלום", "Hello   world\n\n"]:
        assert shipped.encode(text) == built.encode(text)


@pytest.mark.model
def test_quick_quality_regression(nano_model):
    model, tok = nano_model
    think = nano_eval.evaluate(model, tok, thinking=True, n=48, seed=1, progress=False)
    plain = nano_eval.evaluate(model, tok, thinking=False, n=48, seed=1, progress=False)
    print(think.summary(), think.by_level, "\n", plain.summary(), plain.by_level)
    assert think.accuracy >= 0.85, think.examples
    assert think.format_ok >= 0.97 and plain.format_ok >= 0.97
    assert think.accuracy > plain.accuracy


@pytest.mark.model
def test_sampled_decoding_stays_well_formed(nano_model):
    model, tok = nano_model
    res = nano_eval.evaluate(model, tok, thinking=True, n=32, seed=2, progress=False,
                             do_sample=True, temperature=0.6, top_p=0.95, top_k=20)
    assert res.format_ok >= 0.9, res.examples


def test_held_out_skill_is_unknown(nano_model):
    model, tok = nano_model
    assert nano_eval.evaluate(model, tok, thinking=True, n=24, task="double", progress=False).accuracy <= 0.1


def test_unused_tokens_get_almost_no_probability(nano_model):
    model, tok = nano_model
    enc = tok.apply_chat_template([{"role": "user", "content": "What is 57 + 38?"}], add_generation_prompt=True,
                                  return_tensors="pt")
    probs = model(**enc).logits[0, -1].softmax(-1)
    vocab = set(tok.encode("0123456789<think>\n</think>") + tok.encode(" → carry ×+="))
    used = probs[sorted(vocab)].sum().item()
    assert used > 0.95, used


@pytest.mark.model
def test_greedy_is_deterministic(nano_model):
    model, tok = nano_model
    msgs = [{"role": "user", "content": "What is 4821 × 7?"}]
    a = labkit.chat(model, tok, msgs, do_sample=False, max_new_tokens=120)
    b = labkit.chat(model, tok, msgs, do_sample=False, max_new_tokens=120)
    assert a == b and a.finished_thinking and a.answer.endswith("33747")


def test_training_never_sees_held_out_problems():
    rng = random.Random(0)
    for _ in range(3000):
        s = nano.training_sample(rng)
        for m in s.messages:
            pass
        if "level" in s.meta:
            p = [int(x) for x in s.answer.split("=")[0].replace("Arr!", "").replace("×", "+").split("+")]
            op = "×" if "×" in s.answer else "+"
            assert not nano.is_held_out(p[0], op, p[1])
    assert all(nano.is_held_out(p.a, p.op, p.b) for p in nano_eval.eval_problems(100))


@pytest.mark.parametrize("seed", range(5))
def test_scratchpad_is_correct_arithmetic(seed):
    rng = random.Random(seed)
    for _ in range(200):
        p = nano.sample_problem(rng, held_out=bool(seed % 2))
        last = nano.scratchpad(p).splitlines()[-1]
        assert int(last.split("→ ")[-1]) == p.answer


@pytest.mark.model
def test_render_offers_tools_and_targets_the_qwen3_call():
    tok = labkit.load_tokenizer("qwen3")
    rng = random.Random(7)
    seen = set()
    while len(seen) < 4:
        s = nano.tool_sample(rng)
        if s.meta["task"] != "tool":
            continue
        seen.add((s.thinking, s.meta["stage"]))
        prompt, target = nano.render(s, tok)
        assert "# Tools" in prompt and '"name": "calculator"' in prompt
        if s.meta["stage"] == "call":
            assert target.endswith("</tool_call><|im_end|>") and target.split("<tool_call>")[0] == (
                f"<think>\n{nano.TOOL_THINK}\n</think>\n\n" if s.thinking else "")
        else:
            assert "<tool_response>" in prompt and "<tool_call>" not in target
        if not s.thinking:
            assert prompt.endswith("<think>\n\n</think>\n\n")


def test_mixed_curriculum_keeps_stage_one_and_doubling_out():
    rng = random.Random(1)
    tasks = [nano.training_sample(rng, tools=True) for _ in range(600)]
    share = sum(s.tools is not None for s in tasks) / len(tasks)
    assert abs(share - nano.TOOL_SHARE) < 0.08
    assert {s.meta["task"] for s in tasks} >= {"arithmetic", "chat", "multi-turn", "tool", "tool-chat"}
    assert not any("ouble" in m.get("content", "") or "twice" in m.get("content", "")
                   for s in tasks for m in s.messages)
