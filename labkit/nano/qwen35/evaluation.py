"""Evaluation of the nano Qwen3.5 on held-out data, through the standard classes (its model card's figures).

* :func:`evaluate_images`: held-out images of 2-3 numbers, "What is the sum ...?", through the processor;
* :func:`evaluate_arithmetic`: held-out problems of the nano Qwen3's curriculum;
* :func:`evaluate_tools`: held-out tool schemas (a tool name and a parameter name that no training schema
  declares) and held-out problems; the call is parsed from the XML form, run by the course's ``call_tool``, and
  the result sent back (with the call's reasoning in the history, or without it) for the final answer.

Every reply is generated greedily, in batches (left padding), by ``model.generate``.  An answer is right when
the last integer after any ``</think>`` equals the expected value (:func:`labkit.nano.evaluation.is_correct`).

Used by bench/nano35_benchmark.py.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable

from labkit.lessons import tools as T
from labkit.nano.evaluation import is_correct
from labkit.nano.qwen35 import curriculum as cur


def _answer(text: str) -> str:
    return text.split("</think>")[-1]


def _generate(model, processor, batch: list[cur.Sample], max_new_tokens: int) -> list[str]:
    """Greedy replies to each sample's conversation without its last (target) message."""
    import torch

    tok = getattr(processor, "tokenizer", processor)
    tok.padding_side = "left"
    texts = [tok.apply_chat_template(s.messages[:-1], tokenize=False, add_generation_prompt=True,
                                     enable_thinking=s.thinking, **({"tools": s.tools} if s.tools else {}))
             for s in batch]
    images = [s.image for s in batch if s.image is not None]
    kw = {"images": images} if images else {}
    inputs = (processor(text=texts, padding=True, return_tensors="pt", **kw) if kw
              else tok(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def _run(samples: list[cur.Sample], model, processor, max_new_tokens: int, batch_size: int) -> list[str]:
    replies: list[str] = []
    for i in range(0, len(samples), batch_size):
        replies += _generate(model, processor, samples[i:i + batch_size], max_new_tokens)
    return replies


def evaluate_images(model, processor, *, thinking: bool, n: int = 200, seed: int = 0,
                    batch_size: int = 16) -> dict[str, Any]:
    rng = random.Random(seed)
    samples = [cur.image_sample(rng, held_out=True, thinking=thinking, ask="sum") for _ in range(n)]
    t0 = time.time()
    replies = _run(samples, model, processor, 160 if thinking else 40, batch_size)
    right = [is_correct(_answer(r), s.meta["expected"]) for s, r in zip(samples, replies)]
    read = [all(str(x) in _answer(r) or str(x) in r for x in s.meta["numbers"]) for s, r in zip(samples, replies)]
    by_count = {c: [ok for ok, s in zip(right, samples) if len(s.meta["numbers"]) == c] for c in (2, 3)}
    return {"task": "image", "thinking": thinking, "n": n, "accuracy": sum(right) / n, "read_all": sum(read) / n,
            "by_count": {c: (sum(v) / len(v) if v else None, len(v)) for c, v in by_count.items()},
            "seconds": round(time.time() - t0, 1), "examples": replies[:3]}


def evaluate_arithmetic(model, tokenizer, *, thinking: bool, n: int = 200, seed: int = 0,
                        batch_size: int = 32) -> dict[str, Any]:
    rng = random.Random(seed)
    samples = [cur.arithmetic_sample(rng, held_out=True, thinking=thinking) for _ in range(n)]
    t0 = time.time()
    replies = _run(samples, model, tokenizer, 120 if thinking else 24, batch_size)
    right = [is_correct(_answer(r), s.meta["expected"]) for s, r in zip(samples, replies)]
    return {"task": "arithmetic", "thinking": thinking, "n": n, "accuracy": sum(right) / n,
            "seconds": round(time.time() - t0, 1), "examples": replies[:2]}


def _call_ok(reply: str, sample: cur.Sample) -> tuple[bool, T.ToolCall | None]:
    """Whether ``reply`` is exactly one XML call of the offered tool, with its declared parameter and an
    expression of the right value."""
    try:
        calls = T.parse_tool_calls(_answer(reply), form="xml")
    except ValueError:
        return False, None
    if len(calls) != 1:
        return False, None
    call = calls[0]
    if call.name != sample.meta["name"] or set(call.arguments) != {sample.meta["param"]}:
        return False, call
    try:
        value = T.safe_eval(str(call.arguments[sample.meta["param"]]))
    except ValueError:
        return False, call
    return value == sample.meta["expected"], call


def client_tools(tools: list[dict], calculator: str) -> dict[str, tuple[dict, Callable[..., str]]]:
    """The offered schemas as the course's client runs them (:func:`labkit.lessons.tools.call_tool`): the one
    named ``calculator`` computes its single argument, whatever the schema calls it; the others (a weather or
    e-mail tool) compute nothing and say so."""
    def compute(**arguments: Any) -> str:
        (expression,) = arguments.values()
        return T.calculator(str(expression))

    def refuse(name: str) -> Callable[..., str]:
        def tool(**arguments: Any) -> str:
            raise ValueError(f"{name} cannot compute {', '.join(map(repr, arguments.values()))}.")
        return tool

    return {t["function"]["name"]: (t, compute if t["function"]["name"] == calculator else
                                    refuse(t["function"]["name"])) for t in tools}


def evaluate_tools(model, tokenizer, *, thinking: bool, n: int = 200, seed: int = 0, send_reasoning: bool = True,
                   batch_size: int = 16) -> dict[str, Any]:
    """Held-out schemas and problems: the call (valid and correct), then the final answer from the result."""
    rng = random.Random(seed)
    samples = [cur.tool_sample(rng, held_out=True, thinking=thinking, stage="call") for _ in range(n)]
    t0 = time.time()
    replies = _run(samples, model, tokenizer, 120, batch_size)
    checked = [_call_ok(r, s) for s, r in zip(samples, replies)]
    follow: list[cur.Sample] = []
    for s, reply, (_, call) in zip(samples, replies, checked):
        msgs = [m for m in s.messages[:-1]]
        if call is None:   # no readable call: the conversation cannot go on
            follow.append(None)  # type: ignore[arg-type]
            continue
        result = T.call_tool(call, client_tools(s.tools, s.meta["name"]))
        reasoning = reply.split("</think>")[0].strip() if (thinking and send_reasoning and "</think>" in reply) else ""
        msgs += T.tool_messages([call], [result], reasoning=reasoning)
        msgs.append({"role": "assistant", "content": ""})
        follow.append(cur.Sample(msgs, thinking, s.meta, s.tools))
    todo = [f for f in follow if f is not None]
    finals = iter(_run(todo, model, tokenizer, 60, batch_size))
    answers = [next(finals) if f is not None else "" for f in follow]
    right = [is_correct(_answer(a), s.meta["expected"]) for s, a in zip(samples, answers)]
    return {"task": "tools", "thinking": thinking, "send_reasoning": send_reasoning, "n": n,
            "call_valid_and_correct": sum(ok for ok, _ in checked) / n, "final_accuracy": sum(right) / n,
            "seconds": round(time.time() - t0, 1), "examples": replies[:2] + answers[:2]}
