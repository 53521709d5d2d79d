"""The nano trainer: its compact-vocabulary loss IS the full-vocabulary loss of the exported model."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from labkit import nano, train_nano
from labkit.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nano") / "model"
    meta = train_nano.train(out, steps=3, batch=4, lr=1e-3, seed=0, threads=None)
    return out, meta


@pytest.mark.model
def test_export_is_a_standard_full_vocabulary_qwen3(tiny_run):
    out, meta = tiny_run
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == 151936 and model.config.tie_word_embeddings
    assert json.loads((out / "training.json").read_text())["meta"]["steps"] == 3
    assert meta["compact_vocab"] == len(train_nano.curriculum_vocab(load_tokenizer("qwen3")))


@pytest.mark.model
def test_compact_loss_equals_full_vocabulary_loss(tiny_run):
    out, _ = tiny_run
    tok = load_tokenizer("qwen3")
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
def test_curriculum_vocab_is_deterministic():
    tok = load_tokenizer("qwen3")
    assert train_nano.curriculum_vocab(tok) == train_nano.curriculum_vocab(tok)
