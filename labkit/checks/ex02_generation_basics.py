"""Answer keys of exercise 02 (generation basics): its check functions and the data they check against.

Used in notebook 02.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.family.facts import SAMPLING
from labkit.generation import chat

QUESTION_02 = "What is 12 + 30?"
# Task 2: the scores of a toy 8-token vocabulary, and the sampling settings to apply to them.
LOGITS_02 = [3.2, 2.9, 2.1, 1.7, 1.2, 0.4, -0.3, -1.5]
TEMPERATURE_02 = 1.5
TOP_P_02 = 0.87
# Task 3: the question streamed (thinking on, the template's default), greedy, at most this many new tokens.
STREAM_QUESTION_02 = "What is 4827 + 3979?"
STREAM_TOKENS_02 = 160


def _kept_after(logits: list[float], temperature: float, top_p: float) -> int:
    """How many tokens keep a finite score after transformers' temperature and top-p warpers."""
    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    procs = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p=top_p)])
    scores = procs(torch.zeros(1, 1, dtype=torch.long), torch.tensor([logits]))
    return int(torch.isfinite(scores).sum())


def _greedy_answer(question: str) -> str:
    """The greedy reply's new tokens (thinking off, at most 40), decoded without special tokens."""
    model, tok = course_model()
    reply = chat(model, tok, [{"role": "user", "content": question}], thinking=False, do_sample=False,
                 max_new_tokens=40)
    return tok.decode(reply.ids, skip_special_tokens=True)


def _is_new_text_only(text: Any) -> bool:
    return isinstance(text, str) and QUESTION_02 not in text and text.strip() == _greedy_answer(QUESTION_02).strip()


@lru_cache(maxsize=1)
def _streamed_text() -> str:
    """What the streamer of task 3 must hand over in all: the greedy reply's new tokens, decoded."""
    model, tok = course_model()
    inputs = tok.apply_chat_template([{"role": "user", "content": STREAM_QUESTION_02}], add_generation_prompt=True,
                                     return_tensors="pt").to(model.device)
    out = model.generate(**inputs, max_new_tokens=STREAM_TOKENS_02, do_sample=False)
    return tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def _chunks_ok(chunks: Any) -> bool:
    return (isinstance(chunks, list) and all(isinstance(c, str) for c in chunks)
            and sum(1 for c in chunks if c) >= 2 and "".join(chunks).strip() == _streamed_text().strip())


def _sampling_kwargs_ok(kw: Any) -> bool:
    want = SAMPLING["non_thinking"].generate_kwargs()
    return (isinstance(kw, dict) and kw.get("do_sample") is True
            and all(kw.get(k) == want[k] for k in ("temperature", "top_p", "top_k"))
            and kw.get("min_p", 0.0) == want["min_p"])


check_new_tokens_only = exercise(
    "new_tokens_only", predicate=_is_new_text_only,
    expects=f"the reply text only (a str: what the model wrote after the prompt, without {QUESTION_02!r})",
    hint="slice the generated ids after the prompt: output_ids[0, inputs['input_ids'].shape[1]:], then decode "
         "with skip_special_tokens=True",
    where="notebook 02, section 1 'Quick start'")
check_top_p_kept = exercise(
    "top_p_kept", lambda: _kept_after(LOGITS_02, TEMPERATURE_02, TOP_P_02),
    expects="the number of tokens that keep a finite score (an int)",
    hint="LogitsProcessorList([TemperatureLogitsWarper(TEMPERATURE), TopPLogitsWarper(top_p=TOP_P)]) applied to "
         "(input_ids, torch.tensor([LOGITS])), then count torch.isfinite(scores); the temperature comes first, and "
         "it changes what top-p keeps",
    where="notebook 02, section 5 'From logits to the next token'")
check_streamed_chunks = exercise(
    "streamed_chunks", predicate=_chunks_ok,
    expects=f"a list of the str chunks a TextIteratorStreamer handed over (at least 2 with text) that join into the "
            f"greedy reply to {STREAM_QUESTION_02!r}",
    hint="TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True); run model.generate(**inputs, "
         "streamer=streamer, max_new_tokens=MAX_NEW_TOKENS, do_sample=False) in a Thread, then append each chunk "
         "of `for chunk in streamer` to the list",
    where="notebook 02, section 4 'Streaming'")
check_non_thinking_sampling = exercise(
    "non_thinking_sampling", predicate=_sampling_kwargs_ok,
    expects="a dict of generate() arguments: do_sample=True and the temperature, top_p, top_k of "
            "labkit.family.facts.SAMPLING['non_thinking']",
    hint="read the fields of labkit.family.facts.SAMPLING['non_thinking'] (temperature, top_p, top_k, min_p); "
         "do_sample must be True or the other settings are ignored",
    where="notebook 02, section 6 'Recommended sampling per mode'")
