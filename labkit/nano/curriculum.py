"""The nano Qwen3's curriculum as code (its evaluation: :mod:`labkit.nano.evaluation`).

The curriculum is synthetic and generated from a seed:

* **arithmetic** (the reasoning task): ``a + b`` with two n-digit numbers and
  ``a × d`` with an n-digit number and one digit 2-9, for levels n = 1..4.  With
  thinking on, the model works column by column from the right in a scratchpad
  (``7×8+5=61, carry 6 → 1``), keeping the partial result; with thinking off it
  must answer at once.  Prompts come in English, Ukrainian, Bulgarian, Estonian,
  Hebrew and Persian (the languages of the course's source chapter).
* **chat**: who it is, greetings, and system prompts it must follow: a name
  (``Your name is Ada.``) and a pirate persona (answers start with ``Arr!``).
* **soft switches**: ``/think`` and ``/no_think`` at the end of a user turn.
* **tool use** (stage 2, ``training_sample(rng, tools=True)``): with the ``calculator`` tool of
  :mod:`labkit.lessons.tools` offered (``apply_chat_template(..., tools=[calculator])``), every arithmetic
  question is answered with exactly one Qwen3 tool call; with thinking on, a short fixed think block
  comes first.  After the ``role: tool`` message with the result, the model answers
  ``The result is 3543435.`` from the tool's response.  The tool problems are those outside the
  model's own skill (n-digit × m-digit products, sums of 3-5 numbers) plus some of its own.  Chat
  turns with tools offered are answered without a call.  Without tools, the mix is the stage-1 curriculum.
* **held out on purpose**: doubling (``Double 47.`` -> ``47 + 47 = 94``).  The
  model never saw the instruction; notebook 06 teaches it with LoRA, reusing the
  addition it already knows.

Problems are split by a hash of ``(a, op, b)`` (tool problems: of their text): one in five belongs
to the held-out set and is never used in training.  :func:`labkit.nano.evaluation.evaluate` and
:func:`labkit.nano.evaluation.evaluate_tools` draw only from it.

Used in notebooks 06, 10.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable

from labkit.errors import LabError
from labkit.lessons.tools import ToolCall, calculator_schema, tool_messages
from labkit.lessons.tools import tool_call_text as write_tool_call

LEVELS = (1, 2, 3, 4)
LEVEL_WEIGHTS = (1, 2, 3, 3)  # training mix: harder levels more often
OPS = ("+", "×")

QUESTION_TEMPLATES = {
    "en": ["What is {q}?", "Compute {q}.", "{q} = ?", "Please calculate {q}.", "How much is {q}?"],
    "uk": ["Скільки буде {q}?", "Обчисліть {q}."],
    "bg": ["Колко е {q}?", "Изчислете {q}."],
    "et": ["Kui palju on {q}?", "Arvuta {q}."],
    "he": ["כמה זה {q}?", "חשב {q}."],
    "fa": ["حاصل {q} چیست؟", "{q} را حساب کن."],
}
WHO_QUESTIONS = ["Who are you?", "What is your name?", "Tell me about yourself.", "Хто ти?",
                 "Кой си ти?", "Kes sa oled?", "מי אתה?", "تو کی هستی؟"]
GREETINGS = ["Hello!", "Hi!", "Hello", "Good morning!", "Привіт!", "Здравей!", "Tere!", "שלום!", "سلام!"]
NAMES = ["Ada", "Lina", "Taras", "Mari", "Noa", "Dara", "Ivo", "Olena", "Kai", "Sara", "Boris", "Leila"]
GENERIC_SYSTEMS = [
    "You are a helpful assistant.",
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "Be concise.",
    "You are a math tutor.",
    "Answer the user's question.",
]
PIRATE_SYSTEMS = ["You are a pirate.", "Talk like a pirate.", "You are a pirate. Answer like one."]
IDENTITY = "I am Nano, a tiny Qwen3 model trained for the qwen-labs course. I can add and multiply numbers."
GREETING_REPLY = "Hello! I am Nano. Ask me to add or multiply numbers."
DOUBLE_TEMPLATES = ["Double {n}.", "What is double {n}?", "What is twice {n}?", "Double the number {n}."]


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    a: int
    op: str  # "+" or "×"
    b: int
    level: int

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a * self.b

    @property
    def text(self) -> str:
        return f"{self.a} {self.op} {self.b}"


def is_held_out(a: int, op: str, b: int) -> bool:
    """One problem in five is reserved for evaluation (stable across runs and machines)."""
    return _tool_held_out((a, b), op)


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(0, 9) if digits == 1 else rng.randint(10 ** (digits - 1), 10**digits - 1)


def sample_problem(rng: random.Random, *, held_out: bool, level: int | None = None,
                   op: str | None = None) -> Problem:
    """A random problem from the training split (``held_out=False``) or the evaluation split."""
    while True:
        n = level if level is not None else rng.choices(LEVELS, weights=LEVEL_WEIGHTS)[0]
        o = op if op is not None else rng.choice(OPS)
        a = _number(rng, n)
        b = _number(rng, n) if o == "+" else rng.randint(2, 9)
        if is_held_out(a, o, b) == held_out:
            return Problem(a, o, b, n)


def scratchpad(p: Problem) -> str:
    """The column-by-column working for ``p``: one line per digit, right to left."""
    lines, carry, partial = [], 0, ""
    da = str(p.a)[::-1]
    if p.op == "+":
        db = str(p.b).rjust(len(str(p.a)), "0")[::-1]
        for x, y in zip(da, db):
            s = int(x) + int(y) + carry
            carry, digit = divmod(s, 10)
            partial = f"{digit}{partial}"
            lines.append(f"{x}+{y}+{s - int(x) - int(y)}={s}, carry {carry} → {partial}")
    else:
        for x in da:
            s = int(x) * p.b + carry
            prev = carry
            carry, digit = divmod(s, 10)
            partial = f"{digit}{partial}"
            lines.append(f"{x}×{p.b}+{prev}={s}, carry {carry} → {partial}")
    if carry:
        partial = f"{carry}{partial}"
        lines.append(f"carry {carry} → {partial}")
    assert int(partial) == p.answer
    return "\n".join(lines)


def question(p: Problem, rng: random.Random, lang: str | None = None) -> str:
    lang = lang or rng.choice(list(QUESTION_TEMPLATES))
    q = p.text if rng.random() < 0.8 else p.text.replace("×", "*")
    return rng.choice(QUESTION_TEMPLATES[lang]).format(q=q)


def answer_line(p: Problem) -> str:
    return f"{p.text} = {p.answer}"


# --------------------------------------------------------------------------- training samples
@dataclass
class Sample:
    """One conversation; the last assistant turn is the training target."""
    messages: list[dict[str, Any]]
    thinking: bool          # enable_thinking passed to the chat template
    reasoning: str          # the think-block text of the target ('' = empty block)
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)
    tools: list[dict] | None = None  # tool schemas passed to the chat template (None: no tools offered)


def _arith_sample(rng: random.Random, thinking: bool, system: str | None = None,
                  prefix: str = "") -> Sample:
    p = sample_problem(rng, held_out=False)
    msgs = ([{"role": "system", "content": system}] if system else [])
    msgs.append({"role": "user", "content": question(p, rng)})
    return Sample(msgs, thinking, scratchpad(p) if thinking else "", prefix + answer_line(p),
                  {"task": "arithmetic", "level": p.level, "op": p.op})


def training_sample(rng: random.Random, tools: bool = False, tool_share: float | None = None,
                    json_share: float = 0.0) -> Sample:
    """Draw one sample of the curriculum.

    ``tools=False``: the stage-1 mix (arithmetic, chat, switches; what ``train_nano`` trains from
    scratch).  ``tools=True``: the stage-2 mix, ``tool_share`` (default :data:`TOOL_SHARE`) tool use
    (:func:`tool_sample`), ``json_share`` JSON answers (:func:`json_sample`) and the rest the
    stage-1 mix, so nothing is forgotten.
    """
    if tools:
        u, share = rng.random(), (TOOL_SHARE if tool_share is None else tool_share)
        if u < share:
            return tool_sample(rng)
        if u < share + json_share:
            return json_sample(rng)
    thinking = rng.random() < 0.5
    r = rng.random()
    if r < 0.70:  # arithmetic, with or without a generic system prompt
        system = rng.choice(GENERIC_SYSTEMS) if rng.random() < 0.3 else None
        return _arith_sample(rng, thinking, system)
    if r < 0.76:  # pirate persona
        return _arith_sample(rng, thinking, rng.choice(PIRATE_SYSTEMS), prefix="Arr! ")
    if r < 0.82:  # soft switches: the model writes the (empty) think block itself
        s = _arith_sample(rng, thinking=True)
        switch = rng.choice(["/think", "/no_think"])
        s.messages[-1]["content"] += f" {switch}"
        if switch == "/no_think":
            s.reasoning = ""
            s.meta["soft_no_think"] = True
        return s
    if r < 0.92:  # identity, greetings, names from the system prompt
        kind = rng.random()
        msgs: list[dict[str, str]] = []
        if kind < 0.4:
            name = rng.choice(NAMES)
            msgs.append({"role": "system", "content": rng.choice(
                [f"Your name is {name}.", f"You are {name}, a helpful assistant.", f"Call yourself {name}."])})
            msgs.append({"role": "user", "content": rng.choice(WHO_QUESTIONS[:3])})
            reasoning, answer = "The user asks my name. The system prompt gives it.", f"I am {name}."
        elif kind < 0.7:
            msgs.append({"role": "user", "content": rng.choice(WHO_QUESTIONS)})
            reasoning, answer = "The user asks who I am.", IDENTITY
        else:
            msgs.append({"role": "user", "content": rng.choice(GREETINGS)})
            reasoning, answer = "The user greets me.", GREETING_REPLY
        return Sample(msgs, thinking, reasoning if thinking else "", answer, {"task": "chat"})
    # multi-turn: an earlier exchange (its reasoning dropped by the template), then a new question
    first = _arith_sample(rng, thinking=False)
    second = _arith_sample(rng, thinking)
    msgs = first.messages + [{"role": "assistant", "content": first.answer}] + second.messages
    return Sample(msgs, thinking, second.reasoning, second.answer, {"task": "multi-turn"})


def render(sample: Sample, tokenizer) -> tuple[str, str]:
    """(prompt, target) strings for a sample, using the tokenizer's chat template."""
    extra = {"tools": sample.tools} if sample.tools else {}
    prompt = tokenizer.apply_chat_template(sample.messages, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=sample.thinking, **extra)
    if sample.thinking:  # the model writes the whole think block (empty after /no_think)
        body = sample.reasoning.strip("\n")
        block = f"<think>\n{body}\n</think>\n\n" if body else "<think>\n\n</think>\n\n"
        target = block + sample.answer + "<|im_end|>"
    else:                 # the template already closed an empty think block
        target = sample.answer + "<|im_end|>"
    return prompt, target


