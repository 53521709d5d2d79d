"""Answer keys of exercise 10 (tools, agents and structured output): its check functions and the cases they run.

Each task hands in code: a function, a schema, or a function that generates; the check runs it on fixed cases (fake
model replies, hostile expressions, tool-call texts written by Qwen3.5's template, JSON documents) or, for the
constrained reply, on held-out problems with the course's model, and accepts every right answer.

Used in notebook 10.
"""
from __future__ import annotations

import builtins
import json
from contextlib import contextmanager
from typing import Any

from labkit.checks.grader import exercise

# Task 1: the calculator on model output.  Good expressions and their values; hostile or broken ones to refuse.
CALC_CASES_10 = {"12 * 34": 408, "1 + 2 * 3": 7, "(1 + 2) * 3": 9, "-4 + 10": 6, "7 / 2": 3.5, "8 / 2": 4,
                 "123 × 4567": 561741}
CALC_REFUSE_10 = ["__import__('os').system('echo hi')", "open('secrets.txt').read()", "x + 1", "2 ** 10",
                  "1 / 0", "12 +", "", "[1, 2][0]"]

# Task 2: Qwen3.5's XML form, as its original chat template writes it (labkit.lessons.tools.tool_call_text).
XML_CALL_10 = ("<tool_call>\n<function=calculator>\n<parameter=expression>\n5215 * 1196\n</parameter>\n"
               "</function>\n</tool_call>")
XML_TWO_PARAMS_10 = ("<tool_call>\n<function=note>\n<parameter=text>\nline one\nsaid \"hi\"\n</parameter>\n"
                     "<parameter=times>\n3\n</parameter>\n</function>\n</tool_call>")
XML_TWO_CALLS_10 = XML_CALL_10 + "\n" + XML_CALL_10.replace("5215 * 1196", "12 + 30")
XML_CASES_10: dict[str, list[tuple[str, dict[str, str]]]] = {
    XML_CALL_10: [("calculator", {"expression": "5215 * 1196"})],
    "I will use the calculator.\n</think>\n\n" + XML_CALL_10: [("calculator", {"expression": "5215 * 1196"})],
    XML_TWO_PARAMS_10: [("note", {"text": 'line one\nsaid "hi"', "times": "3"})],
    XML_TWO_CALLS_10: [("calculator", {"expression": "5215 * 1196"}), ("calculator", {"expression": "12 + 30"})],
    "The result is 6237140.": [],
}

# Task 3: what the fake models of the agent check write (Qwen3's JSON form).
CALL_10 = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "123 * 456"}}\n</tool_call>'
UNKNOWN_TOOL_10 = '<tool_call>\n{"name": "weather", "arguments": {"city": "Hangzhou"}}\n</tool_call>'
BAD_JSON_10 = '<tool_call>\n{"name": "calculator", "arguments": {"expression": 123 * 456}\n</tool_call>'
THINK_CALL_10 = "<think>\nThe calculator can work this out.\n</think>\n\n" + CALL_10

# Task 5: the schema of the constrained reply, and the system prompt that asks for JSON (notebook 10, section 9).
RESULT_SCHEMA_10 = {"type": "object", "properties": {"result": {"type": "integer", "minimum": 0, "maximum": 99999}},
                    "required": ["result"], "additionalProperties": False}
JSON_SYSTEM_10 = "Answer only with a JSON object."


@contextmanager
def _no_eval():
    """eval/exec raise while the learner's function runs: the calculator must not use them."""
    saved = builtins.eval, builtins.exec

    def refuse(*_args, **_kwargs):
        raise AssertionError("eval/exec was called on model output")

    builtins.eval, builtins.exec = refuse, refuse
    try:
        yield
    finally:
        builtins.eval, builtins.exec = saved


def _safe_calculator_ok_10(fn) -> bool:
    with _no_eval():
        for expression, value in CALC_CASES_10.items():
            if fn(expression) != value:
                raise AssertionError(f"{expression!r} gave {fn(expression)!r}, expected {value!r}")
        for expression in CALC_REFUSE_10:
            try:
                got = fn(expression)
            except ValueError:
                continue
            raise AssertionError(f"{expression!r} must raise ValueError, but it returned {got!r}")
    return True


