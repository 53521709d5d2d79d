"""The nano trainer: its compact-vocabulary loss IS the full-vocabulary loss of the exported model."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from labkit.nano import curriculum as nano, train as train_nano
from labkit.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def qwen3_tok():
    """The Qwen3 tokenizer, loaded once for this module (the tests only read it; a load takes ~2 s)."""
    return load_tokenizer("qwen3")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nano") / "model"
    meta = train_nano.train(out, steps=3, batch=4, lr=1e-3, seed=0, threads=None)
    return out, meta


@pytest.mark.model
def test_export_is_a_standard_full_vocabulary_qwen3(tiny_run, qwen3_tok):
    out, meta = tiny_run
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == 151936 and model.config.tie_word_embeddings
    assert json.loads((out / "training.json").read_text())["meta"]["steps"] == 3
    assert meta["compact_vocab"] == len(train_nano.curriculum_vocab(qwen3_tok))


@pytest.mark.model
def test_compact_loss_equals_full_vocabulary_loss(tiny_run, qwen3_tok):
    out, _ = tiny_run
    tok = qwen3_tok
    vocab = train_nano.curriculum_vocab(tok)
    full = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    compact = train_nano.load_compact(out, vocab, seed=0)
    ids, labels = train_nano.encode(nano.training_sample(random.Random(5)), tok)
    x = torch.tensor([ids])
    lookup = {t: i for i, t in enumerate(vocab)}
    with torch.no_grad():
        full_lp = full(input_ids=x).logits.float().log_softmax(-1)
        logits = compact(input_ids=torch.tensor([[lookup[t] for t in ids]])).logits.float()
        logits = torch.cat([logits[..., :-1], logits[..., -1:] + math.log(151936 - len(vocab))], -1)
        compact_lp = logits.log_softmax(-1)
    for pos in range(len(ids) - 1):
        nxt = ids[pos + 1]
        # bf16 storage of the exported weights: equal up to rounding
        assert abs(full_lp[0, pos, nxt].item() - compact_lp[0, pos, lookup[nxt]].item()) < 0.05
    unused_mass = 1 - full_lp[0, -1, vocab].exp().sum().item()
    assert abs(unused_mass - compact_lp[0, -1, -1].exp().item()) < 0.01


@pytest.mark.model
def test_curriculum_vocab_is_deterministic(qwen3_tok):
    tok = qwen3_tok
    assert train_nano.curriculum_vocab(tok) == train_nano.curriculum_vocab(tok)


@pytest.fixture(scope="module")
def tiny_tools_run(tiny_run, tmp_path_factory):
    base, _ = tiny_run
    out = tmp_path_factory.mktemp("nano_tools") / "model"
    meta = train_nano.train(out, steps=2, batch=4, lr=1e-3, seed=0, threads=None, init=base, curriculum="tools")
    return base, out, meta


@pytest.mark.model
def test_tools_vocab_extends_the_base_rows(qwen3_tok):
    tok = qwen3_tok
    base = train_nano.curriculum_vocab(tok)
    tools = train_nano.curriculum_vocab(tok, curriculum="tools")
    assert set(base) < set(tools) and tools == sorted(tools)
    for token in ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"):
        assert tok.convert_tokens_to_ids(token) in tools and tok.convert_tokens_to_ids(token) not in base
    for text in ('{"name": "calculator", "arguments": {"expression": "12 * 34"}}', " calculator expression"):
        assert set(tok(text)["input_ids"]) <= set(tools), text
    with pytest.raises(ValueError, match="unknown curriculum"):
        train_nano.curriculum_vocab(tok, curriculum="json")


@pytest.mark.model
def test_tools_continuation_keeps_the_trained_rows_and_records_both_stages(tiny_tools_run, qwen3_tok):
    from safetensors.torch import load_file

    base, out, meta = tiny_tools_run
    tok = qwen3_tok
    tools = train_nano.curriculum_vocab(tok, curriculum="tools")
    assert meta["curriculum"] == "tools" and meta["compact_vocab"] == len(tools)
    info = json.loads((out / "training.json").read_text())
    assert info["meta"]["continued_from"]["steps"] == 3
    assert [h.get("stage") for h in info["history"]][-1] == 2
    # the continuation starts from the export: its compact model holds the base rows, new rows start as the shared row
    start = train_nano.load_compact(base, tools, seed=0).model.embed_tokens.weight
    big = load_file(base / "model.safetensors")["model.embed_tokens.weight"].float()
    new = tok.convert_tokens_to_ids("<tool_call>")
    assert torch.equal(start[tools.index(new)], start[-1]) and torch.equal(start[-1], big[new])
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == 151936


@pytest.mark.model
def test_tools_stage_loss_is_the_same_mean_in_two_sub_batches(tiny_run, qwen3_tok):
    out, _ = tiny_run
    tok = qwen3_tok
    vocab = train_nano.curriculum_vocab(tok, curriculum="tools")
    model = train_nano.load_compact(out, vocab, seed=0)
    lookup = torch.full((train_nano.VOCAB_SIZE,), len(vocab), dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    rng = random.Random(1)
    rows = sorted((train_nano.encode(nano.training_sample(rng, tools=True), tok) for _ in range(6)),
                  key=lambda r: len(r[0]))
    lu = math.log(151936 - len(vocab))
    with torch.no_grad():
        whole = train_nano._loss(model, rows, tok.pad_token_id, lookup, lu)
        count = sum(sum(1 for t in y[1:] if t != -100) for _, y in rows)
        parts = sum(train_nano._loss(model, p, tok.pad_token_id, lookup, lu, "sum") for p in (rows[:3], rows[3:]))
    assert abs(whole.item() - parts.item() / count) < 1e-4


def test_tools_curriculum_needs_init():
    with pytest.raises(SystemExit):
        train_nano.main(["--curriculum", "tools", "--out", "/tmp/never"])


@pytest.mark.model
def test_distillation_from_itself_costs_nothing_and_pulls_towards_the_teacher(tiny_run, qwen3_tok):
    """With a teacher, the rows of the old tasks are scored by KL(teacher || model): zero for the model itself,
    positive for another model; the new tasks keep their cross-entropy."""
    out, _ = tiny_run
    tok = qwen3_tok
    vocab = train_nano.curriculum_vocab(tok, curriculum="tools")
    model = train_nano.load_compact(out, vocab, seed=0)
    other = train_nano.build_compact_model(len(vocab), seed=1)
    lookup = torch.full((train_nano.VOCAB_SIZE,), len(vocab), dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    lu = math.log(151936 - len(vocab))
    rng = random.Random(2)
    rows = [train_nano.encode(nano._arith_sample(rng, thinking=True), tok) for _ in range(3)]
    with torch.no_grad():
        assert train_nano._loss(model, rows, tok.pad_token_id, lookup, lu, teacher=model,
                                distill=[True] * 3).item() == pytest.approx(0.0, abs=1e-5)
        assert train_nano._loss(model, rows, tok.pad_token_id, lookup, lu, teacher=other, distill=[True] * 3) > 1e-4
        plain = train_nano._loss(model, rows, tok.pad_token_id, lookup, lu)
        kept = train_nano._loss(model, rows, tok.pad_token_id, lookup, lu, teacher=other, distill=[False] * 3)
    assert kept.item() == pytest.approx(plain.item(), rel=1e-5)


@pytest.mark.model
def test_json_answers_need_no_new_rows_and_a_zero_share_draws_as_before(qwen3_tok):
    tok = qwen3_tok
    tools = set(train_nano.curriculum_vocab(tok, curriculum="tools"))
    rng = random.Random(3)
    for _ in range(200):
        prompt, target = nano.render(nano.json_sample(rng), tok)
        assert set(tok(prompt + target)["input_ids"]) <= tools
        assert json.loads(target.split("</think>")[-1].replace("<|im_end|>", "").strip())["answer"] >= 0
    a, b = random.Random(4), random.Random(4)
    assert [nano.training_sample(a, tools=True).answer for _ in range(50)] == \
           [nano.training_sample(b, tools=True, json_share=0.0).answer for _ in range(50)]
    c = random.Random(4)
    assert any(s.meta["task"] == "json" for s in (nano.training_sample(c, tools=True, json_share=0.5) for _ in range(50)))


def test_the_shipped_model_records_every_stage_for_rebuild():
    chain = train_nano.stages()
    assert chain[0].get("curriculum", "base") == "base" and "continued_from" not in chain[0]
    assert all(m.get("curriculum") == "tools" for m in chain[1:]) and len(chain) >= 2
    assert chain[-1] == {k: v for k, v in json.loads((nano_path_dir() / "training.json").read_text())["meta"].items()
                         if k != "continued_from"} | {k: v for k, v in chain[-1].items() if k == "continued_from"}


def nano_path_dir():
    from labkit.models import nano_path

    return nano_path()


def test_rebuild_replays_each_recorded_stage_in_order_with_stage_one_as_teacher(tmp_path, monkeypatch):
    stage1 = {"steps": 5, "batch": 4, "lr": 3e-3, "seed": 0}
    stage2 = {"steps": 3, "batch": 2, "lr": 1e-3, "seed": 0, "curriculum": "tools", "tool_share": 0.6,
              "continued_from": stage1}
    stage3 = {"steps": 2, "batch": 2, "lr": 1e-3, "seed": 1, "curriculum": "tools", "tool_share": 0.2,
              "json_share": 0.25, "teacher_steps": 5, "continued_from": stage2}
    (tmp_path / "training.json").write_text(json.dumps({"meta": stage3, "history": []}))
    calls = []
    monkeypatch.setattr(train_nano, "train", lambda out, steps, batch, lr, seed, threads, **kw: calls.append(
        (out.name, steps, batch, lr, seed, threads, kw)) or {"steps": steps})
    train_nano.rebuild(tmp_path / "out", threads=1, model_dir=tmp_path)
    assert [c[:6] for c in calls] == [("out.stage1", 5, 4, 3e-3, 0, 1), ("out.stage2", 3, 2, 1e-3, 0, 1),
                                      ("out", 2, 2, 1e-3, 1, 1)]
    first, second, third = (c[6] for c in calls)
    assert first["init"] is None and first["curriculum"] == "base" and first["teacher"] is None
    assert second["init"] == tmp_path / "out.stage1" and second["tool_share"] == 0.6 and second["teacher"] is None
    assert third["init"] == tmp_path / "out.stage2" and third["teacher"] == tmp_path / "out.stage1"
    assert third["json_share"] == 0.25