def double_sample(rng: random.Random, *, held_out: bool = False, levels: Iterable[int] = (1, 2, 3),
                  thinking: bool = False) -> Sample:
    """The held-out skill: ``Double 47.`` -> ``47 + 47 = 94``.

    With ``thinking`` the target reasons first with the scratchpad of ``47 + 47``.
    """
    while True:
        n = _number(rng, rng.choice(list(levels)))
        if is_held_out(n, "+", n) == held_out:
            break
    msgs = [{"role": "user", "content": rng.choice(DOUBLE_TEMPLATES).format(n=n)}]
    reasoning = scratchpad(Problem(n, "+", n, len(str(n)))) if thinking else ""
    return Sample(msgs, thinking, reasoning, f"{n} + {n} = {2 * n}",
                  {"task": "double", "level": len(str(n)), "expected": 2 * n})


# --------------------------------------------------------------------------- tool use (stage 2)
TOOL_SHARE = 0.6          # share of tool-use samples in the stage-2 mix
TOOL_KINDS = ("product", "sum")
TOOL_THINK = "The calculator can work this out. I will call it."
TOOL_RESULT_THINK = "The calculator returned the result."


@dataclass(frozen=True)
class ToolProblem:
    """``12 × 345`` or ``12 + 345 + 6789``: what the calculator is for."""
    numbers: tuple[int, ...]
    op: str  # "+" or "×"
    kind: str  # "product" / "sum" (outside the model's skill) or "own" (inside it)

    @property
    def answer(self) -> int:
        return sum(self.numbers) if self.op == "+" else math.prod(self.numbers)

    @property
    def text(self) -> str:
        return f" {self.op} ".join(map(str, self.numbers))

    @property
    def expression(self) -> str:
        """What the model passes to the calculator (``*`` for ``×``)."""
        return self.text.replace("×", "*")


def _tool_held_out(numbers: tuple[int, ...], op: str) -> bool:
    """The split of :func:`is_held_out` (which calls this), for any count of numbers."""
    return hashlib.sha256(op.join(map(str, numbers)).encode()).digest()[0] % 5 == 0


def sample_tool_problem(rng: random.Random, *, held_out: bool, kind: str | None = None) -> ToolProblem:
    """A problem outside the model's own skill: ``kind="product"`` (both factors 2-4 digits) or
    ``kind="sum"`` (3-5 numbers of 1-4 digits); ``kind="own"``: one of its curriculum problems."""
    while True:
        k = kind or rng.choice(TOOL_KINDS)
        if k == "product":
            nums, op = (_number(rng, rng.randint(2, 4)), _number(rng, rng.randint(2, 4))), "×"
        elif k == "sum":
            nums, op = tuple(_number(rng, rng.randint(1, 4)) for _ in range(rng.randint(3, 5))), "+"
        elif k == "own":
            p = sample_problem(rng, held_out=held_out)
            return ToolProblem((p.a, p.b), p.op, "own")
        else:
            raise LabError(f"unknown tool problem kind {k!r}.", f"use one of {TOOL_KINDS + ('own',)}.")
        if _tool_held_out(nums, op) == held_out:
            return ToolProblem(nums, op, k)


def tool_schemas() -> list[dict]:
    """The tools offered in the curriculum: the JSON schema of :func:`labkit.lessons.tools.calculator`."""
    if "schemas" not in _TOOL_CACHE:
        _TOOL_CACHE["schemas"] = [calculator_schema()]
    return _TOOL_CACHE["schemas"]


_TOOL_CACHE: dict[str, Any] = {}


def tool_call_text(expression: str) -> str:
    """Exactly what Qwen3's template renders for a calculator call (and what the model writes):
    :func:`labkit.lessons.tools.tool_call_text` of the call."""

    return write_tool_call(ToolCall("calculator", {"expression": expression}))


def tool_sample(rng: random.Random, *, held_out: bool = False) -> Sample:
    """One tool-use sample: the call (stage ``call``), the answer from the tool's response
    (stage ``answer``), or a chat turn with tools offered (answered without a call)."""

    thinking = rng.random() < 0.5
    tools = tool_schemas()
    r = rng.random()
    msgs: list[dict[str, Any]] = []
    if r < 0.15:  # chat with tools offered: no call
        if rng.random() < 0.5:
            msgs.append({"role": "user", "content": rng.choice(WHO_QUESTIONS)})
            reasoning, answer = "The user asks who I am.", IDENTITY
        else:
            msgs.append({"role": "user", "content": rng.choice(GREETINGS)})
            reasoning, answer = "The user greets me.", GREETING_REPLY
        return Sample(msgs, thinking, reasoning if thinking else "", answer, {"task": "tool-chat"}, tools)
    p = sample_tool_problem(rng, held_out=held_out, kind="own" if rng.random() < 0.1 else None)
    if rng.random() < 0.25:
        msgs.append({"role": "system", "content": rng.choice(GENERIC_SYSTEMS)})
    msgs.append({"role": "user", "content": question(p, rng)})
    meta = {"task": "tool", "kind": p.kind, "expected": p.answer}
    if rng.random() < 0.55:  # first turn: call the tool
        return Sample(msgs, thinking, TOOL_THINK if thinking else "", tool_call_text(p.expression),
                      {**meta, "stage": "call"}, tools)
    msgs += tool_messages([ToolCall("calculator", {"expression": p.expression})], [str(p.answer)],
                          reasoning=TOOL_THINK if thinking else "")
    return Sample(msgs, thinking, TOOL_RESULT_THINK if thinking else "", tool_answer(p.answer),
                  {**meta, "stage": "answer"}, tools)


JSON_SYSTEMS = ("Answer only with a JSON object.", "Reply in JSON.", "Respond in JSON format.")
NEW_TASKS = ("tool", "tool-chat", "json")  # the tasks of the stages after stage 1


def json_answer(value: int) -> str:
    """The answer as a JSON object, ``{"answer": 579}`` (``json.dumps``' separators)."""

    return json.dumps({"answer": value})


def json_sample(rng: random.Random, *, held_out: bool = False) -> Sample:
    """An arithmetic question under a system prompt that asks for JSON: the answer is ``{"answer": N}``,
    after the usual scratchpad when thinking is on."""
    thinking = rng.random() < 0.5
    p = sample_problem(rng, held_out=held_out)
    msgs = [{"role": "system", "content": rng.choice(JSON_SYSTEMS)}, {"role": "user", "content": question(p, rng)}]
    return Sample(msgs, thinking, scratchpad(p) if thinking else "", json_answer(p.answer),
                  {"task": "json", "level": p.level, "op": p.op, "expected": p.answer})


def tool_answer(result: Any) -> str:
    """The final answer after the tool's response: the result right after a fixed prefix, so the model
    copies it from ``<tool_response>`` (a different surface from ``a × b = ...``, which it computes)."""
    return f"The result is {result}."