def _name_and_arguments(call: Any) -> tuple[str, dict]:
    """A call as (name, arguments): a dict {"name", "arguments"}, an OpenAI-style {"function": {...}}, or an object
    with .name and .arguments; JSON-string arguments are read."""
    if isinstance(call, dict):
        call = call.get("function", call)
        name, arguments = call.get("name"), call.get("arguments")
    else:
        name, arguments = getattr(call, "name", None), getattr(call, "arguments", None)
    if isinstance(arguments, str):
        arguments = json.loads(arguments)
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise AssertionError(f"each call must have a string name and a dict of arguments, got {call!r}")
    return name, arguments


def _xml_parser_ok_10(fn) -> bool:
    for text, want in XML_CASES_10.items():
        got = fn(text)
        if not isinstance(got, (list, tuple)):
            raise AssertionError(f"for {text[:40]!r}... return a list of calls, got {got!r}")
        seen = [_name_and_arguments(c) for c in got]
        # a value may come back as text or typed ("3" or 3): compare as text
        as_text = [(name, {k: str(v) for k, v in args.items()}) for name, args in seen]
        if as_text != want:
            raise AssertionError(f"for {text!r} expected {want!r}, got {seen!r}")
    return True


def _tool_results(messages: list[dict]) -> list[str]:
    return [str(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


class _Model:
    """A fake model: ``first`` until it has read a tool message, then ``then(last tool result)``; it records
    the conversations it was given."""

    def __init__(self, first: str, then=lambda result: f"The result is {result}."):
        self.first, self.then, self.seen = first, then, []

    def __call__(self, messages):
        self.seen.append([dict(m) for m in messages])
        results = _tool_results(messages)
        return self.then(results[-1]) if results else self.first


def _agent_ok_10(fn) -> bool:
    always = _Model(CALL_10, then=lambda result: CALL_10)
    out = tuple(fn(always, "What is 123 × 456?", 3))
    if out != (None, 3):
        raise AssertionError(f"a model that always calls must stop after max_calls=3 with (None, 3), got {out!r}")

    once = _Model(CALL_10)
    out = tuple(fn(once, "What is 123 × 456?", 3))
    if out != ("The result is 56088.", 1):
        raise AssertionError(f"a model that calls once and then answers must give ('The result is 56088.', 1), "
                             f"got {out!r}")
    second = once.seen[-1]
    assistant = [m for m in second if m.get("role") == "assistant" and m.get("tool_calls")]
    if not assistant or _name_and_arguments(assistant[-1]["tool_calls"][0]) != ("calculator",
                                                                                 {"expression": "123 * 456"}):
        raise AssertionError("before the tool message, append the assistant message with its tool_calls: "
                             "[{'type': 'function', 'function': {'name': 'calculator', 'arguments': {...}}}]; "
                             f"the model was given {second!r}")
    if second[-1].get("role") != "tool" or str(second[-1].get("content")) != "56088":
        raise AssertionError(f"the last message the model reads must be {{'role': 'tool', 'content': '56088'}}, "
                             f"got {second[-1]!r}")

    thinking = _Model(THINK_CALL_10, then=lambda result: f"<think>\nDone.\n</think>\n\nThe result is {result}.")
    answer, calls = fn(thinking, "What is 123 × 456?", 3)
    if calls != 1 or not (isinstance(answer, str) and answer.strip().endswith("The result is 56088.")):
        raise AssertionError(f"a call after a think block must be found too: expected ('The result is 56088.', 1), "
                             f"got {(answer, calls)!r}")

    for text, must_say, why in ((UNKNOWN_TOOL_10, ("error", "weather"), "a call to a tool that does not exist"),
                                (BAD_JSON_10, ("error",), "a call whose JSON does not parse")):
        model = _Model(text, then=lambda result: f"The tool said: {result}")
        answer, calls = fn(model, "What is 123 × 456?", 3)
        said = (answer or "").lower()
        if not all(word in said for word in must_say) or calls not in (0, 1):
            raise AssertionError(f"{why} must be answered with a tool message 'Error: ...' (naming the tool when it "
                                 f"does not exist), and the loop goes on; the model then said {answer!r}, "
                                 f"calls={calls!r}")
    return True


def _schema_ok_10(schema) -> bool:
    from labkit.lessons.structured import compile_schema, validate

    compile_schema(schema)  # raises a LabError when llguidance rejects it
    cases = {'{"answer": 42, "unit": "cm"}': True, '{"answer": "42", "unit": "cm"}': False,
             '{"answer": 42}': False, '{"answer": 42, "unit": "cm", "note": "x"}': False,
             '{"answer": 4.5, "unit": "cm"}': False}
    for text, conforms in cases.items():
        if validate(text, schema)[1] != conforms:
            raise AssertionError(f"{text} should {'' if conforms else 'not '}conform")
    return True


def _json_reply_ok_10(fn) -> bool:
    import random

    from labkit.lessons.structured import validate
    from labkit.nano.curriculum import question
    from labkit.nano.evaluation import eval_problems

    rng = random.Random(3)
    problems = eval_problems(3, seed=3)
    right = 0
    for p in problems:
        q = question(p, rng, lang="en")
        answer = fn([{"role": "system", "content": JSON_SYSTEM_10}, {"role": "user", "content": q}])
        if not isinstance(answer, str):
            raise AssertionError(f"return the text after </think> (a str), got {answer!r}")
        answer = answer.rpartition("</think>")[2].strip()
        if validate(answer, RESULT_SCHEMA_10) != (True, True):
            raise AssertionError(f"{q!r}: the answer {answer!r} does not match RESULT_SCHEMA_10")
        right += json.loads(answer)["result"] == p.answer
    if right < 2:
        raise AssertionError(f"the answers match the schema, but only {right} of {len(problems)} are right: "
                             "does the constraint start after </think>, so that the model can think first?")
    return True


check_safe_calculator = exercise(
    "safe_calculator", predicate=_safe_calculator_ok_10,
    expects="a function expression -> number for + - * / and parentheses (× as *), raising ValueError for anything "
            "else (names, calls, **, division by zero, syntax errors), without eval or exec",
    hint="ast.parse(text, mode='eval') and walk the tree: ast.Constant, ast.BinOp (Add, Sub, Mult, Div), "
         "ast.UnaryOp (USub); raise ValueError for any other node",
    where="notebook 10, section 1 'A tool is a Python function'")
check_xml_parser = exercise(
    "xml_parser", predicate=_xml_parser_ok_10,
    expects="a function text -> list of calls {'name': ..., 'arguments': {...}}, one per "
            "<tool_call><function=NAME><parameter=KEY>VALUE</parameter>... block ([] when there is none), each "
            "value without the newline the template writes around it",
    hint="re.findall(r'<function=([^>\\n]+)>(.*?)</function>', text, re.S), then "
         "re.findall(r'<parameter=([^>\\n]+)>\\n?(.*?)\\n?</parameter>', body, re.S) for each call",
    where="notebook 10, section 7 'Two wire forms'")
check_bounded_agent = exercise(
    "bounded_agent", predicate=_agent_ok_10,
    expects="a function (reply, question, max_calls) -> (final answer or None, number of tool calls), where "
            "reply(messages) returns the model's text; at most max_calls calls; the assistant message with "
            "tool_calls, then a role 'tool' message per result; 'Error: ...' tool messages for an unknown tool "
            "or JSON that does not parse",
    hint="loop: text = reply(messages); take the part after </think>; parse the <tool_call> blocks (json.loads, "
         "catch ValueError); no call -> return (answer, calls); else append {'role': 'assistant', 'content': '', "
         "'tool_calls': [...]} and {'role': 'tool', 'content': result}; stop with (None, calls) before going past "
         "max_calls",
    where="notebook 10, section 4 'The agent loop'")
check_answer_schema = exercise(
    "answer_schema", predicate=_schema_ok_10,
    expects="a JSON schema (a dict) for an object with exactly two required keys: 'answer' (an integer) and "
            "'unit' (a string), no other keys",
    hint="{'type': 'object', 'properties': {...}, 'required': [...], 'additionalProperties': False}",
    where="notebook 10, section 8 'Asking a server for JSON'")
check_json_reply = exercise(
    "json_reply", predicate=_json_reply_ok_10,
    expects="a function messages -> the model's answer after </think> (thinking on), constrained to "
            "RESULT_SCHEMA_10, with the right results",
    hint="apply_chat_template(messages, add_generation_prompt=True, enable_thinking=True, return_tensors='pt'), "
         "model.generate(..., logits_processor=LogitsProcessorList([structured.json_schema_processor(tok, "
         "RESULT_SCHEMA_10, after='</think>')])), decode the new tokens, keep what follows </think>",
    where="notebook 10, sections 9 and 10")
