"""The agent loop, small enough to read: the model calls a tool, the tool runs, its result goes
back as a ``role: tool`` message, and the model answers.

Notebook 10 writes the loop out first (generate, parse, run, append, with the same bound and the same kind of
``Error: ...`` messages); this module is that loop batched, over three back-ends, with a transcript.

    from labkit.lessons import agent
    t = agent.run(agent.LocalModel(model, tok), "What is 123 × 4567?", thinking=True, max_calls=3)
    print(t)                       # the steps: thinking, calls, tool results, answer, outcome
    print(t.format(raw=True))      # ... with each reply exactly as the model wrote it

:func:`run_batch` is the loop; :func:`run` is a batch of one.  It is bounded: every reply that
continues the loop spends at least one of ``max_calls`` tool calls, so at most ``max_calls + 1``
replies are generated; a reply that asks for more calls than are left stops it with the outcome
``"max_calls"`` (its calls are not run).  A reply without a call ends it with ``"answered"``.

Mistakes become ``role: tool`` messages the model can read (and the learner sees in the transcript):

* a call to a tool that does not exist: ``Error: unknown tool 'x'; available: calculator.``
* a call that cannot be read (bad JSON, an unclosed block): ``Error: the tool call could not be read: ...``
  (it counts as one call, so a model that keeps writing broken calls still stops)
* arguments of the wrong shape: ``Error: wrong arguments for 'calculator': missing 'expression'; ...``

One loop, three back-ends, each turning conversations into :class:`Turn` s:

* :class:`LocalModel`: the model in this process, through :mod:`labkit.generation` (``batch_inputs`` with
  ``tools=`` for the chat template, ``generate_replies``); the calls are parsed from the text
  (:func:`labkit.lessons.tools.parse_tool_calls`, Qwen3's JSON form by default).
* :class:`ServerModel`: an OpenAI-compatible server (``client.chat.completions.create(tools=...)``); the
  server parses the calls and returns ``tool_calls`` with ids, answered by ``tool_call_id``.
* :class:`FunctionModel`: a Python function that writes the reply text (tests, scripted demos).

The conversation is kept in the OpenAI message format (assistant ``tool_calls`` with ``id`` and JSON
``arguments``, ``role: tool`` messages with ``tool_call_id``), which both a server and the chat template
take; :class:`LocalModel` turns the JSON arguments back into dicts as ``transformers serve`` does.

Used in notebook 10.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from labkit.errors import LabError
from labkit.generation import batch_inputs, generate_replies
from labkit.lessons.tools import ToolCall, ToolCallError, calculator, call_tool, parse_tool_calls

OUTCOMES = ("answered", "max_calls")
_BLOCK = re.compile(r"<tool_call>.*?(?:</tool_call>|$)", flags=re.S)


# --------------------------------------------------------------------------- what one reply said
@dataclass
class Turn:
    """One model reply: the text as written, its thinking and answer text, and its tool calls.

    ``error`` says why the reply's tool calls could not be read (then ``calls`` is empty).
    """
    raw: str
    thinking: str = ""
    content: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    error: str | None = None
    new_tokens: int | None = None


def turn_from_text(answer: str, thinking: str = "", raw: str | None = None, *, form: str = "json",
                   schemas: list | None = None, new_tokens: int | None = None) -> Turn:
    """A :class:`Turn` from a reply's answer text (after any think block): its calls parsed in ``form``."""
    try:
        calls, error = parse_tool_calls(answer, form=form, tools=schemas), None
    except ToolCallError as e:
        calls, error = [], str(e)
    content = _BLOCK.sub("", answer).strip() if calls else answer.strip()
    return Turn(answer if raw is None else raw, thinking, content, calls, [f"call_{i}" for i in range(len(calls))],
                error, new_tokens)


def split_think(text: str) -> tuple[str, str]:
    """``(thinking, answer)`` of a reply's text: split at the last ``</think>``."""
    if "</think>" not in text:
        return "", text
    head, _, answer = text.rpartition("</think>")
    return head.replace("<think>", "").strip("\n"), answer.strip("\n")


# --------------------------------------------------------------------------- the back-ends
class Backend:
    """Turns conversations into replies.  Subclasses give :meth:`replies`."""

    def replies(self, conversations: list[list[dict]], schemas: list[dict], thinking: bool | None) -> list[Turn]:
        raise NotImplementedError


class LocalModel(Backend):
    """The model in this process: :func:`labkit.generation.batch_inputs` (``tools=`` to the chat template)
    and :func:`labkit.generation.generate_replies`, left-padded batches of up to ``batch_size`` open conversations.
    Greedy unless sampling arguments are given; ``form`` is the wire form the model writes."""

    def __init__(self, model, tokenizer, *, max_new_tokens: int = 128, form: str = "json", batch_size: int = 50,
                 **generate_kwargs):
        self.model, self.tokenizer, self.form, self.batch_size = model, tokenizer, form, max(1, int(batch_size))
        self.generate_kwargs = {"do_sample": False, "max_new_tokens": max_new_tokens, **generate_kwargs}
        if not self.generate_kwargs.get("do_sample"):
            self.generate_kwargs.update(temperature=None, top_p=None, top_k=None)

    def replies(self, conversations, schemas, thinking):
        convs = [[_template_message(m) for m in c] for c in conversations]
        out = []
        for start in range(0, len(convs), self.batch_size):
            inputs = batch_inputs(self.model, self.tokenizer, convs[start:start + self.batch_size], thinking=thinking,
                                  max_new_tokens=self.generate_kwargs["max_new_tokens"], tools=schemas)
            out += generate_replies(self.model, self.tokenizer, inputs, **self.generate_kwargs)
        return [turn_from_text(r.answer, r.thinking, r.text, form=self.form, schemas=schemas,
                               new_tokens=r.new_tokens) for r in out]


class ServerModel(Backend):
    """An OpenAI-compatible server: ``client.chat.completions.create(messages, tools=...)``, thinking
    through ``extra_body={"chat_template_kwargs": {"enable_thinking": ...}}``.  The server parses the
    calls (``message.tool_calls``); a reply whose content still holds ``<tool_call>`` text is one the
    server could not parse, and is read here to say why.  ``concurrency`` requests run at once."""

    def __init__(self, client, model: str, *, max_tokens: int = 128, temperature: float = 0.0,
                 concurrency: int = 4, form: str = "json", **create_kwargs):
        self.client, self.model, self.form = client, model, form
        self.create_kwargs = {"max_tokens": max_tokens, "temperature": temperature, **create_kwargs}
        self.concurrency = max(1, int(concurrency))

    @classmethod
    def from_handle(cls, handle, **kwargs) -> "ServerModel":
        """For a running :class:`labkit.serving.servers.ServerHandle` (what :func:`labkit.serving.serve.serve` returns)."""
        return cls(handle.client(timeout=kwargs.pop("timeout", 120.0)), handle.model, **kwargs)

    def one(self, messages: list[dict], schemas: list[dict], thinking: bool | None) -> Turn:
        kwargs = dict(self.create_kwargs)
        if thinking is not None:
            extra = dict(kwargs.pop("extra_body", None) or {})
            extra["chat_template_kwargs"] = {**extra.get("chat_template_kwargs", {}), "enable_thinking": thinking}
            kwargs["extra_body"] = extra
        r = self.client.chat.completions.create(model=self.model, messages=messages, tools=schemas or None,
                                                **kwargs)
        msg = r.choices[0].message
        extra = getattr(msg, "model_extra", None) or {}
        thinking_text = (getattr(msg, "reasoning_content", None) or extra.get("reasoning_content")
                         or extra.get("reasoning") or "")
        content = msg.content or ""
        raw = msg.model_dump_json(exclude_none=True)
        tokens = getattr(r.usage, "completion_tokens", None) if r.usage else None
        if not msg.tool_calls:  # no call, or one the server left in the text because it could not parse it
            return turn_from_text(content, thinking_text, raw, form=self.form, schemas=schemas, new_tokens=tokens)
        calls, ids = [], []
        for tc in msg.tool_calls:
            try:
                args = json.loads(tc.function.arguments or "{}")
            except json.JSONDecodeError as e:
                return Turn(raw, thinking_text, content, [], [], f"the arguments of {tc.function.name!r} are not "
                            f"JSON ({e.msg}).", tokens)
            if not isinstance(args, dict):
                return Turn(raw, thinking_text, content, [], [],
                            f"the arguments of {tc.function.name!r} must be a JSON object, got {args!r}.", tokens)
            calls.append(ToolCall(tc.function.name, args))
            ids.append(tc.id)
        return Turn(raw, thinking_text, content, calls, ids, None, tokens)

    def replies(self, conversations, schemas, thinking):
        if self.concurrency == 1 or len(conversations) == 1:
            return [self.one(c, schemas, thinking) for c in conversations]

        with ThreadPoolExecutor(min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self.one(c, schemas, thinking), conversations))


class FunctionModel(Backend):
    """A Python function as the model: ``reply(messages, schemas, thinking) -> str`` returns the reply
    text (a think block first, if any), parsed in ``form`` like a real model's.  For tests and demos."""

    def __init__(self, reply: Callable[[list[dict], list[dict], bool | None], str], *, form: str = "json"):
        self.reply, self.form = reply, form

    def replies(self, conversations, schemas, thinking):
        out = []
        for c in conversations:
            text = self.reply(c, schemas, thinking)
            think, answer = split_think(text)
            out.append(turn_from_text(answer, think, text, form=self.form, schemas=schemas))
        return out


