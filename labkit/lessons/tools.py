"""Tool calling with Qwen: a calculator tool, a safe evaluator, and parsers for the model's calls.

* :func:`calculator` is the tool.  Its docstring follows the Google style that
  ``transformers.utils.get_json_schema`` reads, so ``get_json_schema(calculator)``
  (or ``tools=[calculator]`` in ``apply_chat_template``) gives its JSON schema.
* :func:`safe_eval` evaluates an arithmetic expression by walking its ``ast``:
  numbers, ``+ - * /``, parentheses and unary minus.  Never ``eval``/``exec``;
  anything else raises a :class:`ValueError` that says what was refused.
* :func:`parse_tool_calls` reads the calls out of a reply in either wire form, with clear errors:
  Qwen3's JSON form ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` (``form="json"``)
  or Qwen3.5's XML form ``<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>...``
  (``form="xml"``).  Both go through transformers' response parser with trl's response templates
  (:func:`response_template`: trl's ``qwen3_template`` / ``qwen3_5_template``).  :func:`tool_call_text`
  writes a call in either form, as the original templates write it.
* :func:`check_arguments` says what is wrong with a call's arguments against the tool's schema;
  :func:`call_tool` runs a parsed call (errors come back as ``Error: ...`` text for the model), and
  :func:`tool_messages` builds the assistant (``tool_calls``) and ``role: tool`` messages.
* :func:`qwen3_5_tokenizer` is the real Qwen3.5 tokenizer with its original chat template (from trl)
  and response template set.

Where the forms come from: Qwen3's JSON form (the Hermes-style format of Qwen2.5 and Qwen3) is written by the
original Qwen3 chat template (``trl/chat_templates/qwen3.jinja``; vLLM reads it with ``--tool-call-parser hermes``);
Qwen3.5's XML form is written by the original Qwen3.5 templates (``trl/chat_templates/qwen3_5_think.jinja``,
``qwen3_5_nothink.jinja``; ``transformers serve`` parses it for qwen3_5 models in
``transformers/cli/serving/utils.py``; it is Qwen3-Coder's format, which vLLM reads with
``--tool-call-parser qwen3_coder`` or ``qwen3_xml``).

Used in notebooks 10, 12.
"""
from __future__ import annotations

import ast
import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from labkit.errors import LabError
from labkit.tokenizer import load_tokenizer

MAX_DIGITS = 60  # refuse numbers (and results) longer than this: a calculator, not a bignum engine

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def safe_eval(expression: str) -> int | float:
    """The value of an arithmetic expression: numbers, ``+ - * /``, parentheses, unary minus.

    ``×`` and ``÷`` are read as ``*`` and ``/``.  Integer results stay integers (``7 / 2`` is
    ``3.5``, ``8 / 2`` is ``4``).  Raises :class:`ValueError` for anything else (names, calls,
    powers, attribute access, ...), for syntax errors and for division by zero.
    """
    if not isinstance(expression, str):
        raise ValueError(f"the expression must be a string, not {type(expression).__name__}.")
    text = expression.replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    if not text:
        raise ValueError("the expression is empty.")
    if len(text) > 1000:
        raise ValueError("the expression is longer than 1000 characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"{expression!r} is not an arithmetic expression ({e.msg}).") from None
    value = _walk(tree.body, expression)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def _walk(node: ast.AST, source: str) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if len(str(node.value)) > MAX_DIGITS:
            raise ValueError(f"the number {str(node.value)[:20]}... has more than {MAX_DIGITS} digits.")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left, source), _walk(node.right, source)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError(f"division by zero in {source!r}.")
        value = _BINARY[type(node.op)](left, right)
        if isinstance(value, int) and len(str(abs(value))) > MAX_DIGITS:
            raise ValueError(f"the result of {source!r} has more than {MAX_DIGITS} digits.")
        return value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, source))
    what = type(node.op).__name__ if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node).__name__
    raise ValueError(f"{source!r} uses {what}, which the calculator refuses: only numbers, + - * /, "
                     "parentheses and unary minus are allowed.")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return the result.

    Args:
        expression: The expression to evaluate, with numbers, + - * / and parentheses, e.g. "12 * 34".
    """
    value = safe_eval(expression)
    return str(value)


TOOLS: dict[str, Callable[..., Any]] = {"calculator": calculator}


def calculator_schema() -> dict:
    """The JSON schema of :func:`calculator`, as ``apply_chat_template(tools=[calculator])`` renders it."""
    from transformers.utils import get_json_schema

    return get_json_schema(calculator)


# --------------------------------------------------------------------------- parsing the model's calls
class ToolCallError(ValueError):
    """A ``<tool_call>`` block that is not ``{"name": str, "arguments": object}`` JSON."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def as_message_call(self) -> dict:
        """The call as it goes into an assistant message's ``tool_calls`` list."""
        return {"type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def _check_call(obj: Any, raw: str) -> ToolCall:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise ToolCallError(f"a tool call must be a JSON object with a string 'name', got {raw[:80]!r}.")
    args = obj.get("arguments", {})
    if isinstance(args, str):  # some models write the arguments as a JSON string
        try:
            args = json.loads(args)
        except json.JSONDecodeError as e:
            raise ToolCallError(f"the arguments of {obj['name']!r} are a string that is not JSON ({e.msg}).") from None
    if not isinstance(args, dict):
        raise ToolCallError(f"the arguments of {obj['name']!r} must be a JSON object, got {args!r}.")
    extra = set(obj) - {"name", "arguments"}
    if extra:
        raise ToolCallError(f"unexpected keys {sorted(extra)} in the tool call {raw[:80]!r}.")
    return ToolCall(obj["name"], args)


# --------------------------------------------------------------------------- the two wire forms
FORMS = ("json", "xml")
# trl's response templates (trl/chat_template_utils.py) for each form
_TRL_TEMPLATES = {"json": "qwen3_template", "xml": "qwen3_5_template"}


def response_template(form: str = "json") -> dict:
    """trl's response template for ``form``: ``"json"`` (Qwen3, trl's ``qwen3_template``) or
    ``"xml"`` (Qwen3.5, trl's ``qwen3_5_template``): what ``tokenizer.parse_response`` reads."""
    if form not in FORMS:
        raise LabError(f"unknown tool-call form {form!r}.", f"use one of {FORMS}.")
    try:
        from trl import chat_template_utils
    except ImportError as e:
        raise LabError("parsing tool calls uses trl's response templates, and trl is not installed.",
                       "pip install -e '.[notebooks]' (or pip install trl==1.16.0).") from e
    return getattr(chat_template_utils, _TRL_TEMPLATES[form])


def __getattr__(name: str) -> Any:  # the templates as module constants, imported from trl on first use
    if name == "QWEN3_RESPONSE_TEMPLATE":
        return response_template("json")
    if name == "QWEN3_5_RESPONSE_TEMPLATE":
        return response_template("xml")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_response(text: str, prefix: str = "<|im_start|>assistant\n", *, form: str = "json",
                   tools: list | None = None) -> dict[str, Any]:
    """A reply as an assistant message dict (``content``, ``reasoning_content``, ``tool_calls``),
    parsed by transformers' response parser with trl's template for ``form`` (:func:`response_template`).

    ``prefix`` is the end of the prompt (the template's own ``<think>\n\n</think>\n\n`` when
    thinking is off); the same as ``tokenizer.parse_response(text, response_template(form), prefix=...)``.
    ``tools`` (functions or schemas) types the arguments by the tool's schema (``"3"`` becomes ``3``
    for an integer parameter).  Raises :class:`ToolCallError` when a JSON call is not JSON.
    """
    from transformers.utils.chat_parsing import parse_response as hf_parse

    try:
        return hf_parse(text, response_template(form), prefix=prefix, tools=tools)
    except ValueError as e:
        if isinstance(e, LabError):
            raise
        first = str(e).splitlines()
        why = next((line for line in first if line.startswith("Error:")), first[0] if first else "")
        raise ToolCallError(f"a <tool_call> block is not valid JSON ({why.removeprefix('Error: ')}).") from None


_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", flags=re.S)
_XML_CALL = re.compile(r"\s*<function=([^\n>]+)>\n?(.*?)</function>\s*", flags=re.S)


def _check_xml_block(body: str) -> None:
    """What a Qwen3.5 parser must refuse: the regexes alone would accept it, or lose data silently."""
    m = _XML_CALL.fullmatch(body)
    if not m:
        if body.strip().startswith("{"):
            raise ToolCallError("this <tool_call> block holds JSON (the Qwen3 form); the XML form (Qwen3.5) is "
                                "<function=NAME> with one <parameter=KEY> per argument.")
        raise ToolCallError(f"a <tool_call> block must hold <function=NAME>...</function>, got {body.strip()[:60]!r}.")
    inner = m.group(2)
    opened, closed = inner.count("<parameter="), inner.count("</parameter>")
    if opened != closed:
        raise ToolCallError(f"{opened} <parameter=...> tag(s) but {closed} </parameter> in the call to "
                            f"{m.group(1)!r}: a value that contains '</parameter>' cannot be written in the "
                            "XML form (it has no escaping), or a parameter is not closed.")
    keys = re.findall(r"<parameter=([^>\n]+)>", inner)
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ToolCallError(f"the parameter(s) {twice} of {m.group(1)!r} are given more than once.")


def parse_tool_calls(text: str, *, form: str = "json", tools: list | None = None) -> list[ToolCall]:
    """Every ``<tool_call>`` block in ``text`` as a :class:`ToolCall` (``[]`` when there is none).

    ``form="json"``: Qwen3's ``{"name": ..., "arguments": {...}}``; ``form="xml"``: Qwen3.5's
    ``<function=NAME><parameter=KEY>VALUE</parameter></function>``.  Parsed by :func:`parse_response`
    (transformers' response parser with trl's template).  Raises :class:`ToolCallError` (a ``ValueError``)
    for a block that is not closed, whose JSON does not parse, that is not an object with a string
    ``name`` and an object ``arguments``, or (XML) whose tags do not pair up.
    """
    opened, closed = text.count("<tool_call>"), text.count("</tool_call>")
    if opened != closed:
        raise ToolCallError(f"{opened} <tool_call> tag(s) but {closed} </tool_call>: a call is not closed "
                            "(or a closing tag has no opening one).")
    if not opened:
        return []
    if form == "xml":
        for body in _BLOCK.findall(text):
            _check_xml_block(body)
    message = parse_response(text, prefix="", form=form, tools=tools)
    raw_calls = message.get("tool_calls", [])
    if len(raw_calls) != opened:
        raise ToolCallError(f"{opened} <tool_call> block(s) but {len(raw_calls)} call(s) could be read.")
    return [_check_call(raw.get("function"), json.dumps(raw.get("function"), ensure_ascii=False))
            for raw in raw_calls]


def tool_call_text(call: ToolCall, form: str = "json") -> str:
    """``call`` written as the original template writes it: Qwen3's JSON or Qwen3.5's XML form."""
    if form == "json":
        args = json.dumps(call.arguments, ensure_ascii=False)
        name = json.dumps(call.name, ensure_ascii=False)
        return f'<tool_call>\n{{"name": {name}, "arguments": {args}}}\n</tool_call>'
    if form != "xml":
        raise LabError(f"unknown tool-call form {form!r}.", f"use one of {FORMS}.")
    parts = [f"<tool_call>\n<function={call.name}>\n"]
    for key, value in call.arguments.items():  # the template: mappings and lists as JSON, all else as text
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list, tuple)) else str(value)
        parts.append(f"<parameter={key}>\n{text}\n</parameter>\n")
    return "".join(parts) + "</function>\n</tool_call>"


def is_single_valid_call(text: str, tools: dict[str, Callable[..., Any]] | None = None) -> bool:
    """True when ``text`` (the answer, after any think block) is exactly one well-formed call.

    Well formed: the whole text is ``<tool_call>\\n{json}\\n</tool_call>``, the JSON parses, the
    name is a known tool and the arguments fit its schema (:func:`check_arguments`).
    """
    tools = TOOLS if tools is None else tools
    m = re.fullmatch(r"<tool_call>\n(\{.*\})\n</tool_call>", text.strip("\n"), flags=re.S)
    if not m:
        return False
    try:
        (call,) = parse_tool_calls(text)
    except (ToolCallError, ValueError):
        return False
    if call.name not in tools:
        return False
    return check_arguments(call, tools[call.name]) is None


_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                          "boolean": (bool,), "array": (list, tuple), "object": (dict,),
                                          "null": (type(None),)}


def _schema_of(tool: Callable[..., Any] | dict) -> dict:
    if isinstance(tool, dict):
        return tool.get("function", tool)
    from transformers.utils import get_json_schema

    return get_json_schema(tool)["function"]


def _type_ok(value: Any, kind: str | list | None) -> bool:
    if kind is None:
        return True
    kinds = kind if isinstance(kind, list) else [kind]
    for k in kinds:
        types = _JSON_TYPES.get(k)
        if types is None:
            return True  # a type this check does not know: let the tool decide
        if isinstance(value, bool) and k in ("integer", "number"):
            continue  # JSON true is not a number
        if isinstance(value, types):
            return True
    return False


