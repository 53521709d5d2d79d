"""Structured output: generation constrained to a JSON schema, and how to measure what it costs.

Notebook 10 writes the processor for a batch of one first (llguidance's matcher, its token bitmask, ``-inf``
for every token the grammar forbids); this module is that processor for batches, and the measurements.

* :func:`json_schema_processor` -> a transformers ``LogitsProcessor`` built on
  `llguidance <https://github.com/guidance-ai/llguidance>`_: at every step each batch row may
  only pick tokens that keep its reply a prefix of JSON valid for the schema; once the JSON is
  complete only the end-of-turn token (``<|im_end|>``) is left.  ``after="</think>"`` leaves the
  reasoning free and constrains only what follows the think block.  Pass it to ``generate``:
  ``generate_batch(..., logits_processor=[proc])``.
* :func:`validate` -> ``(is_json, conforms)`` with ``jsonschema``; :func:`score` -> the shares over many replies.
* :func:`compare` measures validity, accuracy and speed of several modes side by side on
  nano problems; :func:`table` prints its rows.
* :data:`ANSWER_SCHEMA` is the form the nano model learned (``{"answer": 579}``; :data:`BOUNDED_SCHEMA`: its
  integer bounded); :func:`json_conversation` asks for JSON the way it learned (a system prompt,
  :data:`labkit.nano.curriculum.JSON_SYSTEMS`), and the grammar writes JSON as ``json.dumps`` does
  (``{"answer": 579}``: :data:`SEPARATORS`), the form the model was trained on.

A schema llguidance cannot compile (``"not"``, look-around in a ``pattern``, ...) is a
:class:`~labkit.errors.LabError` that quotes llguidance's reason.

Used in notebook 10.
"""
from __future__ import annotations

import json
import random
import re
import time
import weakref
from typing import Any

from transformers import LogitsProcessor

from labkit.errors import LabError
from labkit.generation import generate_batch
from labkit.nano.curriculum import JSON_SYSTEMS, question
from labkit.nano.evaluation import is_correct

ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}},
                 "required": ["answer"], "additionalProperties": False}
