"""The nano Qwen3.5's curriculum as code: arithmetic, images of numbers, and tools in Qwen3.5's XML form.

Every sample is a conversation rendered by the original Qwen3.5 chat template (trl's ``qwen3_5_nothink.jinja``,
shipped by Qwen3.5-0.8B and 2B: thinking off unless ``enable_thinking=True``; with it on, the generation prompt
already opens ``<think>``).  Three skills:

* **arithmetic**: the nano Qwen3's problems and column-by-column scratchpad (:mod:`labkit.nano.curriculum`);
* **images of numbers** (:func:`draw_numbers`): 2 or 3 integers from 10 to 99, drawn in black with PIL's
  default font at 22-56 px at random non-overlapping places on a white 256 x 256 canvas, and a question
  ("What is the sum of the numbers in the image?", or which numbers it shows).  The reply reads the numbers
  left to right, then adds them (with thinking on, in the scratchpad); the answer is the last integer;
* **tools in the XML form** (``<function=NAME><parameter=KEY>value</parameter></function>``): one
  calculator-like tool whose name (a word or two of 38), parameter name (a word or two of 40) and description
  are drawn from lists
  (:func:`random_tool`), sometimes beside a tool for something else; the model calls the tool the prompt
  offers, with the parameter its schema declares, then answers from the ``role: tool`` result, with or without
  the reasoning of the call sent back in the history.  A training option, the copy drill
  (:func:`copy_drill_name`), names a share of the schemas with two or three words of both lists, too many
  names to remember, so that writing one means copying it from the schema.

Held out (never trained): one problem in five (by a hash, as for the nano Qwen3), one image in five (by a hash
of its numbers and layout), and one tool name and one parameter name in four (by a hash of each: a held-out schema
has a tool name and a parameter name no training schema has, made of words that training names use).

Used by labkit.nano.qwen35.evaluation, labkit.nano.qwen35.train, labkit.nano.qwen35.vision.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from labkit.nano import curriculum as q3

CANVAS = 256
FONT_SIZES = (22, 56)
SUM_QUESTIONS = ["What is the sum of the numbers in the image?", "Add the numbers in the image.",
                 "What do the numbers in this picture add up to?", "What is the total of the numbers shown?"]
READ_QUESTIONS = ["What numbers are in the image?", "Which numbers do you see?", "Read the numbers in the image."]

# tool names and parameter names: a word, or two joined by "_" (``do_math``, ``math_input``), about 1,500 of each; a
# held-out schema has a name and a parameter name that no training schema has (by a hash of each), while every word
# in them is trained in other names, so the held-out test is whether the model copies the names its schema declares
# instead of names it remembers
NAME_WORDS = ["calculate", "compute", "evaluate", "solve", "run", "do", "eval", "get", "find", "work", "math",
              "calc", "crunch", "resolve", "process", "expression", "arithmetic", "formula", "sum", "result",
              "numbers", "equation", "value", "answer", "total", "product", "calculator", "tool", "helper",
              "multiply", "add", "quick", "basic", "my", "simple", "exact", "number", "cruncher"]
PARAM_WORDS = ["expression", "expr", "formula", "query", "input", "math", "equation", "problem", "text",
               "calculation", "arithmetic", "q", "exp", "statement", "task", "value", "number", "numbers", "string",
               "str", "sum", "calc", "code", "arg", "x", "s", "term", "operation", "op", "source", "content",
               "line", "request", "data", "question", "prompt", "raw", "user", "eq", "payload"]
DESCRIPTIONS = ["Evaluate an arithmetic expression.", "Compute the value of a math expression.",
                "Calculate a result.", "A calculator: returns the value of {p}.", "Solves arithmetic exactly.",
                "Returns the exact result of the expression.", "Use this for any arithmetic.",
                "Work out {p} and return the number.", "A simple calculator.", "Do math on numbers."]
PARAM_DESCRIPTIONS = ["The expression to evaluate, e.g. 12 * 34.", "An arithmetic expression.",
                      "What to compute.", "The math to do, with + - * /.", "A formula such as 3 + 4.", ""]
OTHER_TOOLS = [("get_weather", "city", "The current weather in a city."),
               ("search_web", "query", "Search the web for a query."),
               ("send_email", "to", "Send an email to an address."),
               ("translate", "text", "Translate a text to English."),
               ("get_time", "timezone", "The current time in a time zone.")]
CALL_THINK = "The {name} tool can compute this. I will call it."
RESULT_THINK = "The tool returned the result."


@dataclass
class Sample:
    """One conversation; the last message (an assistant turn) is the training target."""
    messages: list[dict[str, Any]]
    thinking: bool
    meta: dict[str, Any] = field(default_factory=dict)
    tools: list[dict] | None = None
    image: Any = None                                   # a PIL image in the last user turn, or None


def _hash(*parts: Any) -> int:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()[0]


# --------------------------------------------------------------------------- images of numbers
def draw_numbers(rng: random.Random, count: int | None = None, *, digits: list | None = None):
    """(image, numbers left to right, layout): ``count`` (2-3) integers 10-99 on a white 256 x 256 canvas.

    ``digits``: a list that receives ``(digit, x0, y0, x1, y1)`` for every digit drawn (its ink box), for the
    vision pre-stage's labels; the draws (and so the image) are the same with or without it."""
    from PIL import Image, ImageDraw, ImageFont

    count = count or rng.choice((2, 2, 3))
    image = Image.new("RGB", (CANVAS, CANVAS), "white")
    draw = ImageDraw.Draw(image)
    boxes: list[tuple[int, int, int, int, int]] = []
    while len(boxes) < count:
        n, size = rng.randint(10, 99), rng.randint(*FONT_SIZES)
        font = ImageFont.load_default(size)
        left, top, right, bottom = draw.textbbox((0, 0), str(n), font=font)
        w, h = right - left, bottom - top
        x, y = rng.randint(2, CANVAS - w - 2) - left, rng.randint(2, CANVAS - h - 2) - top
        box = (x + left - 3, y + top - 3, x + right + 3, y + bottom + 3)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        boxes.append((*box, n))
        draw.text((x, y), str(n), fill="black", font=font)
        if digits is not None:
            for k, d in enumerate(str(n)):
                left_k = draw.textbbox((x, y), str(n)[:k], font=font)[2] if k else x + left
                digits.append((int(d), left_k, y + top, draw.textbbox((x, y), str(n)[:k + 1], font=font)[2],
                               y + bottom))
    ordered = sorted(boxes, key=lambda b: (b[0], b[1]))
    return image, [b[4] for b in ordered], tuple(b[:4] for b in ordered)


