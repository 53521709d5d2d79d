"""The checks of exercise 10: a safe calculator, a parser for Qwen3.5's XML calls, the agent loop, a schema, a reply
constrained after </think>; every right answer passes (several ways to write each), the usual wrong ones fail with a
hint."""
from __future__ import annotations

import ast
import json
import re

import pytest

from labkit import checks
from labkit.lessons import tools


# ---------------------------------------------------------------- task 1: the calculator
def _walk(node):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_walk(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        a, b = _walk(node.left), _walk(node.right)
        if isinstance(node.op, ast.Div):
            if b == 0:
                raise ValueError("division by zero")
            return a / b
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(node.op)]
    raise ValueError(type(node).__name__)


def my_calculator(expression):
    try:
        value = _walk(ast.parse(expression.replace("×", "*"), mode="eval").body)
    except SyntaxError as e:
        raise ValueError(e.msg) from None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def test_calculators_that_are_right_pass():
    assert checks.check_safe_calculator(my_calculator) is True
    assert checks.check_safe_calculator(tools.safe_eval) is True          # the course's own


def test_calculators_that_use_eval_or_accept_too_much_fail(capsys):
    def with_powers(expression):
        tree = ast.parse(expression.replace("×", "*"), mode="eval").body
        if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Pow):
            return my_calculator(ast.unparse(tree.left)) ** my_calculator(ast.unparse(tree.right))
        return my_calculator(expression)

    assert checks.check_safe_calculator(lambda e: eval(e.replace("×", "*"))) is False   # noqa: S307
    assert checks.check_safe_calculator(with_powers) is False
    out = capsys.readouterr().out
    assert out.count("❌") == 2 and "eval/exec was called" in out and "'2 ** 10' must raise" in out


# ---------------------------------------------------------------- task 2: the XML parser
def parse_xml_dicts(text):
    calls = []
    for name, body in re.findall(r"<function=([^>\n]+)>(.*?)</function>", text, re.S):
        calls.append({"name": name, "arguments": dict(re.findall(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>",
                                                                 body, re.S))})
    return calls


def parse_xml_typed_with_strip(text):
    """Another right answer: values stripped, digits typed, OpenAI-style entries with JSON-string arguments."""
    out = []
    for name, body in re.findall(r"<function=(.+?)>(.*?)</function>", text, re.S):
        args = {k: (int(v.strip()) if v.strip().isdigit() else v.strip())
                for k, v in re.findall(r"<parameter=(.+?)>(.*?)</parameter>", body, re.S)}
        out.append({"type": "function", "function": {"name": name, "arguments": json.dumps(args)}})
    return out


def test_xml_parsers_that_are_right_pass():
    assert checks.check_xml_parser(parse_xml_dicts) is True
    assert checks.check_xml_parser(parse_xml_typed_with_strip) is True
    assert checks.check_xml_parser(lambda t: tools.parse_tool_calls(t.rpartition("</think>")[2], form="xml")) is True


def test_xml_parsers_that_keep_the_newlines_or_find_one_call_fail(capsys):
    keep_newlines = lambda t: [{"name": n, "arguments": dict(re.findall(r"<parameter=(.+?)>(.*?)</parameter>", b, re.S))}
                               for n, b in re.findall(r"<function=(.+?)>(.*?)</function>", t, re.S)]  # noqa: E731
    first_only = lambda t: parse_xml_dicts(t)[:1]  # noqa: E731
    assert checks.check_xml_parser(keep_newlines) is False
    assert checks.check_xml_parser(first_only) is False
    assert capsys.readouterr().out.count("❌") == 2


def test_the_xml_cases_are_what_the_qwen35_template_writes():
    call = tools.ToolCall("calculator", {"expression": "5215 * 1196"})
    assert checks.XML_CALL_10 == tools.tool_call_text(call, "xml")
    note = tools.ToolCall("note", {"text": 'line one\nsaid "hi"', "times": 3})
    assert checks.XML_TWO_PARAMS_10 == tools.tool_call_text(note, "xml")


# ---------------------------------------------------------------- task 3: the agent loop
def _run(call):
    if call["name"] != "calculator":
        return f"Error: unknown tool {call['name']!r}"
    return tools.calculator(**call["arguments"])


def agent_with_while(reply, question, max_calls=3):
    messages, calls = [{"role": "user", "content": question}], 0
    while True:
        answer = reply(messages).rpartition("</think>")[2].strip()
        blocks = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", answer, re.S)
        if not blocks:
            return answer, calls
        if calls + len(blocks) > max_calls:
            return None, calls
        parsed, results = [], []
        for b in blocks:
            try:
                parsed.append(json.loads(b))
                results.append(_run(parsed[-1]))
            except ValueError as e:
                results.append(f"Error: bad JSON: {e}")
        messages.append({"role": "assistant", "content": "",
                         "tool_calls": [{"type": "function", "function": c} for c in parsed]})
        messages += [{"role": "tool", "content": r} for r in results]
        calls += len(blocks)


