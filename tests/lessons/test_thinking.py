"""labkit.lessons.thinking: the thinking budget really closes the think block, per row, greedy and sampled."""
from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessorList

import labkit
from labkit.nano import evaluation as nano_eval
from labkit.lessons import thinking
from labkit.errors import LabError


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


@pytest.fixture(scope="module")
def tok():
    return labkit.load_tokenizer("qwen3")


def _forced(proc, ids: list[list[int]]) -> list[int | None]:
    """The token the processor forces for each row (None: left alone)."""
    scores = torch.zeros(len(ids), 151936)
    out = proc(torch.tensor(ids), scores)
    return [int(row.argmax()) if torch.isinf(row).sum() == row.numel() - 1 else None for row in out]


@pytest.mark.model
def test_close_sequence_is_looked_up(tok):
    proc = thinking.ThinkingBudget(tok, 8)
    assert proc.end_id == tok.convert_tokens_to_ids("</think>") == 151668
    assert tok.decode(proc.before_end + [proc.end_id] + proc.after_end) == "\n</think>\n\n"


def test_forcing_sequence_per_row(tok):
    proc = thinking.ThinkingBudget(tok, 3)
    start, end = proc.start_id, proc.end_id
    nl, nlnl = proc.before_end[0], proc.after_end[0]
    a, b = tok.encode("7"), tok.encode("+")
    prompt = tok.encode("<|im_start|>assistant\n")
    rows = [
        prompt + [start] + a + b,            # 2 thinking tokens: under budget
        prompt + [start] + a + b + a,        # 3: budget reached -> "\n"
        prompt + [start] + a + b + a + [nl],  # forced "\n" is there -> </think>
        prompt + [start] + a + b + a + [nl, end],  # -> "\n\n"
        prompt + [start] + a + b + a + [nl, end, nlnl],  # done: the model answers
        prompt + [start] + [nl, end, nlnl] + a,  # closed early by the model itself: untouched
        prompt + a + b + a + a,              # no think block at all: untouched
    ]
    width = max(map(len, rows))
    rows = [[tok.pad_token_id] * (width - len(r)) + r for r in rows]  # left padding, as in a batch
    assert _forced(proc, rows) == [None, nl, end, nlnl, None, None, None]


def test_thinking_off_prompt_is_left_alone(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True,
                                   enable_thinking=False)
    ids = tok.encode(text)
    assert _forced(thinking.ThinkingBudget(tok, 0), [ids]) == [None]


def test_negative_budget_is_named(tok):
    with pytest.raises(LabError, match="budget=-1"):
        thinking.ThinkingBudget(tok, -1)


def _tokens_to_close(rows: list[list[int]], end_id: int) -> list[int]:
    return [r.index(end_id) + 1 if end_id in r else 10**6 for r in rows]


@pytest.mark.model
@pytest.mark.parametrize("sampled", [False, True])
def test_budget_closes_the_block_on_the_nano_model_batched(mt, sampled):
    model, tok = mt
    problems = nano_eval.eval_problems(6, seed=3, levels=(4,))
    convs = [[{"role": "user", "content": f"What is {p.text}?"}] for p in problems]
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True, enable_thinking=True)
             for c in convs]
    side, tok.padding_side = tok.padding_side, "left"
    enc = tok(texts, return_tensors="pt", padding=True)
    tok.padding_side = side
    gen = dict(max_new_tokens=120, pad_token_id=tok.pad_token_id)
    gen.update(dict(do_sample=True, temperature=0.6, top_p=0.95, top_k=20) if sampled else dict(do_sample=False))
    end = tok.convert_tokens_to_ids("</think>")
    width = enc["input_ids"].shape[1]

    torch.manual_seed(0)
    free = model.generate(**enc, **gen)[:, width:].tolist()
    budget = 10
    assert min(_tokens_to_close(free, end)) > budget + 3  # without a budget the model thinks longer
    proc = thinking.ThinkingBudget(tok, budget)
    torch.manual_seed(0)
    capped = model.generate(**enc, logits_processor=LogitsProcessorList([proc]), **gen)[:, width:].tolist()
    assert all(n <= budget + 3 for n in _tokens_to_close(capped, end))
    for row in capped:  # after the forced close the model answers, with the problem's numbers
        text = tok.decode(row, skip_special_tokens=True)
        assert "</think>\n\n" in text and text.split("</think>\n\n", 1)[1].strip()


@pytest.mark.model
def test_budget_curve_rows(mt):
    model, tok = mt
    rows = thinking.budget_curve(model, tok, [0, None], n=8, seed=1, progress=False)
    assert [r["budget"] for r in rows] == [0, None]
    assert rows[0]["mean_new_tokens"] < rows[1]["mean_new_tokens"]
    assert rows[0]["accuracy"] <= rows[1]["accuracy"]


def test_progress_bars_follow_the_hub_switch(mt, capsys):
    """The bars of mode_table show unless bars are turned off (labkit.models.quiet_progress_bars, papermill)."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    model, tok = mt
    try:
        thinking.mode_table(model, tok, n=1, levels=(1,), max_new_tokens=4)
        assert "levels × modes" in capsys.readouterr().err
        disable_progress_bars()
        rows = thinking.mode_table(model, tok, n=1, levels=(1,), max_new_tokens=4)
        assert "levels × modes" not in capsys.readouterr().err and len(rows) == 2
    finally:
        enable_progress_bars()


def test_switching_facts_have_sources():
    for name, row in thinking.SWITCHING.items():
        assert row["source"] and row["quote"], name
    assert thinking.SWITCHING["Qwen3 (2504, hybrid)"]["soft_switches"] is True
    assert not any(r["soft_switches"] for k, r in thinking.SWITCHING.items() if "2507" in k)