def image_is_held_out(numbers: list[int], layout: tuple) -> bool:
    return _hash(numbers, layout) % 5 == 0


def _sum_working(numbers: list[int]) -> tuple[str, str]:
    """(scratchpad, the line of the answer) for adding ``numbers`` left to right."""
    steps, total = [], numbers[0]
    for n in numbers[1:]:
        steps.append(q3.scratchpad(q3.Problem(total, "+", n, len(str(total)))))
        total += n
    return "\n".join(steps), " + ".join(map(str, numbers)) + f" = {total}"


def image_sample(rng: random.Random, *, held_out: bool = False, thinking: bool | None = None,
                 count: int | None = None, ask: str | None = None) -> Sample:
    """A question about an image of numbers (``ask``: ``"sum"`` or ``"read"``)."""
    while True:
        image, numbers, layout = draw_numbers(rng, count)
        if image_is_held_out(numbers, layout) == held_out:
            break
    thinking = rng.random() < 0.5 if thinking is None else thinking
    ask = ask or ("sum" if rng.random() < 0.8 else "read")
    listed = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    if ask == "read":
        question, reasoning, answer = rng.choice(READ_QUESTIONS), "I read the numbers from left to right.", \
            f"The numbers are {listed}."
    else:
        working, line = _sum_working(numbers)
        question = rng.choice(SUM_QUESTIONS)
        reasoning, answer = f"The numbers are {listed}.\n{working}", line
        if not thinking:
            answer = f"The numbers are {listed}. {line}"
    content = [{"type": "image", "image": image}, {"type": "text", "text": question}]
    msgs = [{"role": "user", "content": content}, _assistant(answer, reasoning if thinking else "")]
    return Sample(msgs, thinking, {"task": "image", "ask": ask, "numbers": numbers, "expected": sum(numbers)},
                  image=image)


# --------------------------------------------------------------------------- arithmetic
def arithmetic_sample(rng: random.Random, *, held_out: bool = False, thinking: bool | None = None) -> Sample:
    thinking = rng.random() < 0.5 if thinking is None else thinking
    p = q3.sample_problem(rng, held_out=held_out)
    msgs = [{"role": "user", "content": q3.question(p, rng)},
            _assistant(q3.answer_line(p), q3.scratchpad(p) if thinking else "")]
    return Sample(msgs, thinking, {"task": "arithmetic", "level": p.level, "op": p.op, "expected": p.answer})


# --------------------------------------------------------------------------- tools in the XML form
def compound_name(rng: random.Random, words: list[str]) -> str:
    """One of ``words``, or two of them joined by ``_``."""
    return "_".join(rng.sample(words, 1 if rng.random() < 0.35 else 2))


def name_is_held_out(name: str) -> bool:
    """The split of tool names and parameter names alike: one in four is never trained."""
    return _hash(name) % 4 == 0


def _draw(rng: random.Random, words: list[str], held_out: bool) -> str:
    name = compound_name(rng, words)
    while name_is_held_out(name) != held_out:
        name = compound_name(rng, words)
    return name


def copy_drill_name(rng: random.Random) -> str:
    """Two or three words of both lists, joined by ``_`` (``eq_crunch_total``): 307,272 distinct names (words on
    both lists are drawn from either, so a word can repeat), 230,099 of them trainable, too many to remember, so a
    model that writes one has to copy it from the schema.  Training only; never a held-out name."""
    while name_is_held_out(name := "_".join(rng.sample(NAME_WORDS + PARAM_WORDS, rng.choice((2, 3))))):
        pass
    return name


