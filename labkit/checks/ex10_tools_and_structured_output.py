"""Answer keys of exercise 10 (tools, agents and structured output): its check functions and the cases they run.

Each task hands in a function or a schema; the check runs it on fixed cases (fake model replies, hostile
expressions, JSON documents), so no model output is asserted.

Used in notebook 10.
"""
from __future__ import annotations

import builtins
from contextlib import contextmanager

from labkit.checks.grader import exercise

# Task 1: the calculator on model output.  Good expressions and their values; hostile or broken ones to refuse.
CALC_CASES_09 = {"12 * 34": 408, "1 + 2 * 3": 7, "(1 + 2) * 3": 9, "-4 + 10": 6, "7 / 2": 3.5, "8 / 2": 4,
                 "123 × 4567": 561741}
CALC_REFUSE_09 = ["__import__('os').system('echo hi')", "open('secrets.txt').read()", "x + 1", "2 ** 10",
                  "1 / 0", "12 +", "", "[1, 2][0]"]

# Task 2: what the loop sends back for each kind of reply.
CALL_09 = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "123 * 456"}}\n</tool_call>'
UNKNOWN_TOOL_09 = '<tool_call>\n{"name": "weather", "arguments": {"city": "Hangzhou"}}\n</tool_call>'
BAD_JSON_09 = '<tool_call>\n{"name": "calculator", "arguments": {"expression": 123 * 456}\n</tool_call>'


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


def _safe_calculator_ok_09(fn) -> bool:
    with _no_eval():
        for expression, value in CALC_CASES_09.items():
            if fn(expression) != value:
                raise AssertionError(f"{expression!r} gave {fn(expression)!r}, expected {value!r}")
        for expression in CALC_REFUSE_09:
            try:
                got = fn(expression)
            except ValueError:
                continue
            raise AssertionError(f"{expression!r} must raise ValueError, but it returned {got!r}")
    return True


def _tool_reply_ok_09(fn) -> bool:
    good = fn(CALL_09)
    if good != "56088":
        raise AssertionError(f"the valid call must give the calculator's result '56088', got {good!r}")
    unknown = fn(UNKNOWN_TOOL_09)
    if not (isinstance(unknown, str) and unknown.startswith("Error") and "weather" in unknown
            and "calculator" in unknown):
        raise AssertionError(f"a call to an unknown tool must give 'Error: ...' naming it and the tools there are, "
                             f"got {unknown!r}")
    bad = fn(BAD_JSON_09)
    if not (isinstance(bad, str) and bad.startswith("Error") and "JSON" in bad):
        raise AssertionError(f"a call whose arguments are not JSON must give 'Error: ...' that says so, got {bad!r}")
    return True


def _always_calls_09(messages):
    return CALL_09


def _calls_once_09(messages):
    results = [m["content"] for m in messages if m.get("role") == "tool"]
    if not results:
        return CALL_09
    return f"The result is {results[-1]}."


def _agent_ok_09(fn) -> bool:
    out = fn(_always_calls_09, "What is 123 × 456?", 3)
    if tuple(out) != (None, 3):
        raise AssertionError(f"a model that always calls must stop after max_calls=3 with (None, 3), got {out!r}")
    out = fn(_calls_once_09, "What is 123 × 456?", 3)
    if tuple(out) != ("The result is 56088.", 1):
        raise AssertionError(f"a model that calls once and then answers must give ('The result is 56088.', 1), "
                             f"got {out!r}")
    return True


def _schema_ok_09(schema) -> bool:
    from labkit.lessons.structured import compile_schema, validate

    compile_schema(schema)  # raises a LabError when llguidance rejects it
    cases = {'{"answer": 42, "unit": "cm"}': True, '{"answer": "42", "unit": "cm"}': False,
             '{"answer": 42}': False, '{"answer": 42, "unit": "cm", "note": "x"}': False,
             '{"answer": 4.5, "unit": "cm"}': False}
    for text, conforms in cases.items():
        if validate(text, schema)[1] != conforms:
            raise AssertionError(f"{text} should {'' if conforms else 'not '}conform")
    return True


check_safe_calculator = exercise(
    "safe_calculator", predicate=_safe_calculator_ok_09,
    expects="a function expression -> number for + - * / and parentheses (× as *), raising ValueError for anything "
            "else (names, calls, **, division by zero, syntax errors), without eval or exec",
    hint="ast.parse(text, mode='eval') and walk the tree: ast.Constant, ast.BinOp (Add, Sub, Mult, Div), "
         "ast.UnaryOp (USub); raise ValueError for any other node",
    where="notebook 10, section 5 'When the model gets it wrong'")
check_tool_reply = exercise(
    "tool_reply", predicate=_tool_reply_ok_09,
    expects="a function reply_text -> the text of the tool message: the result for a valid call, 'Error: ...' "
            "naming the unknown tool (and the tools there are), 'Error: ...' saying the arguments are not JSON",
    hint="tools.parse_tool_calls(text) raises tools.ToolCallError for bad JSON; tools.call_tool(call) answers "
         "'Error: unknown tool ...' itself",
    where="notebook 10, section 5 'When the model gets it wrong'")
check_bounded_agent = exercise(
    "bounded_agent", predicate=_agent_ok_09,
    expects="a function (reply, question, max_calls) -> (final answer or None, number of tool calls), where "
            "reply(messages) returns the model's text; at most max_calls calls",
    hint="loop at most max_calls times: text = reply(messages); no call in it -> return (text, calls); else run "
         "the call and append the assistant turn (tools.tool_messages) before the next round; after the loop "
         "return (None, max_calls)",
    where="notebook 10, section 4 'The agent loop'")
check_answer_schema = exercise(
    "answer_schema", predicate=_schema_ok_09,
    expects="a JSON schema (a dict) for an object with exactly two required keys: 'answer' (an integer) and "
            "'unit' (a string), no other keys",
    hint="{'type': 'object', 'properties': {...}, 'required': [...], 'additionalProperties': False}",
    where="notebook 10, section 7 'Structured output'")