# The same with the integer bounded: every nano answer is below 10**5 (9999 + 9999, 9999 × 9), and a
# bounded integer makes the grammar close the JSON after at most five digits.
BOUNDED_SCHEMA = {**ANSWER_SCHEMA, "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 99999}}}
SEPARATORS = {"key_separator": ": ", "item_separator": ", "}  # json.dumps' defaults
END_OF_TURN = "<|im_end|>"

_LL_TOKENIZERS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_BYTE_BIAS = None


def json_conversation(question: str, system: str | None = None, request: str | None = None) -> list[dict]:
    """The question under a system prompt that asks for JSON (default: the first of
    :data:`labkit.nano.curriculum.JSON_SYSTEMS`, a request the nano model was trained on); with ``request``, no
    system prompt: the request follows the question in the user's message (a way it never saw)."""

    if request:
        return [{"role": "user", "content": f"{question} {request}"}]
    return [{"role": "system", "content": system or JSON_SYSTEMS[0]}, {"role": "user", "content": question}]


def ll_tokenizer(tokenizer):
    """llguidance's view of a Hugging Face fast tokenizer (built once per tokenizer: seconds for Qwen's)."""
    import llguidance.hf

    if tokenizer not in _LL_TOKENIZERS:
        eos = {tokenizer.convert_tokens_to_ids(END_OF_TURN), tokenizer.eos_token_id} - {None}
        _LL_TOKENIZERS[tokenizer] = llguidance.hf.from_tokenizer(tokenizer, eos_token=sorted(eos))
    return _LL_TOKENIZERS[tokenizer]


def compile_schema(schema: dict | str, tokenizer=None, *, whitespace: bool = False, blank_line: bool = True) -> str:
    """llguidance's grammar for ``schema``; a :class:`LabError` naming what llguidance rejected.

    ``whitespace=False`` (the default here): JSON written as ``json.dumps`` writes it (one space after
    ``:`` and ``,``, nowhere else).  ``True`` is llguidance's default (any whitespace between tokens),
    where a small model can loop on newlines.  ``blank_line=True``: up to two newlines may come first,
    because Qwen's template writes ``</think>`` then a blank line before the answer (a grammar that
    forbids them forces ``{`` where the model writes its blank line).
    """
    import llguidance

    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise LabError(f"the schema is not JSON: {exc}", "pass a dict such as ANSWER_SCHEMA.") from None
    if not isinstance(schema, dict):
        raise LabError(f"the schema is not a JSON object: {schema!r}", "pass a dict such as ANSWER_SCHEMA.")
    options = {"whitespace_flexible": whitespace, **({} if whitespace else SEPARATORS)}
    body = {**schema, "x-guidance": {**options, **schema.get("x-guidance", {})}}
    lead = "/\\n{0,2}/ " if blank_line else ""
    grammar = llguidance.grammar_from("lark", f"start: {lead}answer\nanswer: %json " + json.dumps(body))
    error = llguidance.LLMatcher.validate_grammar(grammar, None if tokenizer is None else ll_tokenizer(tokenizer))
    if error:
        # llguidance's reason, without the lines of the wrapping grammar it quotes ("   2 | answer: ...")
        # and without the position in it ("at 2(9): ")
        lines = [line.strip() for line in error.split("<state>")[0].strip().splitlines()
                 if not re.match(r"\s*\d+ \|", line) and not re.match(r"\s*\|?\s*\^", line)]
        reason = re.sub(r"^at \d+\(\d+\): ", "", " ".join(filter(None, lines)))
        raise LabError(f"llguidance cannot constrain generation to this schema: {reason}",
                       "drop or rewrite that part of the schema (llguidance's supported subset: "
                       "github.com/guidance-ai/llguidance/blob/main/docs/json_schema.md).")
    return grammar


class JsonSchemaProcessor(LogitsProcessor):
    """A ``LogitsProcessor``: every row of the batch may only continue valid JSON for the schema.

    One llguidance matcher per row is fed the tokens that row generated (never the prompt, never
    the left padding).  With ``after`` (a single token such as ``"</think>"``) a row is free until
    that token closes its think block, generated or already in the prompt (thinking off: the
    template writes an empty, closed block).  A row that has ended its turn is left alone (``generate``
    pads it).  It starts over when the ``input_ids`` it gets are not the previous ones plus one token
    (a new ``generate`` call).  ``mask_seconds`` / ``steps``: its own cost per decoding step.
    """

    def __init__(self, tokenizer, schema: dict | str, *, after: str | None = None, whitespace: bool = False,
                 blank_line: bool = True):
        import llguidance

        self.schema = schema
        self.grammar = compile_schema(schema, tokenizer, whitespace=whitespace, blank_line=blank_line)
        self._ll = ll_tokenizer(tokenizer)
        self._template = llguidance.LLMatcher(self._ll, self.grammar, log_level=0)
        self.stop = set(self._ll.eos_tokens)
        self.after_id = None
        if after is not None:
            ids = tokenizer.encode(after, add_special_tokens=False)
            if len(ids) != 1:
                raise LabError(f"after={after!r} is {len(ids)} tokens; it must be a single token.",
                               'use a special token such as "</think>".')
            self.after_id = ids[0]
        self._turn_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self.matchers: list = []   # per row: an llguidance matcher, or None while the row is free
        self.done: list[bool] = []  # per row: the turn has ended
        self._last = None           # the input_ids of the previous step
        self.mask_seconds, self.steps = 0.0, 0  # time spent here (all steps of all generations)

    def _start(self, prompt_ids) -> None:
        """A new generation: one row state per prompt (a matcher, or None while the row is free)."""
        self.matchers, self.done = [], []
        for row in prompt_ids.tolist():
            turn = row[len(row) - 1 - row[::-1].index(self._turn_start):] if self._turn_start in row else row
            free = self.after_id is not None and self.after_id not in turn
            self.matchers.append(None if free else self._template.deep_copy())
            self.done.append(False)

    def _feed(self, i: int, token: int) -> None:
        if self.done[i]:
            return
        if token in self.stop:
            self.done[i] = True
        elif self.matchers[i] is None:
            if token == self.after_id:
                self.matchers[i] = self._template.deep_copy()
        elif not self.matchers[i].consume_token(token):
            raise LabError(f"row {i} generated token {token}, which the schema does not allow: "
                           f"{self.matchers[i].get_error().splitlines()[0]}",
                           "put the JSON-schema processor last in logits_processor (nothing may raise "
                           "a masked token after it).")

    def __call__(self, input_ids, scores):
        import numpy as np
        import torch

        began = time.perf_counter()
        if self._last is not None and self._last.shape[1] + 1 == input_ids.shape[1] \
                and torch.equal(input_ids[:, :-1], self._last):
            for i, token in enumerate(input_ids[:, -1].tolist()):
                self._feed(i, token)
        else:  # the first step of a generation
            self._start(input_ids)
        self._last = input_ids
        rows = [i for i, m in enumerate(self.matchers) if m is not None and not self.done[i]]
        bias = torch.zeros_like(scores)  # free and finished rows: nothing added
        if rows:
            # llguidance's bitmask has one bit per token; each byte becomes 8 biases (0: allowed, -inf: not)
            packed = np.frombuffer(b"".join(self.matchers[i].compute_bitmask() for i in rows), np.uint8)
            bits = torch.from_numpy(packed.astype(np.int64)).view(len(rows), -1)
            n = min(self._ll.vocab_size, scores.shape[1])
            bias[rows, :n] = torch.nn.functional.embedding(bits, _byte_bias()).view(len(rows), -1)[:, :n].to(bias)
            bias[rows, n:] = float("-inf")  # the embedding's rows past the tokenizer's vocabulary: never text
        scores = scores + bias
        self.mask_seconds += time.perf_counter() - began
        self.steps += 1
        return scores


def _byte_bias():
    """A (256, 8) table: for each byte of a bitmask, the bias of its 8 tokens (bit k set: 0, else -inf)."""
    global _BYTE_BIAS
    if _BYTE_BIAS is None:
        import torch

        bit = (torch.arange(256).unsqueeze(1) >> torch.arange(8)) & 1
        _BYTE_BIAS = torch.zeros(256, 8).masked_fill_(bit == 0, float("-inf"))
    return _BYTE_BIAS


def json_schema_processor(tokenizer, schema: dict | str, *, after: str | None = None,
                          whitespace: bool = False, blank_line: bool = True) -> JsonSchemaProcessor:
    """A logits processor that constrains each reply to JSON valid for ``schema`` (after ``after``, if given).

    ``whitespace``: allow whitespace between JSON tokens (default: compact JSON; see :func:`compile_schema`).
    """
    return JsonSchemaProcessor(tokenizer, schema, after=after, whitespace=whitespace, blank_line=blank_line)


def validate(text: str, schema: dict) -> tuple[bool, bool]:
    """``(is_json, conforms)``: does ``text`` parse as JSON, and does it satisfy ``schema``?"""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError:
        return False, False
    return True, jsonschema.Draft202012Validator(schema).is_valid(value)


MODES = {  # name -> (thinking, where the constraint starts: None, "start" or "after")
    "thinking off, free": (False, None),
    "thinking off, JSON": (False, "start"),
    "thinking on, free": (True, None),
    "thinking on, JSON after </think>": (True, "after"),
    "thinking on, JSON from token 1": (True, "start"),
}


def score(texts: list[str], problems, schema: dict, key: str = "answer") -> dict:
    """Shares of ``texts``: ``valid_json``, ``conforms`` (to ``schema``), ``accuracy`` (the JSON's ``key``
    equals ``p.answer``) and ``number_right`` (the text's last integer does, in any format)."""
    def answer(text):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value.get(key) if isinstance(value, dict) else None

    n, checks = len(texts), [validate(t, schema) for t in texts]
    return {"n": n, "valid_json": sum(j for j, _ in checks) / n, "conforms": sum(c for _, c in checks) / n,
            "accuracy": sum(answer(t) == p.answer for t, p in zip(texts, problems)) / n,
            "number_right": sum(is_correct(t, p.answer) for t, p in zip(texts, problems)) / n}


def compare(model, tokenizer, problems, schema: dict = BOUNDED_SCHEMA, *, modes=tuple(MODES), seed: int = 0,
            max_new_tokens: int = 160, system: str | None = None, request: str | None = None,
            blank_line: bool = True, key: str = "answer") -> tuple[list[dict], dict]:
    """Run each of ``modes`` (names of :data:`MODES`) on the same problems, greedy, one batch each.

    Returns ``(rows, replies)``: per mode the shares of :func:`score` (of the replies' answers, after any
    think block; ``key`` names the JSON field that holds the result), ``mean_new_tokens``, ``tok_s`` (generated tokens per second
    of the batch, prefill included) and ``mask_ms_per_step`` (the processor's own time per decoding
    step, for the whole batch), all measured in this run; ``replies[mode]`` the replies.
    Each question is asked as :func:`json_conversation` asks it (``system``, ``request``).
    """
    rng = random.Random(seed)
    convs = [json_conversation(question(p, rng, lang="en"), system, request) for p in problems]
    greedy = dict(do_sample=False, temperature=None, top_p=None, top_k=None, max_new_tokens=max_new_tokens)
    rows, replies = [], {}
    for mode in modes:
        thinking, where = MODES[mode]
        extra, proc = {}, None
        if where:
            proc = json_schema_processor(tokenizer, schema, after="</think>" if where == "after" else None,
                                         blank_line=blank_line)
            extra["logits_processor"] = [proc]
        began = time.perf_counter()
        out = generate_batch(model, tokenizer, convs, thinking=thinking, **greedy, **extra)
        seconds = time.perf_counter() - began
        tokens = sum(r.new_tokens for r in out)
        rows.append({"mode": mode, **score([r.answer for r in out], problems, schema, key),
                     "mean_new_tokens": tokens / len(out), "tok_s": tokens / seconds,
                     "mask_ms_per_step": 1000 * proc.mask_seconds / proc.steps if proc else 0.0,
                     "seconds": seconds})
        replies[mode] = out
    return rows, replies


def table(rows: list[dict]) -> str:
    """The rows of :func:`compare` as a fixed-width text table."""
    head = f"{'mode':<34}{'JSON':>6}{'schema':>8}{'right':>7}{'number':>8}{'tokens':>8}{'tok/s':>7}{'mask ms':>9}"
    lines = [head] + [f"{r['mode']:<34}{r['valid_json']:>6.0%}{r['conforms']:>8.0%}{r['accuracy']:>7.0%}"
                      f"{r['number_right']:>8.0%}{r['mean_new_tokens']:>8.1f}{r['tok_s']:>7.0f}"
                      f"{r['mask_ms_per_step']:>9.1f}" for r in rows]
    return "\n".join(lines)
