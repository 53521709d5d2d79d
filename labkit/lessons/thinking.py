"""Thinking mode: a working thinking budget, and measurements of what thinking buys.

* :class:`ThinkingBudget`: a ``transformers.LogitsProcessor``.  Per batch row it
  counts the tokens after the last ``<think>``; once ``budget`` is reached
  before ``</think>``, it forces the tokens of ``"\\n</think>\\n\\n"`` (ids looked
  up from the tokenizer) and then lets the model answer.  Pass it to
  ``generate(logits_processor=LogitsProcessorList([ThinkingBudget(tok, 64)]))``;
  it works with batched greedy and sampled decoding.
* :func:`budget_curve`: accuracy and tokens spent per budget, measured with
  :func:`labkit.nano.evaluation.evaluate`.
* :func:`mode_table`: accuracy and tokens per difficulty level, thinking on vs off.
* :data:`SWITCHING`: which Qwen3 releases can switch thinking on and off, with sources.

``generate(thinking_budget=512)``, as some tutorials write it, is not a
transformers argument: ``generate()`` rejects unknown keyword arguments.  A
budget has to be enforced by a logits processor like this one (or by the
serving engine).

Used in notebook 04.
"""
from __future__ import annotations

from typing import Any, Iterable

from labkit.errors import LabError
from labkit.nano.evaluation import evaluate

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
    """Close the think block after ``budget`` thinking tokens, per batch row.

    The thinking tokens of a row are those after its last ``<think>`` while no
    ``</think>`` follows it (the prompt counts too, so a template that opens the
    block in the prompt works).  When a row has spent ``budget`` of them, the
    processor forces ``"\\n</think>\\n\\n"`` token by token (skipping the leading
    newline when the thinking already ends with it) and then leaves the row
    alone: the model writes its answer.  At most ``budget + 3`` tokens are
    generated up to ``</think>`` (``<think>``, the budget, ``\\n``, ``</think>``).

    Forcing sets every other logit to ``-inf``, so it holds for greedy search
    and for sampling (temperature/top-k/top-p run after custom processors in
    ``generate()`` and keep the single finite logit).
    """

    def __init__(self, tokenizer, budget: int):
        if budget < 0:
            raise LabError(f"budget={budget} is negative.", "pass a number of thinking tokens >= 0.")
        self.budget = int(budget)
        self.start_id = _single_id(tokenizer, THINK_START)
        self.end_id = _single_id(tokenizer, THINK_END)
        close = tokenizer.encode(CLOSE_TEXT, add_special_tokens=False)
        if self.end_id not in close:
            raise LabError(f"{CLOSE_TEXT!r} does not tokenize with {THINK_END!r} as one token.",
                           "use a Qwen3 tokenizer.")
        cut = close.index(self.end_id)
        self.before_end = close[:cut]      # e.g. ['\n']
        self.after_end = close[cut + 1:]   # e.g. ['\n\n']
        self.forced = 0                    # how many tokens this processor has forced (all calls)

    def __repr__(self) -> str:
        return f"ThinkingBudget(budget={self.budget}, close={self.before_end + [self.end_id] + self.after_end})"

    def _next_forced(self, row: list[int], last_start: int, last_end: int) -> int | None:
        n = len(row)
        if last_start > last_end:  # inside an open think block
            spent = n - 1 - last_start
            if spent < self.budget:
                return None
            # how much of the newline(s) before </think> is already there?
            for k in range(len(self.before_end), 0, -1):
                if row[n - k:] == self.before_end[:k]:
                    return self.before_end[k] if k < len(self.before_end) else self.end_id
            return self.before_end[0] if self.before_end else self.end_id
        if last_end > last_start >= 0:  # a closed block: finish the forced tail after </think>
            block = last_end - last_start - 1
            done = n - 1 - last_end
            if block >= self.budget and done < len(self.after_end) and row[last_end + 1:] == self.after_end[:done]:
                return self.after_end[done]
        return None

    def __call__(self, input_ids, scores):
        import torch

        ids = input_ids
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        none = torch.full_like(pos, -1)
        last_start = torch.where(ids == self.start_id, pos, none).max(dim=1).values.tolist()
        last_end = torch.where(ids == self.end_id, pos, none).max(dim=1).values.tolist()
        rows = None
        for b in range(ids.shape[0]):
            if last_start[b] < 0:
                continue
            if rows is None:
                rows = ids.tolist()
            forced = self._next_forced(rows[b], last_start[b], last_end[b])
            if forced is not None:
                scores[b, :] = float("-inf")
                scores[b, forced] = 0.0
                self.forced += 1
        return scores


def budget_processor(tokenizer, budget: int | None):
    """``LogitsProcessorList([ThinkingBudget(tokenizer, budget)])``, or an empty list for ``None`` (no limit)."""
    from transformers import LogitsProcessorList

    return LogitsProcessorList([] if budget is None else [ThinkingBudget(tokenizer, budget)])


def budget_curve(model, tokenizer, budgets: Iterable[int | None], n: int = 40, seed: int = 0, *,
                 levels: Iterable[int] = (4,), progress: bool = True, **generate_kwargs) -> list[dict[str, Any]]:
    """Accuracy and tokens spent for each thinking budget (``None`` = no budget).

    Each budget is one :func:`labkit.nano.evaluation.evaluate` run (thinking on, the same
    ``n`` held-out problems of ``levels`` from ``seed``) with a
    :class:`ThinkingBudget` passed as ``logits_processor``.  Returns rows
    ``{"budget", "accuracy", "format_ok", "mean_new_tokens"}``.
    """
    from huggingface_hub.utils import tqdm  # tqdm.auto, off where labkit.models.quiet_progress_bars turned bars off

    rows = []
    levels = tuple(levels)
    budgets = list(budgets)
    for b in tqdm(budgets, desc="thinking budgets", disable=not progress):
        r = evaluate(model, tokenizer, thinking=True, n=n, seed=seed, levels=levels, progress=False,
                     logits_processor=budget_processor(tokenizer, b), **generate_kwargs)
        rows.append({"budget": b, "accuracy": r.accuracy, "format_ok": r.format_ok,
                     "mean_new_tokens": r.mean_new_tokens})
    return rows


def mode_table(model, tokenizer, n: int = 40, seed: int = 0, *, levels: Iterable[int] = (1, 2, 3, 4),
               progress: bool = True, **generate_kwargs) -> list[dict[str, Any]]:
    """Accuracy and mean new tokens per difficulty level, thinking off and on.

    One :func:`labkit.nano.evaluation.evaluate` run per (level, mode) on the same ``n``
    held-out problems, so the token counts are per level.  Returns rows
    ``{"level", "thinking", "accuracy", "mean_new_tokens"}``.
    """
    from huggingface_hub.utils import tqdm  # tqdm.auto, off where labkit.models.quiet_progress_bars turned bars off

    runs = [(level, thinking) for level in levels for thinking in (False, True)]
    rows = []
    for level, thinking in tqdm(runs, desc="levels × modes", disable=not progress):
        r = evaluate(model, tokenizer, thinking=thinking, n=n, seed=seed, levels=(level,), progress=False,
                     **generate_kwargs)
        rows.append({"level": level, "thinking": thinking, "accuracy": r.accuracy,
                     "mean_new_tokens": r.mean_new_tokens})
    return rows


def plot_budget_curve(rows: list[dict[str, Any]], *, no_thinking: dict[str, Any] | None = None):
    """Two panels: budget -> accuracy, budget -> mean new tokens (``None`` drawn as 'no limit')."""
    import matplotlib.pyplot as plt

    limited = [r for r in rows if r["budget"] is not None]
    free = [r for r in rows if r["budget"] is None]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    xs = [r["budget"] for r in limited]
    a1.plot(xs, [r["accuracy"] for r in limited], "o-", label="thinking, budget")
    a2.plot(xs, [r["mean_new_tokens"] for r in limited], "o-", label="thinking, budget")
    for r in free:
        a1.axhline(r["accuracy"], color="tab:green", ls="--", label="thinking, no limit")
        a2.axhline(r["mean_new_tokens"], color="tab:green", ls="--", label="thinking, no limit")
    if no_thinking:
        a1.axhline(no_thinking["accuracy"], color="tab:red", ls=":", label="thinking off")
        a2.axhline(no_thinking["mean_new_tokens"], color="tab:red", ls=":", label="thinking off")
    a1.set(xlabel="thinking budget (tokens)", ylabel="accuracy", ylim=(-0.02, 1.02))
    a2.set(xlabel="thinking budget (tokens)", ylabel="new tokens per answer")
    for ax in (a1, a2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


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
    for ax in (a1, a2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def format_rows(rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    """A small text table (percentages for accuracy/format_ok, one decimal for token counts)."""
    columns = list(columns)

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "no limit"
        if key in ("accuracy", "format_ok"):
            return f"{value:.0%}"
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    table = [[cell(c, r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.rjust(w) for c, w in zip(columns, widths)),
             "-|-".join("-" * w for w in widths)]
    lines += [" | ".join(v.rjust(w) for v, w in zip(t, widths)) for t in table]
    return "\n".join(lines)
