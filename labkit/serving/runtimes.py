"""Engines side by side: the same prompts through every runtime, their answers against transformers', and their speed.

* :func:`held_out_prompts`: arithmetic questions the nano model never saw (with their answers).
* :func:`split_reply` splits a reply into reasoning and answer, whether a server split the thinking out or not;
  :func:`agreement` compares replies with the reference (:func:`reference`: transformers ``generate()`` through
  :func:`labkit.generation.generate_batch`): exact text, and accuracy; :func:`differences` prints the first that differ.
* :func:`stream_timing`: time to first token, decode tokens/s and the end-to-end rate of one streamed
  request (:func:`decode_rate`: tokens over the time they took to arrive, a stream that comes in bursts
  included; NaN when the whole reply came in one burst).
* :func:`rss_mb`: the resident memory of a server and its children.
* :class:`Row` / :func:`table` / :func:`plot`: the side-by-side figures of one run.

Used in notebook 09.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from labkit.generation import generate_batch
from labkit.nano import curriculum as nano
from labkit.nano import evaluation as nano_eval
from labkit.nano.evaluation import is_correct


@dataclass(frozen=True)
class Prompt:
    messages: list[dict]
    expected: int


def held_out_prompts(n: int = 8, seed: int = 1) -> list[Prompt]:
    """``n`` held-out arithmetic questions (levels 1-4, never in the nano model's training) and their answers."""
    rng = random.Random(seed)
    problems = nano_eval.eval_problems(n, seed)
    return [Prompt([{"role": "user", "content": nano.question(p, rng, lang="en")}], p.answer) for p in problems]


def split_reply(content: str | None, reasoning: str | None = None) -> tuple[str, str]:
    """``(reasoning, answer)`` of a chat reply, whether the server split the thinking out or left
    ``<think>…</think>`` in the content; both stripped."""
    content = content or ""
    if reasoning is None and "</think>" in content:
        reasoning, content = content.split("</think>", 1)
        reasoning = reasoning.replace("<think>", "", 1)
    return (reasoning or "").strip(), content.strip()


def reference(model, tokenizer, prompts: Sequence[Prompt], *, thinking: bool, max_new_tokens: int) -> list[tuple[str, str]]:
    """transformers' greedy ``(reasoning, answer)`` for each prompt (the one generation path of labkit.generation)."""
    replies = generate_batch(model, tokenizer, [p.messages for p in prompts], thinking=thinking,
                             max_new_tokens=max_new_tokens, do_sample=False)
    return [(r.thinking.strip(), r.answer.strip()) for r in replies]


def _body(thinking: bool) -> dict:
    return {"chat_template_kwargs": {"enable_thinking": thinking}}


def agreement(answers: Sequence[tuple[str, str]], ref: Sequence[tuple[str, str]],
              prompts: Sequence[Prompt]) -> dict[str, float]:
    """Share of replies identical to the reference (reasoning and answer), and accuracy of each side."""
    def correct(ans: str, p: Prompt) -> bool:
        return is_correct(ans, p.expected)

    n = len(prompts)
    return {"same as transformers": sum(a == r for a, r in zip(answers, ref)) / n,
            "accuracy": sum(correct(a[1], p) for a, p in zip(answers, prompts)) / n,
            "transformers accuracy": sum(correct(r[1], p) for r, p in zip(ref, prompts)) / n}


BURST_GAP_S = 0.002   # chunks that arrive closer together than this came in one burst
MIN_DECODE_S = 0.05   # a shorter span between the first and the last burst is delivery jitter, not decoding


def decode_rate(arrivals: Sequence[tuple[float, int]], gap_s: float = BURST_GAP_S) -> float:
    """Decode tokens/s of a stream from ``(arrival time, tokens in the chunk)`` pairs, in arrival order.

    A server may send its tokens in bursts (several at once, or all at the end), so a chunk's arrival
    says when its tokens were *delivered*, not when they were made.  Chunks that arrive within
    ``gap_s`` of each other form one burst.  The tokens of the first burst were made before it
    arrived, so they are left out: decode speed = tokens of the later bursts / (end of the last
    burst - end of the first).  With one burst only, the stream shows no decoding time at all: NaN.  So does a
    span under ``MIN_DECODE_S``: one burst that the client read in two pieces (a pause of the client's process, a
    garbage collection between two chunks) must not become a rate of thousands of tokens per second.
    """
    bursts: list[list[float]] = []    # [end time, tokens]
    for when, tokens in arrivals:
        if bursts and when - bursts[-1][0] < gap_s:
            bursts[-1] = [when, bursts[-1][1] + tokens]
        else:
            bursts.append([when, tokens])
    if len(bursts) < 2 or bursts[-1][0] - bursts[0][0] < MIN_DECODE_S:
        return math.nan
    later = sum(tokens for _, tokens in bursts[1:])
    return later / (bursts[-1][0] - bursts[0][0])


def stream_timing(server, messages: list[dict], *, thinking: bool = True, max_tokens: int = 128,
                  tokenizer=None) -> dict[str, float]:
    """Time to first token, decode tokens/s and the end-to-end rate of one streamed greedy request.

    Each chunk's tokens are counted with ``tokenizer`` when given (its text re-encoded), else as the
    chunk's share of the characters of the server's own ``usage.completion_tokens`` (asked for with
    ``stream_options``).  Decode speed is :func:`decode_rate`: tokens over the time they took to
    arrive, bursts taken into account (NaN when everything came in one burst).  ``e2e_tok_s`` is
    all tokens over the whole request, from sending it to the last chunk (prefill and any buffering included).
    """
    client = server.client(timeout=120)
    began = time.perf_counter()
    pieces: list[tuple[float, str]] = []
    usage = None
    stream = client.chat.completions.create(model=server.model, messages=messages, max_tokens=max_tokens,
                                            temperature=0, stream=True, stream_options={"include_usage": True},
                                            extra_body=_body(thinking))
    for chunk in stream:
        if getattr(chunk, "usage", None):
            usage = chunk.usage.completion_tokens
        if not chunk.choices:
            continue
        d = chunk.choices[0].delta
        text = (d.content or "") + (getattr(d, "reasoning", None) or getattr(d, "reasoning_content", None) or "")
        if text:
            pieces.append((time.perf_counter(), text))
    if not pieces:
        return {"ttft_s": math.nan, "decode_tok_s": math.nan, "e2e_tok_s": math.nan, "tokens": 0}
    if tokenizer is not None:
        counts = [len(tokenizer.encode(text, add_special_tokens=False)) for _, text in pieces]
    else:
        chars = sum(len(text) for _, text in pieces)
        total = usage or len(pieces)
        counts = [total * len(text) / chars for _, text in pieces]
    tokens = usage or round(sum(counts))
    last = pieces[-1][0]
    return {"ttft_s": pieces[0][0] - began, "decode_tok_s": decode_rate([(w, n) for (w, _), n in zip(pieces, counts)]),
            "e2e_tok_s": tokens / (last - began), "tokens": tokens}


def differences(answers: Sequence[tuple[str, str]], ref: Sequence[tuple[str, str]], prompts: Sequence[Prompt],
                limit: int = 2, width: int = 80) -> list[str]:
    """Up to ``limit`` replies that differ from the reference, as printable lines (question, both replies: the
    answer's first ``width`` characters and the reasoning's last 60)."""
    def cut(text: str) -> str:
        return text if len(text) <= width else text[:width] + "…"

    out = []
    for a, r, p in zip(answers, ref, prompts):
        if a != r and len(out) < limit:
            out.append(f"  {p.messages[-1]['content']!r} (expected {p.expected})\n"
                       f"    transformers: {cut(r[1])!r} after reasoning {r[0][-60:]!r}\n"
                       f"    this engine : {cut(a[1])!r} after reasoning {a[0][-60:]!r}")
    return out


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of process ``pid`` and all its children (a server's whole process tree)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return math.nan
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


@dataclass
class Row:
    """One engine's figures from one run."""

    engine: str
    threads: int
    decode_tok_s: float = math.nan
    e2e_tok_s: float = math.nan
    ttft_s: float = math.nan
    concurrent_tok_s: float = math.nan
    lost: int | None = None
    rss_mb: float = math.nan
    startup_s: float = math.nan
    size_mb: float = math.nan
    same_as_transformers: float = math.nan
    accuracy: float = math.nan
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


COLUMNS = {"engine": "engine", "threads": "threads", "same_as_transformers": "same as transformers",
           "accuracy": "accuracy", "decode_tok_s": "decode tok/s (batch 1)",
           "e2e_tok_s": "end-to-end tok/s (batch 1)", "ttft_s": "TTFT s", "concurrent_tok_s": "tok/s, 32 concurrent",
           "lost": "lost of 32", "rss_mb": "memory MB", "startup_s": "startup s", "size_mb": "on disk MB",
           "note": "note"}


def table(rows: Sequence[Row]):
    """The rows as a pandas DataFrame with readable column names ("n/a": not measured, see the note)."""
    import pandas as pd

    df = pd.DataFrame([{k: asdict(r)[k] for k in COLUMNS} for r in rows])
    df["lost"] = df["lost"].astype("Int64")     # a count (or n/a), not a float
    df = df.rename(columns=COLUMNS).set_index("engine").round(3)
    return df.astype(object).where(df.notna(), "n/a")


def plot(rows: Sequence[Row], title: str = ""):
    """Four bar charts: decode tok/s, TTFT, throughput at 32 concurrent, resident memory."""
    import matplotlib.pyplot as plt

    panels = [("decode_tok_s", "decode tokens/s, batch 1 (higher is better)"),
              ("ttft_s", "time to first token, s (lower is better)"),
              ("concurrent_tok_s", "output tokens/s, 32 concurrent (higher is better)"),
              ("rss_mb", "resident memory, MB (lower is better)")]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    names = [r.engine for r in rows]
    for ax, (key, label) in zip(axes, panels):
        vals = [getattr(r, key) for r in rows]
        top = max((v for v in vals if not math.isnan(v)), default=0.0)
        ax.barh(names, [0 if math.isnan(v) else v for v in vals], color="tab:blue")
        for y, v in enumerate(vals):
            ax.text(0, y, " n/a" if math.isnan(v) else f" {v:.3g}", va="center",
                    color="white" if not math.isnan(v) and v > 0.5 * top else "black")
        ax.set_title(label, fontsize=9)
        ax.invert_yaxis()
    for ax in axes[1:]:
        ax.set_yticklabels([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
