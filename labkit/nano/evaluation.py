"""Evaluation of the nano Qwen3 (and of any model with a Qwen3-style chat template) as code.

* :func:`evaluate`: held-out arithmetic problems of :mod:`labkit.nano.curriculum`'s curriculum (or the
  held-out doubling skill), greedy or sampled, scored by :func:`is_correct`, with the share of
  well-formed think blocks and the accuracy by level.
* :func:`evaluate_tools`: held-out problems outside the model's own skill, run through the
  course's agent loop with the calculator offered or not.

The notebooks compare a quantized, fine-tuned or served model with the original through these;
``bench/nano_benchmark.py`` writes the model card from them.

Used in notebooks 06, 10, 11.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

from labkit.errors import LabError
from labkit.generation import Reply, generate_batch
from labkit.lessons import agent
from labkit.lessons import tools as T
from labkit.nano.curriculum import (
    LEVELS,
    OPS,
    TOOL_KINDS,
    Problem,
    ToolProblem,
    double_sample,
    question,
    sample_problem,
    sample_tool_problem,
)

_INT = re.compile(r"-?\d+")


def is_correct(answer: str, expected: int) -> bool:
    """The course's rule for a right answer: the last integer written in ``answer`` equals ``expected``."""
    nums = _INT.findall(answer)
    return bool(nums) and int(nums[-1]) == expected


def _format_ok(text: str, thinking: bool) -> bool:
    if thinking:
        m = re.fullmatch(r"<think>\n(.+?)\n</think>\n\n(.+)", text, flags=re.S)
        return bool(m) and "<think>" not in m.group(1) and "think>" not in m.group(2) and m.group(2).strip() != ""
    return "<think>" not in text and "</think>" not in text and text.strip() != ""


@dataclass
class EvalResult:
    task: str
    thinking: bool
    n: int
    accuracy: float
    format_ok: float
    mean_new_tokens: float
    tokens_per_second: float
    by_level: dict[int, float]
    examples: list[dict[str, Any]]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def summary(self) -> str:
        mode = "thinking" if self.thinking else "no thinking"
        return (f"{self.task} ({mode}, n={self.n}): accuracy {self.accuracy:.1%}, "
                f"format_ok {self.format_ok:.1%}, {self.mean_new_tokens:.0f} new tokens on average")


