"""Thinking mode: a working thinking budget, and measurements of what thinking buys.

* :class:`ThinkingBudget`: the ``transformers.LogitsProcessor`` that notebook 04 writes in full (section 7),
  as a function of the course: once a batch row has written ``budget`` tokens after its last ``<think>``
  without closing it, the next tokens are forced to be ``"\\n</think>\\n\\n"`` (ids looked up from the
  tokenizer), one per step; then the model answers.  Pass it to
  ``generate(logits_processor=LogitsProcessorList([ThinkingBudget(tok, 64)]))``; it works with batched
  greedy and sampled decoding.
* :func:`problems_per_level`, :func:`measure`: held-out arithmetic problems, ``n`` per level, generated in
  one left-padded batch and scored one by one (level, right or wrong, new tokens, reasoning finished).
* :func:`mode_table`: accuracy and tokens per difficulty level, thinking on vs off, from :func:`measure`.
* :data:`SWITCHING`: which Qwen3 releases can switch thinking on and off, with sources.

``generate(thinking_budget=512)``, as some tutorials write it, is not a transformers argument:
``generate()`` rejects unknown keyword arguments.  A budget has to be enforced while the tokens are
generated, by a logits processor like this one, or by two calls (Qwen's ``thinking_budget.md``).

Used in notebook 04.
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from labkit.errors import LabError
from labkit.generation import generate_batch
from labkit.nano.curriculum import LEVELS, Problem, question
from labkit.nano.evaluation import eval_problems, is_correct

try:  # transformers is a dependency of the course; keep the import error readable
    from transformers import LogitsProcessor
except ImportError as exc:  # pragma: no cover
    raise LabError("transformers is not installed.", "pip install -e . (or the Colab install cell)") from exc

THINK_START = "<think>"
THINK_END = "</think>"
CLOSE_TEXT = "\n</think>\n\n"

# Which Qwen3 releases let you switch thinking on and off (data, each with its source and the source's words).
_README = "QwenLM/Qwen3@4d9f43e9ffc587202fb2225ca9e250761a2a28e3 README.md"
SWITCHING: dict[str, dict[str, Any]] = {
    "Qwen3 (2504, hybrid)": {
        "models": "Qwen3-0.6B, 1.7B, 4B, 8B, 14B, 32B, 30B-A3B, 235B-A22B",
        "enable_thinking": True, "soft_switches": True,
        "quote": "Passing enable_thinking=False to `tokenizer.apply_chat_template` will strictly prevent the model "
                 "from generating thinking content. [...] /think and /no_think instructions: Use those words in "
                 "the system or user message to signify whether Qwen3 should think. In multi-turn conversations, "
                 "the latest instruction is followed.",
        "source": f"{_README}, 'Switching Thinking/Non-thinking Modes for Previous Qwen3 Models'",
    },
    "Qwen3-Instruct-2507": {
        "models": "Qwen3-235B-A22B-Instruct-2507, Qwen3-30B-A3B-Instruct-2507, Qwen3-4B-Instruct-2507",
        "enable_thinking": False, "soft_switches": False,
        "quote": "Qwen3-Instruct-2507 supports only non-thinking mode and does not generate <think></think> blocks "
                 "in its output. Meanwhile, specifying `enable_thinking=False` is no longer required.",
        "source": f"{_README}, 'Qwen3-Instruct-2507'",
    },
    "Qwen3-Thinking-2507": {
        "models": "Qwen3-235B-A22B-Thinking-2507, Qwen3-30B-A3B-Thinking-2507, Qwen3-4B-Thinking-2507",
        "enable_thinking": False, "soft_switches": False,
        "quote": "Qwen3-Thinking-2507 supports only thinking mode. Additionally, to enforce model thinking, the "
                 "default chat template automatically includes `<think>`. Therefore, it is normal for the model's "
                 "output to contain only `</think>` without an explicit opening `<think>` tag.",
        "source": f"{_README}, 'Qwen3-Thinking-2507'",
    },
}


def _single_id(tokenizer, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids([token])
    if not ids or ids[0] is None or ids[0] == tokenizer.unk_token_id:
        raise LabError(f"the tokenizer has no {token!r} token.", "use a Qwen3 tokenizer (thinking models).")
    return int(ids[0])


class ThinkingBudget(LogitsProcessor):
    """Close the think block after ``budget`` thinking tokens, per batch row (notebook 04, section 7).

    A row's thinking tokens are those after its last ``<think>`` (the prompt counts too, so a template
    that opens the block in the prompt works).  When a row has ``budget`` of them and none is
    ``</think>``, the next tokens are forced to be ``"\\n</think>\\n\\n"``, one per step; then the row
    is left alone and the model answers.  At most ``budget + 3`` tokens are generated up to
    ``</think>`` (``<think>``, the budget, ``\\n``, ``</think>``).  A row whose think block was closed
    within the budget, or that has no ``<think>`` (thinking off writes an empty block in the prompt,
    which is closed), is never touched.

    Forcing sets every other logit to ``-inf``, so it holds for greedy search and for sampling
    (temperature, top-k and top-p run after the custom processors in ``generate()`` and keep the
    single finite logit).
    """

    def __init__(self, tokenizer, budget: int):
        if budget < 0:
            raise LabError(f"budget={budget} is negative.", "pass a number of thinking tokens >= 0.")
        self.budget = int(budget)
        self.start_id = _single_id(tokenizer, THINK_START)
        self.end_id = _single_id(tokenizer, THINK_END)
        self.close = tokenizer.encode(CLOSE_TEXT, add_special_tokens=False)
        if self.close.count(self.end_id) != 1:
            raise LabError(f"{CLOSE_TEXT!r} does not tokenize with {THINK_END!r} as one token.",
                           "use a Qwen3 tokenizer.")
        cut = self.close.index(self.end_id)
        self.before_end = self.close[:cut]      # e.g. ['\n']
        self.after_end = self.close[cut + 1:]   # e.g. ['\n\n']
        self.forced = 0                         # how many tokens this processor has forced (all calls)

    def __repr__(self) -> str:
        return f"ThinkingBudget(budget={self.budget}, close={self.close})"

    def forced_token(self, row: list[int]) -> int | None:
        """The token ``row`` (prompt and generated ids) must write next, or None to leave it alone."""
        if self.start_id not in row:
            return None
        start = len(row) - row[::-1].index(self.start_id)   # the first position after the last <think>
        block = row[start:]
        if len(block) < self.budget or self.end_id in block[:self.budget]:
            return None                                       # within the budget, or closed in time
        done = block[self.budget:]                            # what was written past the budget
        if len(done) < len(self.close) and done == self.close[:len(done)]:
            return self.close[len(done)]
        return None

    def __call__(self, input_ids, scores):
        for b, row in enumerate(input_ids.tolist()):
            token = self.forced_token(row)
            if token is not None:
                scores[b, :] = float("-inf")
                scores[b, token] = 0.0
                self.forced += 1
        return scores


def budget_processor(tokenizer, budget: int | None):
    """``LogitsProcessorList([ThinkingBudget(tokenizer, budget)])``, or an empty list for ``None`` (no limit)."""
    from transformers import LogitsProcessorList

    return LogitsProcessorList([] if budget is None else [ThinkingBudget(tokenizer, budget)])


# --------------------------------------------------------------------------- measurements
def problems_per_level(n: int, seed: int = 0, levels: Iterable[int] = LEVELS) -> list[Problem]:
    """``n`` held-out problems of each level (:func:`labkit.nano.evaluation.eval_problems`, level by level).

    The problems of one level do not depend on the other levels asked for: the level-4 problems of
    ``problems_per_level(8, 0)`` are ``problems_per_level(8, 0, levels=(4,))``.
    """
    if n <= 0:
        raise LabError(f"n={n} problems per level cannot be measured.", "pass n >= 1.")
    return [p for level in levels for p in eval_problems(n, seed, levels=(level,))]


def ask(problem: Problem, seed: int = 0) -> str:
    """The question for ``problem`` in English, worded the same whatever else is asked with it."""
    return question(problem, random.Random(f"{seed}:{problem.text}"), lang="en")


def measure(model, tokenizer, problems: list[Problem], *, thinking: bool, seed: int = 0, batch_size: int = 64,
            **generate_kwargs) -> list[dict[str, Any]]:
    """Ask every problem (in English, its wording drawn from ``seed`` and the problem) and score each answer.

    The conversations go through :func:`labkit.generate_batch` (left-padded batches of ``batch_size``);
    ``generate_kwargs`` go to ``generate()`` (``max_new_tokens``, sampling settings, ``logits_processor``).
    When they sample, ``torch.manual_seed(seed)`` comes first, so a run is reproducible on the same
    machine.  Returns one row per problem: ``level``, ``correct`` (the course's rule,
    :func:`labkit.nano.evaluation.is_correct`), ``new_tokens`` and ``finished`` (``</think>`` written;
    always False with thinking off).
    """
    import torch

    convs = [[{"role": "user", "content": ask(p, seed)}] for p in problems]
    if generate_kwargs.get("do_sample"):
        torch.manual_seed(seed)
    replies = []
    for start in range(0, len(convs), batch_size):
        replies += generate_batch(model, tokenizer, convs[start:start + batch_size], thinking=thinking,
                                  **generate_kwargs)
    return [{"level": p.level, "correct": is_correct(r.answer, p.answer), "new_tokens": r.new_tokens,
             "finished": r.finished_thinking} for p, r in zip(problems, replies)]


def summarize(rows: list[dict[str, Any]], **labels: Any) -> dict[str, Any]:
    """One summary row of :func:`measure` rows: ``labels``, ``accuracy``, ``mean_new_tokens``, ``finished``."""
    n = len(rows)
    return {**labels, "accuracy": sum(r["correct"] for r in rows) / n,
            "mean_new_tokens": sum(r["new_tokens"] for r in rows) / n,
            "finished": sum(r["finished"] for r in rows) / n}


def mode_table(model, tokenizer, n: int = 16, seed: int = 0, *, levels: Iterable[int] = LEVELS,
               think_kwargs: dict[str, Any] | None = None, no_think_kwargs: dict[str, Any] | None = None,
               batch_size: int = 64) -> list[dict[str, Any]]:
    """Accuracy and mean new tokens per difficulty level, thinking on and off, on the same problems.

    ``n`` problems per level (:func:`problems_per_level`), one :func:`measure` per mode (all levels in one
    batch when ``batch_size`` allows); ``think_kwargs`` / ``no_think_kwargs`` go to ``generate()``
    (e.g. ``max_new_tokens`` and Qwen's sampling for the mode).  Returns rows
    ``{"level", "thinking", "accuracy", "mean_new_tokens", "finished"}`` (level by level, off then on).
    """
    problems = problems_per_level(n, seed, levels)
    runs = {thinking: measure(model, tokenizer, problems, thinking=thinking, seed=seed, batch_size=batch_size,
                              **((think_kwargs if thinking else no_think_kwargs) or {}))
            for thinking in (False, True)}
    return [summarize([r for r in runs[thinking] if r["level"] == level], level=level, thinking=thinking)
            for level in levels for thinking in (False, True)]


# --------------------------------------------------------------------------- plots
def plot_mode_table(rows: list[dict[str, Any]]):
    """Two panels: accuracy and new tokens per level, thinking off vs on (grouped bars)."""
    import matplotlib.pyplot as plt

    levels = sorted({r["level"] for r in rows})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    for offset, thinking, color in ((-0.2, False, "tab:red"), (0.2, True, "tab:blue")):
        sel = {r["level"]: r for r in rows if r["thinking"] == thinking}
        label = "thinking on" if thinking else "thinking off"
        a1.bar([lv + offset for lv in levels], [sel[lv]["accuracy"] for lv in levels], 0.4, color=color, label=label)
        a2.bar([lv + offset for lv in levels], [sel[lv]["mean_new_tokens"] for lv in levels], 0.4, color=color,
               label=label)
    a1.set(xlabel="level (digits)", ylabel="accuracy", ylim=(0, 1.05), xticks=levels)
    a2.set(xlabel="level (digits)", ylabel="new tokens per answer", xticks=levels)
    fig.legend(*a1.get_legend_handles_labels(), loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def plot_budget_curve(rows: list[dict[str, Any]], *, no_limit: dict[str, Any] | None = None,
                      no_thinking: dict[str, Any] | None = None):
    """Two panels: budget -> accuracy, budget -> mean new tokens; ``no_limit`` (thinking, no budget) and
    ``no_thinking`` as horizontal lines."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    xs = [r["budget"] for r in rows]
    a1.plot(xs, [r["accuracy"] for r in rows], "o-", label="thinking, budget")
    a2.plot(xs, [r["mean_new_tokens"] for r in rows], "o-", label="thinking, budget")
    for row, color, ls, label in ((no_limit, "tab:green", "--", "thinking, no limit"),
                                  (no_thinking, "tab:red", ":", "thinking off")):
        if row:
            a1.axhline(row["accuracy"], color=color, ls=ls, label=label)
            a2.axhline(row["mean_new_tokens"], color=color, ls=ls, label=label)
    a1.set(xlabel="thinking budget (tokens)", ylabel="accuracy", ylim=(-0.02, 1.02))
    a2.set(xlabel="thinking budget (tokens)", ylabel="new tokens per answer")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
    fig.legend(*a1.get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig
