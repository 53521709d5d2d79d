"""The nano Qwen3: its curriculum, and evaluation as code.

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
* **held out on purpose**: doubling (``Double 47.`` -> ``47 + 47 = 94``).  The
  model never saw the instruction; notebook 05 teaches it with LoRA, reusing the
  addition it already knows.

Problems are split by a hash of ``(a, op, b)``: one in five belongs to the
held-out set and is never used in training.  :func:`evaluate` draws only from it.
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from .chat import Reply, generate_batch
from .errors import LabError

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
    digest = hashlib.sha256(f"{a}{op}{b}".encode()).digest()
    return digest[0] % 5 == 0


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
    messages: list[dict[str, str]]
    thinking: bool          # enable_thinking passed to the chat template
    reasoning: str          # the think-block text of the target ('' = empty block)
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


def _arith_sample(rng: random.Random, thinking: bool, system: str | None = None,
                  prefix: str = "") -> Sample:
    p = sample_problem(rng, held_out=False)
    msgs = ([{"role": "system", "content": system}] if system else [])
    msgs.append({"role": "user", "content": question(p, rng)})
    return Sample(msgs, thinking, scratchpad(p) if thinking else "", prefix + answer_line(p),
                  {"task": "arithmetic", "level": p.level, "op": p.op})


def training_sample(rng: random.Random) -> Sample:
    """Draw one sample of the curriculum (the mix the shipped model was trained on)."""
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
    prompt = tokenizer.apply_chat_template(sample.messages, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=sample.thinking)
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


def double_dataset(n: int, seed: int = 0, *, thinking: bool = False) -> list[dict[str, Any]]:
    """``n`` conversations (``messages`` ending with the assistant's answer) teaching doubling.

    With ``thinking`` the assistant's content holds ``<think>\n{scratchpad}\n</think>\n\n``
    before the answer, as the Qwen3 template expects for a thinking turn.

    Drawn from the training split only, so :func:`evaluate` with ``task="double"``
    measures numbers the fine-tuned model never saw.
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        s = double_sample(rng, thinking=thinking)
        content = f"<think>\n{s.reasoning}\n</think>\n\n{s.answer}" if thinking else s.answer
        rows.append({"messages": s.messages + [{"role": "assistant", "content": content}]})
    return rows


# --------------------------------------------------------------------------- evaluation
_INT = re.compile(r"-?\d+")


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
        nums = _INT.findall(reply.answer)
        ok = bool(nums) and int(nums[-1]) == p.answer
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