def check_arguments(call: ToolCall, tool: Callable[..., Any] | dict) -> str | None:
    """What is wrong with ``call.arguments`` for ``tool`` (a function or its JSON schema), or None.

    Checks what the schema says: every required parameter is there, no unknown one is, and each
    value has the schema's JSON type.  The text is written for the model (and the learner) to read.
    """
    schema = _schema_of(tool)
    params = schema.get("parameters", {}) or {}
    props = params.get("properties", {}) or {}
    expected = ", ".join(f"{k} ({v.get('type', 'any')})" for k, v in props.items()) or "no arguments"
    missing = [k for k in params.get("required", []) if k not in call.arguments]
    unknown = [k for k in call.arguments if k not in props]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(map(repr, missing))}")
    if unknown:
        problems.append(f"unknown {', '.join(map(repr, unknown))}")
    for k, v in call.arguments.items():
        if k in props and not _type_ok(v, props[k].get("type")):
            problems.append(f"{k!r} must be {props[k].get('type')}, got {type(v).__name__} {v!r}")
    if not problems:
        return None
    return f"wrong arguments for {call.name!r}: {'; '.join(problems)}. It takes: {expected}."


def call_tool(call: ToolCall, tools: dict[str, Callable[..., Any] | tuple[dict, Callable[..., Any]]] | None = None
              ) -> str:
    """Run ``call`` and return the tool's text; an error comes back as ``Error: ...`` text
    (what the model would see in its ``<tool_response>``): an unknown tool, arguments that do not
    fit the tool's schema (:func:`check_arguments`), or the tool's own ``ValueError``/``TypeError``.

    ``tools`` maps a name to a function (its schema read from its signature and docstring) or to a
    ``(schema, function)`` pair, for a tool offered by a JSON schema of its own."""
    tools = TOOLS if tools is None else tools
    if call.name not in tools:
        return f"Error: unknown tool {call.name!r}; available: {', '.join(tools) or 'none'}."
    schema, function = tools[call.name] if isinstance(tools[call.name], tuple) else (tools[call.name],) * 2
    try:
        wrong = check_arguments(call, schema)
    except Exception:  # noqa: BLE001 (a function get_json_schema cannot read: let the call itself fail)
        wrong = None
    if wrong:
        return f"Error: {wrong}"
    try:
        return str(function(**call.arguments))
    except (ValueError, TypeError) as e:
        return f"Error: {e}"


def tool_messages(calls: list[ToolCall], results: list[str], reasoning: str = "") -> list[dict[str, Any]]:
    """The assistant turn with ``tool_calls`` and one ``role: tool`` message per result."""
    assistant: dict[str, Any] = {"role": "assistant", "content": "",
                                 "tool_calls": [c.as_message_call() for c in calls]}
    if reasoning:
        assistant["reasoning_content"] = reasoning
    return [assistant] + [{"role": "tool", "content": r} for r in results]


# --------------------------------------------------------------------------- Qwen3.5's XML form, side by side
def qwen3_5_tokenizer(thinking: bool = True):
    """The real Qwen3.5 tokenizer (248K vocabulary, :func:`labkit.load_tokenizer`) with the ORIGINAL
    Qwen3.5 chat template that trl ships (``trl/chat_templates/qwen3_5_think.jinja``, or
    ``qwen3_5_nothink.jinja`` for ``thinking=False``: they differ only in the default of
    ``enable_thinking``) and, through ``trl.chat_template_utils.add_response_schema``, its
    response template, so ``tokenizer.parse_response`` reads its XML tool calls.  Unlike Qwen3's, the
    think template's generation prompt already opens the think block (``<|im_start|>assistant\n<think>\n``):
    pass that prompt as ``prefix=`` so the parser knows the reply starts inside it."""

    try:
        from trl import chat_template_utils as ctu
    except ImportError as e:
        raise LabError("the Qwen3.5 chat template comes from trl, which is not installed.",
                       "pip install -e '.[notebooks]' (or pip install trl==1.16.0).") from e
    tok = load_tokenizer("qwen3.5")
    tok.chat_template = ctu.qwen3_5_think_chat_template if thinking else ctu.qwen3_5_nothink_chat_template
    return ctu.add_response_schema(tok)