def random_tool(rng: random.Random, *, held_out: bool = False, copy_drill: float = 0.0) -> dict:
    """A calculator-like tool schema with a drawn name, parameter name and description; with ``held_out``, a name
    and a parameter name the training never declares (:func:`name_is_held_out`), and never a held-out one otherwise.
    ``copy_drill``: the share of training schemas whose names are :func:`copy_drill_name` instead."""
    if not held_out and copy_drill and rng.random() < copy_drill:
        name, param = copy_drill_name(rng), copy_drill_name(rng)
    else:
        name, param = _draw(rng, NAME_WORDS, held_out), _draw(rng, PARAM_WORDS, held_out)
    desc = rng.choice(DESCRIPTIONS).format(p=f"the {param}")
    prop = {"type": "string"}
    if pdesc := rng.choice(PARAM_DESCRIPTIONS):
        prop["description"] = pdesc
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {param: prop}, "required": [param]}}}


def _other_tool(rng: random.Random) -> dict:
    name, param, desc = rng.choice(OTHER_TOOLS)
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {param: {"type": "string"}}, "required": [param]}}}


def _assistant(content: str, reasoning: str = "", calls: list[dict] | None = None) -> dict:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        msg["reasoning_content"] = reasoning
    if calls:
        msg["tool_calls"] = calls
    return msg


def tool_sample(rng: random.Random, *, held_out: bool = False, thinking: bool | None = None,
                stage: str | None = None, send_reasoning: bool | None = None, copy_drill: float = 0.0) -> Sample:
    """The call (``stage="call"``) or the answer from the tool's result (``"answer"``) for a problem outside
    the model's own skill (a product of two 2-4 digit numbers, a sum of 3-5 numbers).  ``copy_drill``: see
    :func:`random_tool`."""
    thinking = rng.random() < 0.5 if thinking is None else thinking
    stage = stage or ("call" if rng.random() < 0.55 else "answer")
    tool = random_tool(rng, held_out=held_out, copy_drill=copy_drill)
    tools = [tool] if rng.random() < 0.6 else rng.sample([tool, _other_tool(rng)], 2)
    name = tool["function"]["name"]
    param = next(iter(tool["function"]["parameters"]["properties"]))
    p = q3.sample_tool_problem(rng, held_out=held_out)
    msgs: list[dict[str, Any]] = [{"role": "user", "content": q3.question(p, rng)}]
    call = [{"type": "function", "function": {"name": name, "arguments": {param: p.expression}}}]
    think = CALL_THINK.format(name=name) if thinking else ""
    meta = {"task": "tool", "stage": stage, "name": name, "param": param, "expression": p.expression,
            "expected": p.answer}
    if stage == "call":
        msgs.append(_assistant("", think, call))
        return Sample(msgs, thinking, meta, tools)
    send = rng.random() < 0.5 if send_reasoning is None else send_reasoning
    msgs.append(_assistant("", think if send else "", call))
    msgs.append({"role": "tool", "content": str(p.answer)})
    msgs.append(_assistant(q3.tool_answer(p.answer), RESULT_THINK if thinking else ""))
    return Sample(msgs, thinking, {**meta, "sent_reasoning": send}, tools)


# --------------------------------------------------------------------------- the mix, and rendering
MIX = {"image": 0.45, "arithmetic": 0.25, "tool": 0.30}


def training_sample(rng: random.Random, mix: dict[str, float] | None = None, copy_drill: float = 0.0) -> Sample:
    mix = mix or MIX
    task = rng.choices(list(mix), weights=list(mix.values()))[0]
    if task == "tool":
        return tool_sample(rng, copy_drill=copy_drill)
    return {"image": image_sample, "arithmetic": arithmetic_sample}[task](rng)


def render(sample: Sample, tokenizer) -> tuple[str, str]:
    """(prompt, target): the prompt up to the generation prompt, and the last assistant turn as the template
    writes it (its think block, content and tool calls) up to ``<|im_end|>``."""
    kw = {"tools": sample.tools} if sample.tools else {}
    prompt = tokenizer.apply_chat_template(sample.messages[:-1], tokenize=False, add_generation_prompt=True,
                                           enable_thinking=sample.thinking, **kw)
    full = tokenizer.apply_chat_template(sample.messages, tokenize=False, enable_thinking=sample.thinking, **kw)
    head = prompt.removesuffix("<think>\n\n</think>\n\n").removesuffix("<think>\n")
    assert full.startswith(head), "the template rendered the history differently"
    target = full[len(prompt):].rstrip("\n") if full.startswith(prompt) else None
    if target is None:   # thinking off: the template writes the assistant's empty think block itself
        raise AssertionError(f"the prompt is not a prefix of the conversation: {full[len(head):][:80]!r}")
    return prompt, target