def agent_with_for_and_string_arguments(reply, question, max_calls=3):
    """Another right answer: a for loop of max_calls rounds, OpenAI-style ids and JSON-string arguments,
    a broken call not counted, and the raw answer (think block included) returned."""
    messages, calls = [{"role": "user", "content": question}], 0
    for _ in range(max_calls + 1):
        text = reply(messages)
        m = re.search(r"<tool_call>\s*(.*?)\s*</tool_call>", text, re.S)
        if not m:
            return text, calls
        if calls == max_calls:
            break
        try:
            call = json.loads(m.group(1))
        except json.JSONDecodeError:
            messages.append({"role": "tool", "content": "error: that is not JSON"})
            continue
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{calls}", "type": "function",
             "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}]})
        messages.append({"role": "tool", "tool_call_id": f"c{calls}", "content": _run(call)})
        calls += 1
    return None, calls


def test_agent_loops_that_are_right_pass():
    assert checks.check_bounded_agent(agent_with_while) is True
    assert checks.check_bounded_agent(agent_with_for_and_string_arguments) is True


def unbounded(reply, question, max_calls=3):
    messages, calls = [{"role": "user", "content": question}], 0
    while calls < 10:
        text = reply(messages)
        blocks = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", text, re.S)
        if not blocks:
            return text, calls
        call = json.loads(blocks[0])
        messages += [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
                     {"role": "tool", "content": _run(call)}]
        calls += 1
    return None, calls


def without_the_call_message(reply, question, max_calls=3):
    messages, calls = [{"role": "user", "content": question}], 0
    for _ in range(max_calls + 1):
        text = reply(messages)
        blocks = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", text, re.S)
        if not blocks:
            return text, calls
        if calls == max_calls:
            return None, calls
        try:
            messages.append({"role": "tool", "content": _run(json.loads(blocks[0]))})
        except ValueError:
            messages.append({"role": "tool", "content": "Error"})
        calls += 1
    return None, calls


def crashes_on_bad_json(reply, question, max_calls=3):
    messages, calls = [{"role": "user", "content": question}], 0
    while calls <= max_calls:
        answer = reply(messages).rpartition("</think>")[2]
        blocks = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", answer, re.S)
        if not blocks:
            return answer.strip(), calls
        if calls == max_calls:
            return None, calls
        call = json.loads(blocks[0])                                  # raises on broken JSON
        messages += [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
                     {"role": "tool", "content": _run(call)}]
        calls += 1
    return None, calls


def test_agent_loops_that_are_wrong_fail(capsys):
    assert checks.check_bounded_agent(unbounded) is False
    assert checks.check_bounded_agent(without_the_call_message) is False
    assert checks.check_bounded_agent(crashes_on_bad_json) is False
    out = capsys.readouterr().out
    assert out.count("❌") == 3 and "notebook 10" in out and "Traceback" not in out


# ---------------------------------------------------------------- task 4: the schema
def test_schemas():
    right = {"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"type": "string"}},
             "required": ["unit", "answer"], "additionalProperties": False}
    assert checks.check_answer_schema(right) is True
    assert checks.check_answer_schema({**right, "additionalProperties": True}) is False
    assert checks.check_answer_schema({**right, "required": ["answer"]}) is False


# ---------------------------------------------------------------- task 5: the constrained reply (the nano model)
@pytest.fixture(scope="module")
def nano():
    import torch

    import labkit

    torch.set_num_threads(1)
    return labkit.load_model()


def _reply(nano, messages, processor_after):
    from transformers import LogitsProcessorList

    from labkit.lessons import structured

    model, tok = nano
    inputs = tok.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=True, return_tensors="pt")
    proc = structured.json_schema_processor(tok, checks.RESULT_SCHEMA_10, after=processor_after)
    out = model.generate(**inputs, max_new_tokens=200, do_sample=False, logits_processor=LogitsProcessorList([proc]))
    return tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.model
def test_a_reply_constrained_after_think_passes_and_one_from_token_1_fails(nano, capsys):
    assert checks.check_json_reply(lambda m: _reply(nano, m, "</think>")) is True           # the whole text is fine
    assert checks.check_json_reply(lambda m: _reply(nano, m, None)) is False                 # no room to think
    assert checks.check_json_reply(lambda m: _reply(nano, m, "</think>").replace('"result"', '"answer"')) is False
    out = capsys.readouterr().out
    assert "let the model think first" in out or "after </think>" in out