def _template_message(m: dict) -> dict:
    """An OpenAI-format message as chat templates take it: JSON-string arguments back to dicts
    (what ``transformers serve`` does before it renders)."""
    if not m.get("tool_calls"):
        return m
    calls = []
    for tc in m["tool_calls"]:
        fn = dict(tc["function"])
        if isinstance(fn.get("arguments"), str):
            try:
                fn["arguments"] = json.loads(fn["arguments"])
            except json.JSONDecodeError:
                pass
        calls.append({**tc, "function": fn})
    return {**m, "tool_calls": calls}


# --------------------------------------------------------------------------- the transcript
@dataclass
class Step:
    """One reply and what the loop did with it: the tool results fed back (one per call, or one
    error for a reply whose calls could not be read; empty for the final answer or a stop)."""
    turn: Turn
    results: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    """What happened to one question: the steps, the outcome, the answer and the whole conversation."""
    question: str
    thinking: bool | None
    max_calls: int
    tools: list[str]
    steps: list[Step] = field(default_factory=list)
    outcome: str | None = None      # "answered" or "max_calls"
    answer: str | None = None       # the final reply's text ("answered"), else None
    messages: list[dict] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Tool calls run (an unreadable call counts as one)."""
        return sum(len(s.results) for s in self.steps)

    @property
    def replies(self) -> int:
        return len(self.steps)

    def summary(self) -> str:
        calls = f"{self.calls} tool call{'s' if self.calls != 1 else ''}"
        what = {"answered": "answered",
                "max_calls": f"stopped: the model asked for more than max_calls={self.max_calls}"}
        return f"outcome: {what.get(self.outcome, self.outcome)} · {calls} · {self.replies} model replies"

    def format(self, raw: bool = False, width: int = 100) -> str:
        """The transcript as text; ``raw=True`` adds each reply exactly as the model wrote it."""
        mode = {True: "thinking on", False: "thinking off", None: "thinking: template default"}[self.thinking]
        lines = [f"Question: {self.question}",
                 f"  {mode} · tools: {', '.join(self.tools) or 'none'} · max_calls {self.max_calls}"]
        for i, step in enumerate(self.steps, 1):
            t, pad = step.turn, " " * 12
            head = f"[{i}] model   "
            body = []
            if raw:
                body.append(f"raw:    {t.raw if len(t.raw) <= width * 3 else t.raw[:width * 3] + '…'!r}")
            if t.thinking:
                body.append(f"think:  {_short(t.thinking, width)}")
            for c in t.calls:
                body.append(f"call:   {c.name}({json.dumps(c.arguments, ensure_ascii=False)})")
            if t.error:
                body.append(f"wrote:  {_short(t.content, width)}")
                body.append(f"unreadable call: {t.error}")
            elif t.content and t.calls:
                body.append(f"text:   {_short(t.content, width)}")
            if not t.calls and not t.error:
                body.append(f"answer: {_short(t.content, width) if t.content else '(empty)'}")
            lines.append(head + body[0])
            lines += [pad + b for b in body[1:]]
            lines += [f"    tool    {_short(r, width * 3)}" for r in step.results]
        if self.outcome == "max_calls":
            lines.append(f"    (not run: the reply asks for calls beyond max_calls={self.max_calls})")
        lines.append(self.summary())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _short(text: str, n: int) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- the loop
def _registry(tools: Iterable[Callable[..., Any]] | dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    if isinstance(tools, dict):
        return dict(tools)
    reg = {}
    for fn in tools:
        if not callable(fn):
            raise LabError(f"{fn!r} is not a function.", "pass Python functions: tools=[calculator].")
        reg[fn.__name__] = fn
    return reg


def _schemas(registry: dict[str, Callable[..., Any]]) -> list[dict]:
    from transformers.utils import get_json_schema

    out = []
    for name, fn in registry.items():
        try:
            schema = get_json_schema(fn)
        except Exception as e:  # noqa: BLE001 (transformers' own message says which docstring part is missing)
            raise LabError(f"the tool {name!r} has no JSON schema: {e}",
                           "give it type hints and a Google-style docstring with an Args: section.") from None
        schema["function"]["name"] = name
        out.append(schema)
    return out


def assistant_message(turn: Turn) -> dict[str, Any]:
    """The reply as the conversation keeps it: OpenAI format, ``tool_calls`` with ids and JSON arguments.
    A reply whose calls could not be read keeps its text, the broken call included, so the model sees it."""
    msg: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.thinking:
        msg["reasoning_content"] = turn.thinking
    if turn.calls:
        msg["tool_calls"] = [{"id": i, "type": "function",
                              "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                             for i, c in zip(turn.call_ids, turn.calls)]
    return msg


def run_batch(backend: Backend, questions: Sequence[str | list[dict]], *,
              tools: Iterable[Callable[..., Any]] | dict[str, Callable[..., Any]] = (calculator,),
              thinking: bool | None = True, max_calls: int = 3) -> list[Transcript]:
    """Run the agent loop on every question at once (one batch per round of replies).

    Each round: the open conversations get a reply; a reply without a call is the answer
    (``"answered"``); a reply with calls runs them (:func:`labkit.lessons.tools.call_tool`: unknown tools
    and wrong arguments come back as ``Error: ...`` text) and appends the assistant ``tool_calls``
    message and one ``role: tool`` message per call; a reply that asks for more calls than
    ``max_calls`` leaves stops the loop (``"max_calls"``).  ``questions`` are strings or conversations.
    """
    if not isinstance(max_calls, int) or isinstance(max_calls, bool) or max_calls < 0:
        raise LabError(f"max_calls={max_calls!r} is not a count of tool calls.", "pass max_calls=3 (any int >= 0).")
    if isinstance(questions, str):
        raise LabError("questions is one string.", "use agent.run(backend, question) for one question.")
    registry = _registry(tools)
    schemas = _schemas(registry)
    transcripts = []
    for q in questions:
        messages = [{"role": "user", "content": q}] if isinstance(q, str) else [dict(m) for m in q]
        text = q if isinstance(q, str) else next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        transcripts.append(Transcript(text, thinking, max_calls, list(registry), messages=messages))
    open_ = list(transcripts)
    while open_:
        turns = backend.replies([t.messages for t in open_], schemas, thinking)
        still_open = []
        for t, turn in zip(open_, turns):
            wanted = len(turn.calls) or (1 if turn.error else 0)
            if wanted == 0:                                  # no call: the answer
                t.steps.append(Step(turn))
                t.messages.append(assistant_message(turn))
                t.outcome, t.answer = "answered", turn.content
            elif t.calls + wanted > max_calls:               # the bound: stop, do not run these calls
                t.steps.append(Step(turn))
                t.outcome = "max_calls"
            else:                                            # run the calls, feed the results back
                if turn.error:
                    ids = [f"call_unreadable_{t.calls}"]
                    results = [f"Error: the tool call could not be read: {turn.error}"]
                else:
                    ids, results = turn.call_ids, [call_tool(c, registry) for c in turn.calls]
                t.steps.append(Step(turn, results))
                t.messages.append(assistant_message(turn))
                t.messages += [{"role": "tool", "tool_call_id": i, "content": r} for i, r in zip(ids, results)]
                still_open.append(t)
        open_ = still_open
    return transcripts


def run(backend: Backend, question: str | list[dict], **kwargs) -> Transcript:
    """:func:`run_batch` for one question (a string, or a conversation)."""
    return run_batch(backend, [question], **kwargs)[0]


# --------------------------------------------------------------------------- a framework's loop: openai's own
def responses_tool(fn: Callable[..., Any], name: str | None = None) -> dict:
    """``fn`` as a Responses API function tool (flat: ``{"type": "function", "name", "parameters", ...}``),
    from the same ``get_json_schema`` schema that chat completions and the chat template take (nested)."""
    (schema,) = _schemas({name or fn.__name__: fn})
    f = schema["function"]
    return {"type": "function", "name": f["name"], "description": f.get("description", ""),
            "parameters": f["parameters"], "strict": False}


def responses_runner(tools: Iterable[Callable[..., Any]] | dict[str, Callable[..., Any]] = (calculator,)):
    """The ``openai`` client's own tool loop (``openai.lib.responses_tool_runner.ResponsesToolRunner``, the
    Responses API) with ``tools`` registered; each call runs through :func:`labkit.lessons.tools.call_tool`, so
    errors come back as ``Error: ...`` text as in :func:`run_batch`.

    With ``transformers serve`` pass ``"stream": False`` in the request parameters: its ``/v1/responses``
    streams unless the body says otherwise (``body.get("stream", True)``), while the client omits
    ``stream`` for a non-streaming request and then cannot read the event stream it gets back.
    ``runner.run(client, params, max_steps=N)`` bounds the loop.
    """
    from openai.lib.responses_tool_runner import RegisteredFunction, ResponsesToolRunner

    registry = _registry(tools)

    def executor(name: str) -> Callable[[dict], str]:
        return lambda args: call_tool(ToolCall(name, dict(args)), registry)

    return ResponsesToolRunner(functions=[RegisteredFunction(tool=responses_tool(fn, name), execute=executor(name))
                                          for name, fn in registry.items()])
