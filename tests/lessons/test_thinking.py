"""labkit.lessons.thinking: the thinking budget really closes the think block, per row, greedy and sampled; it is
the processor notebook 04 writes in full; the measurements ask the same problems whatever else they ask."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

import labkit
from labkit.errors import LabError
from labkit.lessons import thinking
from labkit.nano import evaluation as nano_eval

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_thinking_mode.ipynb"


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


@pytest.fixture(scope="module")
def tok():
    return labkit.load_tokenizer("qwen3")


def notebook_budget_class() -> type:
    """The ``ThinkingBudget`` class notebook 04 defines (section 7), executed from the notebook's own cell."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    source = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"
              and "class ThinkingBudget(LogitsProcessor)" in "".join(c["source"])]
    assert len(source) == 1, "notebook 04 defines ThinkingBudget in one cell"
    namespace = {"LogitsProcessor": LogitsProcessor}
    exec(compile(source[0], str(NOTEBOOK), "exec"), namespace)  # noqa: S102 (the notebook's own cell)
    return namespace["ThinkingBudget"]


def _forced(proc, ids: list[list[int]]) -> list[int | None]:
    """The token the processor forces for each row (None: left alone)."""
    scores = torch.zeros(len(ids), 151936)
    out = proc(torch.tensor(ids), scores)
    return [int(row.argmax()) if torch.isinf(row).sum() == row.numel() - 1 else None for row in out]


@pytest.mark.model
def test_close_sequence_is_looked_up(tok):
    proc = thinking.ThinkingBudget(tok, 8)
    assert proc.end_id == tok.convert_tokens_to_ids("</think>") == 151668
    assert tok.decode(proc.close) == "\n</think>\n\n" and len(proc.close) == 3
    assert proc.before_end + [proc.end_id] + proc.after_end == proc.close


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


@pytest.mark.parametrize("budget", [0, 1, 2, 16])
def test_thinking_off_prompt_is_left_alone(tok, budget):
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True,
                                   enable_thinking=False)
    ids = tok.encode(text)
    assert _forced(thinking.ThinkingBudget(tok, budget), [ids]) == [None]
    assert _forced(notebook_budget_class()(tok, budget), [ids]) == [None]


def test_negative_budget_is_named(tok):
    with pytest.raises(LabError, match="budget=-1"):
        thinking.ThinkingBudget(tok, -1)


def test_the_notebooks_processor_forces_what_labkits_does(tok):
    """The class notebook 04 writes and labkit's version force the same token for every row: random rows of
    thinking tokens, the close sequence and padding, at every budget up to past their length."""
    Notebook = notebook_budget_class()
    rng = random.Random(0)
    lab = thinking.ThinkingBudget(tok, 0)
    pieces = tok.encode("7+9+0=16, carry 1 → 6") + lab.close + [lab.start_id, lab.end_id]
    rows = []
    for _ in range(300):
        row = [rng.choice(pieces) for _ in range(rng.randint(0, 14))]
        if rng.random() < 0.7:
            row = row[:rng.randint(0, len(row))] + [lab.start_id] + row[rng.randint(0, len(row)):]
        if rng.random() < 0.3:   # a close sequence written in full or in part
            row += lab.close[:rng.randint(1, 3)]
        rows.append(row)
    for budget in range(12):
        ours, theirs = Notebook(tok, budget), thinking.ThinkingBudget(tok, budget)
        for row in rows:
            assert ours.forced_token(row) == theirs.forced_token(row), (budget, row)


def _tokens_to_close(rows: list[list[int]], end_id: int) -> list[int]:
    return [r.index(end_id) + 1 if end_id in r else 10**6 for r in rows]


def _level4_batch(tok, n: int = 6, seed: int = 3):
    texts = [tok.apply_chat_template([{"role": "user", "content": thinking.ask(p, seed)}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=True)
             for p in nano_eval.eval_problems(n, seed=seed, levels=(4,))]
    return tok(texts, return_tensors="pt", padding=True, padding_side="left")


@pytest.mark.model
@pytest.mark.parametrize("sampled", [False, True])
def test_budget_closes_the_block_on_the_nano_model_batched(mt, sampled):
    model, tok = mt
    enc = _level4_batch(tok)
    gen = {"max_new_tokens": 120, "pad_token_id": tok.pad_token_id}
    gen.update({"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20} if sampled else {"do_sample": False})
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
    for row in capped:  # after the forced close the model answers
        text = tok.decode(row, skip_special_tokens=True)
        assert "</think>\n\n" in text and text.split("</think>\n\n", 1)[1].strip()


@pytest.mark.model
def test_the_notebooks_processor_generates_what_labkits_does(mt):
    model, tok = mt
    enc = _level4_batch(tok, n=4)
    outs = [model.generate(**enc, max_new_tokens=60, do_sample=False, pad_token_id=tok.pad_token_id,
                           logits_processor=LogitsProcessorList([cls(tok, 12)]))
            for cls in (notebook_budget_class(), thinking.ThinkingBudget)]
    assert torch.equal(*outs)


def test_problems_per_level_do_not_depend_on_the_other_levels():
    both = thinking.problems_per_level(3, seed=1, levels=(1, 4))
    assert [p.level for p in both] == [1, 1, 1, 4, 4, 4]
    assert both[3:] == thinking.problems_per_level(3, seed=1, levels=(4,))
    assert all(thinking.ask(p, 1) == thinking.ask(p, 1) for p in both)
    assert thinking.ask(both[0], 1).count(str(both[0].a)) >= 1
    with pytest.raises(LabError):
        thinking.problems_per_level(0)


@pytest.mark.model
def test_mode_table_rows(mt):
    model, tok = mt
    rows = thinking.mode_table(model, tok, n=4, seed=1, levels=(1, 4), think_kwargs={"max_new_tokens": 120},
                               no_think_kwargs={"max_new_tokens": 40})
    assert [(r["level"], r["thinking"]) for r in rows] == [(1, False), (1, True), (4, False), (4, True)]
    by = {(r["level"], r["thinking"]): r for r in rows}
    assert by[4, True]["mean_new_tokens"] > by[4, False]["mean_new_tokens"]
    assert by[4, True]["finished"] == 1.0 and by[4, False]["finished"] == 0.0
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)


def test_switching_facts_have_sources():
    for name, row in thinking.SWITCHING.items():
        assert row["source"] and row["quote"], name
    assert thinking.SWITCHING["Qwen3 (2504, hybrid)"]["soft_switches"] is True
    assert not any(r["soft_switches"] for k, r in thinking.SWITCHING.items() if "2507" in k)