def eval_problems(n: int, seed: int = 0, levels: Iterable[int] = LEVELS) -> list[Problem]:
    """``n`` held-out problems, spread evenly over ``levels`` and both operations."""
    rng = random.Random(10_000 + seed)
    levels = list(levels)
    return [sample_problem(rng, held_out=True, level=levels[i % len(levels)], op=OPS[(i // len(levels)) % 2])
            for i in range(n)]


def evaluate(model, tokenizer, *, thinking: bool, n: int = 200, seed: int = 0,
             levels: Iterable[int] = LEVELS, task: str = "arithmetic", batch_size: int = 50,
             max_new_tokens: int | None = None, progress: bool = True, **generate_kwargs) -> EvalResult:
    """Generate ``n`` fresh held-out problems from ``seed`` and score the model's answers.

    Works on any causal LM whose tokenizer has a Qwen3-style chat template (it is
    how the notebooks compare a quantized or fine-tuned model with the original).
    Greedy unless sampling arguments (``do_sample=True, temperature=...``) are given.
    The replies come from :func:`labkit.generate_batch`, ``batch_size`` conversations at a time.

    ``task="arithmetic"``: the reasoning task; ``task="double"``: the held-out skill
    (``Double 47.``; correct means the last number of the answer is 94).

    Returns an :class:`EvalResult` with ``accuracy``, ``format_ok`` (the share of
    outputs whose think block is well formed for the mode), ``by_level`` and examples.
    """
    import torch
    from huggingface_hub.utils import tqdm  # tqdm.auto, off where labkit.models.quiet_progress_bars turned bars off

    if n <= 0:
        raise LabError(f"n={n} problems cannot be evaluated.", "pass n >= 1.")
    rng = random.Random(seed)
    if task == "arithmetic":
        problems = eval_problems(n, seed, levels)
        convs = [[{"role": "user", "content": question(p, rng, lang="en")}] for p in problems]
    elif task == "double":
        samples = [double_sample(rng, held_out=True, thinking=bool(thinking)) for _ in range(n)]
        problems = [Problem(s.meta["expected"] // 2, "+", s.meta["expected"] // 2, s.meta["level"]) for s in samples]
        convs = [s.messages for s in samples]
    else:
        raise LabError(f"unknown task {task!r}.", "use task='arithmetic' or task='double'.")
    if max_new_tokens is None:
        max_new_tokens = 160 if thinking else 40
    gen = {"do_sample": False, "max_new_tokens": max_new_tokens, **generate_kwargs}
    if gen.get("do_sample"):
        torch.manual_seed(seed)
    else:
        gen.update(temperature=None, top_p=None, top_k=None)

    replies: list[Reply] = []
    t0 = time.perf_counter()
    for start in tqdm(range(0, n, batch_size), desc=f"evaluate {task} thinking={thinking}", disable=not progress,
                      leave=False):
        replies += generate_batch(model, tokenizer, convs[start:start + batch_size], thinking=thinking, **gen)
    seconds = time.perf_counter() - t0
    new_tokens = sum(r.new_tokens for r in replies)

    correct, fmt, examples = [], [], []
    for p, conv, reply in zip(problems, convs, replies):
        ok = is_correct(reply.answer, p.answer)
        correct.append(ok)
        fmt.append(_format_ok(reply.text, thinking))
        if len(examples) < 5:
            examples.append({"question": conv[-1]["content"], "expected": p.answer, "output": reply.text,
                             "correct": ok})
    by_level: dict[int, list[bool]] = {}
    for p, ok in zip(problems, correct):
        by_level.setdefault(p.level, []).append(ok)
    return EvalResult(task, bool(thinking), n, sum(correct) / n, sum(fmt) / n, new_tokens / n,
                      new_tokens / seconds if seconds > 0 else float("nan"),
                      {k: sum(v) / len(v) for k, v in sorted(by_level.items())}, examples)


# --------------------------------------------------------------------------- evaluation of tool use
@dataclass
class ToolEvalResult:
    """What :func:`evaluate_tools` measured.

    ``accuracy``: the final answer's last number is right (with tools: after the tool's
    response).  ``call_format_ok``: the first reply is a well-formed think block for the mode
    followed by exactly one valid ``calculator`` call and nothing else (with ``tools=False``:
    a well-formed reply with no call).  ``call_correct``: the call's expression has the right
    value.  ``mean_new_tokens`` counts both turns.
    """
    thinking: bool
    tools: bool
    n: int
    accuracy: float
    call_format_ok: float
    call_correct: float
    mean_new_tokens: float
    by_kind: dict[str, float]
    examples: list[dict[str, Any]]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def summary(self) -> str:
        mode = "thinking" if self.thinking else "no thinking"
        offered = "calculator offered" if self.tools else "no tools"
        return (f"tool problems ({mode}, {offered}, n={self.n}): accuracy {self.accuracy:.1%}, "
                f"call format ok {self.call_format_ok:.1%}, call correct {self.call_correct:.1%}, "
                f"{self.mean_new_tokens:.0f} new tokens on average")


def tool_eval_problems(n: int, seed: int = 0, kinds: Iterable[str] = TOOL_KINDS) -> list[ToolProblem]:
    """``n`` held-out tool problems, alternating over ``kinds``."""
    rng = random.Random(20_000 + seed)
    kinds = list(kinds)
    return [sample_tool_problem(rng, held_out=True, kind=kinds[i % len(kinds)]) for i in range(n)]


def evaluate_tools(model, tokenizer, *, thinking: bool, n: int = 200, seed: int = 0, tools: bool = True,
                   kinds: Iterable[str] = TOOL_KINDS, batch_size: int = 50, max_new_tokens: int | None = None,
                   **generate_kwargs) -> ToolEvalResult:
    """Score the model on ``n`` held-out problems outside its own skill (``12 × 345``, sums of many numbers).

    Runs the course's agent loop (:func:`labkit.lessons.agent.run_batch` on a :class:`labkit.lessons.agent.LocalModel`,
    the one generation path) with at most one tool call: ``tools=True`` offers
    :func:`labkit.lessons.tools.calculator` through the chat template, runs the call and gets the final
    answer from the conversation that continues with the ``role: tool`` message; ``tools=False``
    asks the same questions with no tools (the model must answer on its own, and a call it writes
    anyway is not run).  Greedy unless sampling arguments are given.
    """
    import torch

    if n <= 0:
        raise LabError(f"n={n} problems cannot be evaluated.", "pass n >= 1.")
    rng = random.Random(seed)
    problems = tool_eval_problems(n, seed, kinds)
    questions = [question(p, rng, lang="en") for p in problems]
    if max_new_tokens is None:
        max_new_tokens = (100 if tools else 160) if thinking else (60 if tools else 40)
    if generate_kwargs.get("do_sample"):
        torch.manual_seed(seed)
    backend = agent.LocalModel(model, tokenizer, max_new_tokens=max_new_tokens, batch_size=batch_size,
                               **generate_kwargs)
    runs = agent.run_batch(backend, questions, tools=(T.calculator,) if tools else (), thinking=thinking,
                           max_calls=1 if tools else 0)

    correct, fmt, call_ok, examples, new_tokens = [], [], [], [], 0
    for p, q, run in zip(problems, questions, runs):
        first, last = run.steps[0].turn, run.steps[-1].turn
        new_tokens += sum(s.turn.new_tokens or 0 for s in run.steps)
        final = run.answer if run.outcome == "answered" else None
        correct.append(final is not None and is_correct(final, p.answer))
        think_ok = _format_ok(first.raw, thinking) if thinking else "<think>" not in first.raw
        answer_text = agent.split_think(first.raw)[1]
        fmt.append(think_ok and (T.is_single_valid_call(answer_text) if tools else "<tool_call>" not in first.raw))
        value = None
        if tools and len(first.calls) == 1 and first.calls[0].name == "calculator":
            try:
                value = T.safe_eval(first.calls[0].arguments.get("expression", ""))
            except ValueError:
                value = None
        call_ok.append(value == p.answer)
        if len(examples) < 5:
            examples.append({"question": q, "expected": p.answer, "output": first.raw,
                             "final": last.raw if run.replies > 1 else None, "correct": correct[-1]})
    by_kind: dict[str, list[bool]] = {}
    for p, ok in zip(problems, correct):
        by_kind.setdefault(p.kind, []).append(ok)
    return ToolEvalResult(bool(thinking), bool(tools), n, sum(correct) / n, sum(fmt) / n, sum(call_ok) / n,
                          new_tokens / n, {k: sum(v) / len(v) for k, v in by_kind.items()}, examples)
