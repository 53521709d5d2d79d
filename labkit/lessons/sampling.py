"""What sampling settings do to the next-token distribution, with transformers' own processors.

Notebook 02 (section 5) writes these steps out in full: one forward pass, softmax, and a
``LogitsProcessorList`` of ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper``.
This module repeats them as functions, for the sliders of :func:`sampling_explorer`:

* :func:`sampling_processors`: the ``LogitsProcessorList`` that ``generate()``
  builds for the same settings (repetition penalty, then temperature, top-k,
  top-p, min-p: the order of ``GenerationMixin._get_logits_processor``), made
  from the public classes in ``transformers.generation``.
* :func:`next_token_distribution`: one forward pass; the probabilities of the
  next token before and after those processors.
* :func:`plot_distribution`: a bar chart of both.
* :func:`sampling_explorer`: sliders (temperature, top-p, top-k, repetition
  penalty) that re-plot the distribution (ipywidgets).

Used in notebook 02.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.errors import LabError
from labkit.generation import validate_messages


@dataclass
class TokenProb:
    """One candidate next token: its probability before and after the processors."""
    token_id: int
    token: str      # the decoded text, e.g. '7' or ' Arr'
    before: float   # softmax of the raw logits
    after: float    # softmax after repetition penalty, temperature, top-k, top-p, min-p


@dataclass
class NextTokenDistribution:
    """The next-token distribution of one prompt, before and after sampling processors."""
    prompt: str
    settings: dict[str, Any]
    top: list[TokenProb]
    after_sum: float          # total probability after the processors (1.0 up to rounding)
    kept: int                 # how many tokens keep a non-zero probability after the processors
    vocab_size: int
    after_probs: Any = field(default=None, repr=False)  # the full tensor, shape (vocab,)

    def table(self) -> str:
        """A text table of the top tokens (before -> after)."""
        lines = [f"{'token':<12} {'id':>7} {'before':>8} {'after':>8}"]
        for t in self.top:
            lines.append(f"{t.token!r:<12} {t.token_id:>7} {t.before:>8.2%} {t.after:>8.2%}")
        lines.append(f"{self.kept:,} of {self.vocab_size:,} tokens can still be sampled; settings {self.settings}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def sampling_processors(*, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                        min_p: float | None = None, repetition_penalty: float = 1.0):
    """The ``LogitsProcessorList`` ``generate(do_sample=True, ...)`` applies for these settings.

    Settings that change nothing (temperature 1, top_k 0, top_p 1, penalty 1) add
    no processor, as in ``generate()``.
    """
    from transformers.generation import (
        LogitsProcessorList,
        MinPLogitsWarper,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    if temperature <= 0:
        raise LabError(f"temperature={temperature} is not positive.",
                       "use a temperature > 0, or greedy decoding (do_sample=False) for 'temperature 0'.")
    if not 0 < top_p <= 1:
        raise LabError(f"top_p={top_p} is outside (0, 1].", "top_p is a probability mass, e.g. 0.95.")
    if repetition_penalty <= 0:
        raise LabError(f"repetition_penalty={repetition_penalty} is not positive.", "1.0 means no penalty.")
    procs = LogitsProcessorList()
    if repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_k:
        procs.append(TopKLogitsWarper(top_k=int(top_k)))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=top_p))
    if min_p:
        procs.append(MinPLogitsWarper(min_p=min_p))
    return procs


def render_prompt(tokenizer, messages_or_text, *, thinking: bool = False) -> str:
    """A conversation -> the chat-template text (assistant turn opened); a str is used as it is."""
    if isinstance(messages_or_text, str):
        return messages_or_text

    return tokenizer.apply_chat_template(validate_messages(messages_or_text), tokenize=False,
                                         add_generation_prompt=True, enable_thinking=thinking)


def _show(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id])


def next_token_distribution(model, tokenizer, messages_or_text, *, temperature: float = 1.0, top_k: int = 0,
                            top_p: float = 1.0, min_p: float | None = None, repetition_penalty: float = 1.0,
                            thinking: bool = False, k: int = 10) -> NextTokenDistribution:
    """The probabilities of the next token, before and after the sampling processors.

    ``messages_or_text`` is a conversation (rendered with the chat template,
    ``enable_thinking=thinking``) or an already rendered prompt string (it is
    continued as is, e.g. a prompt plus the start of an answer).  ``top`` lists
    the ``k`` most likely tokens before the processors, plus any token that is
    among the ``k`` most likely after them, ordered by the probability before.
    """
    import torch

    text = render_prompt(tokenizer, messages_or_text, thinking=thinking)
    procs = sampling_processors(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                                repetition_penalty=repetition_penalty)
    enc = tokenizer(text, return_tensors="pt").to(model.device)
    with torch.no_grad():
        logits = model(**enc).logits[:, -1, :].float()
    before = torch.softmax(logits, dim=-1)[0]
    after = torch.softmax(procs(enc["input_ids"], logits.clone()), dim=-1)[0]
    ids = dict.fromkeys(torch.topk(before, k).indices.tolist())
    ids.update(dict.fromkeys(torch.topk(after, k).indices.tolist()))
    order = sorted(ids, key=lambda i: -float(before[i]))
    top = [TokenProb(i, _show(tokenizer, i), float(before[i]), float(after[i])) for i in order]
    settings = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "repetition_penalty": repetition_penalty}
    if min_p:
        settings["min_p"] = min_p
    return NextTokenDistribution(text, settings, top, float(after.sum()), int((after > 0).sum()),
                                 int(before.numel()), after)


def plot_distribution(dist: NextTokenDistribution, *, ax=None, title: str | None = None, n: int = 10):
    """Bar chart of the ``n`` most likely tokens: probability before (grey) and after (blue) the processors."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    top = dist.top[:n]
    xs = range(len(top))
    ax.bar([x - 0.2 for x in xs], [t.before for t in top], width=0.4, color="0.7", label="before")
    ax.bar([x + 0.2 for x in xs], [t.after for t in top], width=0.4, color="tab:blue", label="after")
    ax.set_xticks(list(xs), [repr(t.token)[1:-1] or "∅" for t in top], rotation=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    s = dist.settings
    ax.set_title(title or f"T={s['temperature']} top_k={s['top_k']} top_p={s['top_p']} "
                          f"rep={s['repetition_penalty']} · {dist.kept:,} tokens left", fontsize=9)
    ax.legend(fontsize=8)
    return ax


def sampling_explorer(model, tokenizer, prompt, *, thinking: bool = False, n: int = 10):
    """Sliders for temperature, top-p, top-k and repetition penalty that re-plot the distribution.

    ``prompt`` is a conversation or a rendered prompt string (see
    :func:`next_token_distribution`).  Returns an ``ipywidgets.VBox``; display it
    in a notebook.  The plot is drawn once at creation.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    sliders = {
        "temperature": widgets.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05, description="temperature"),
        "top_p": widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top_p"),
        "top_k": widgets.IntSlider(value=0, min=0, max=50, step=1, description="top_k (0=off)"),
        "repetition_penalty": widgets.FloatSlider(value=1.0, min=1.0, max=2.0, step=0.05,
                                                  description="rep. penalty"),
    }
    for s in sliders.values():
        s.style.description_width = "110px"
        s.continuous_update = False
    out = widgets.Output()

    def redraw(**settings: Any) -> None:
        dist = next_token_distribution(model, tokenizer, prompt, thinking=thinking, **settings)
        # Set the Output widget's outputs instead of capturing them (`with out:`): captured output
        # makes nbclient send widget state back mid-cell, which can stall an unattended run.
        fig, ax = plt.subplots(figsize=(7, 3))
        plot_distribution(dist, ax=ax, n=n)
        out.outputs = ()
        out.append_display_data(fig)
        plt.close(fig)

    widgets.interactive_output(redraw, sliders)
    return widgets.VBox([widgets.HBox([sliders["temperature"], sliders["top_p"]]),
                         widgets.HBox([sliders["top_k"], sliders["repetition_penalty"]]), out])
