"""labkit.lessons.tools: the calculator tool, its safe evaluator, Qwen3 tool-call parsing; the nano model's tool use."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from labkit.nano import curriculum as nano, evaluation as nano_eval
from labkit.lessons import tools
from labkit.lessons.tools import ToolCall, ToolCallError, calculator, parse_tool_calls, safe_eval

CALL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "12 * 34"}}\n</tool_call>'


# --------------------------------------------------------------------------- the evaluator
@pytest.mark.parametrize("expr, value", [
    ("1 + 2", 3), ("12 * 34", 408), ("12 × 34", 408), ("7 / 2", 3.5), ("8 / 2", 4), ("-(3 - 5) * 2", 4),
    ("((1))", 1), ("2.5 * 2", 5), ("+4 - -4", 8), ("10 - 2 - 3", 5), ("1 + 2 * 3", 7), ("9 ÷ 3", 3),
])
def test_safe_eval_computes_arithmetic(expr, value):
    assert safe_eval(expr) == value and type(safe_eval(expr)) is type(value)


@pytest.mark.parametrize("expr, says", [
    ("__import__('os').system('ls')", "Call"), ("2 ** 8", "Pow"), ("x + 1", "Name"), ("1 // 2", "FloorDiv"),
    ("1 % 2", "Mod"), ("[1, 2]", "List"), ("'a' * 3", "Constant"), ("1 / 0", "division by zero"),
    ("1 +", "not an arithmetic expression"), ("", "empty"), ("(1).real", "Attribute"), ("True + 1", "Constant"),
    ("9" * 61, "more than 60 digits"), ("1" * 40 + " * " + "1" * 40, "more than 60 digits"),
])
def test_safe_eval_refuses_everything_else_with_a_clear_error(expr, says):
    with pytest.raises(ValueError, match=says):
        safe_eval(expr)


def test_safe_eval_never_calls_eval_or_exec():
    import ast

    tree = ast.parse(Path(tools.__file__).read_text())
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"eval", "exec", "compile"}


def test_calculator_returns_text_and_has_a_json_schema():
    from transformers.utils import get_json_schema

    assert calculator("4821 * 735") == "3543435"
    schema = get_json_schema(calculator)
    assert schema == tools.calculator_schema()
    fn = schema["function"]
    assert fn["name"] == "calculator" and fn["description"]
    assert fn["parameters"]["properties"]["expression"]["type"] == "string"
    assert fn["parameters"]["required"] == ["expression"]


def test_call_tool_turns_errors_into_text_for_the_model():
    assert tools.call_tool(ToolCall("calculator", {"expression": "2 + 2"})) == "4"
    assert tools.call_tool(ToolCall("calculator", {"expression": "2 ** 2"})).startswith("Error: ")
    assert tools.call_tool(ToolCall("weather", {})) == "Error: unknown tool 'weather'; available: calculator."
    assert tools.call_tool(ToolCall("calculator", {"expr": "1"})) == (
        "Error: wrong arguments for 'calculator': missing 'expression'; unknown 'expr'. It takes: expression (string).")
    assert tools.call_tool(ToolCall("calculator", {"expression": 7})).startswith(
        "Error: wrong arguments for 'calculator': 'expression' must be string, got int 7")


def test_call_tool_runs_a_tool_offered_by_its_own_schema():
    """A (schema, function) pair: the schema decides what the call may pass, the function runs it."""
    schema = {"type": "function", "function": {"name": "compute", "description": "A calculator.", "parameters": {
        "type": "object", "properties": {"math_input": {"type": "string"}}, "required": ["math_input"]}}}
    offered = {"compute": (schema, lambda math_input: calculator(math_input))}
    assert tools.call_tool(ToolCall("compute", {"math_input": "12 * 34"}), offered) == "408"
    assert tools.call_tool(ToolCall("compute", {"expression": "12 * 34"}), offered) == (
        "Error: wrong arguments for 'compute': missing 'math_input'; unknown 'expression'. It takes: math_input (string).")


# --------------------------------------------------------------------------- parsing
def test_tool_call_text_writes_what_the_model_writes():
    call = ToolCall("calculator", {"expression": "12 * 34"})
    assert tools.tool_call_text(call) == CALL == nano.tool_call_text("12 * 34")
    assert tools.tool_call_text(call, "xml") == (
        "<tool_call>\n<function=calculator>\n<parameter=expression>\n12 * 34\n</parameter>\n</function>\n</tool_call>")
    with pytest.raises(ValueError, match="unknown tool-call form"):
        tools.tool_call_text(call, "yaml")


def test_parse_tool_calls_reads_the_qwen3_form():
    text = "<think>\nI will call it.\n</think>\n\n" + CALL
    assert parse_tool_calls(text) == [ToolCall("calculator", {"expression": "12 * 34"})]
    assert parse_tool_calls(CALL + "\n" + CALL.replace("12 * 34", "1 + 2"))[1].arguments == {"expression": "1 + 2"}
    assert parse_tool_calls("12 × 34 = 408") == []
    # arguments written as a JSON string (the template accepts both)
    s = '<tool_call>\n{"name": "calculator", "arguments": "{\\"expression\\": \\"1\\"}"}\n</tool_call>'
    assert parse_tool_calls(s)[0].arguments == {"expression": "1"}


@pytest.mark.parametrize("text, says", [
    (CALL[:-3], "not closed"), (CALL.replace("}}", "}"), "not valid JSON"),
    ('<tool_call>\n[1, 2]\n</tool_call>', "string 'name'"),
    ('<tool_call>\n{"name": "calculator", "arguments": 5}\n</tool_call>', "must be a JSON object"),
    ('<tool_call>\n{"name": "calculator", "arguments": {}, "x": 1}\n</tool_call>', "unexpected keys"),
    ('<tool_call>\n{"arguments": {}}\n</tool_call>', "string 'name'"),
])
def test_parse_tool_calls_errors_say_what_is_wrong(text, says):
    with pytest.raises(ToolCallError, match=says):
        parse_tool_calls(text)


def test_parse_response_is_transformers_parser_with_the_qwen3_template():
    msg = tools.parse_response("<think>\nthink\n</think>\n\n" + CALL)
    assert msg == {"role": "assistant", "reasoning_content": "think",
                   "tool_calls": [{"type": "function",
                                   "function": {"name": "calculator", "arguments": {"expression": "12 * 34"}}}]}
    assert tools.parse_response("408", prefix="<|im_start|>assistant\n<think>\n\n</think>\n\n")["content"] == "408"


def test_response_template_is_trls_qwen3_template():
    """One source: the parser uses trl's object itself, not a copy."""
    trl = pytest.importorskip("trl.chat_template_utils")
    assert tools.QWEN3_RESPONSE_TEMPLATE is trl.qwen3_template is tools.response_template("json")
    assert tools.QWEN3_5_RESPONSE_TEMPLATE is trl.qwen3_5_template is tools.response_template("xml")
    assert "QWEN3_RESPONSE_TEMPLATE: dict = {" not in Path(tools.__file__).read_text()


def test_is_single_valid_call():
    assert tools.is_single_valid_call(CALL)
    assert not tools.is_single_valid_call(CALL + "\n" + CALL)
    assert not tools.is_single_valid_call("Sure. " + CALL)
    assert not tools.is_single_valid_call(CALL.replace("calculator", "calc"))
    assert not tools.is_single_valid_call(CALL.replace("expression", "expr"))
    assert not tools.is_single_valid_call("408")


def test_tool_messages_render_like_the_model_writes_them():
    from transformers import AutoTokenizer

    from labkit.models import NANO_DIR

    tok = AutoTokenizer.from_pretrained(NANO_DIR)
    user = [{"role": "user", "content": "What is 12 × 34?"}]
    msgs = user + tools.tool_messages([ToolCall("calculator", {"expression": "12 * 34"})], ["408"], reasoning="r")
    text = tok.apply_chat_template(msgs, tools=[calculator], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>assistant\n<think>\nr\n</think>\n\n" + CALL + "<|im_end|>\n" in text
    assert text.endswith("<|im_start|>user\n<tool_response>\n408\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert nano.tool_call_text("12 * 34") == CALL


@pytest.mark.model
def test_chat_template_renders_tools_like_the_official_qwen3_template():
    """The course's template against the original Qwen3 one (trl keeps a copy for identity checks)."""
    from transformers import AutoTokenizer

    from labkit.models import NANO_DIR

    trl_dir = pytest.importorskip("trl").__file__
    official = (Path(trl_dir).parent / "chat_templates" / "qwen3.jinja").read_text()
    tok = AutoTokenizer.from_pretrained(NANO_DIR)
    call = ToolCall("calculator", {"expression": "12 * 34"})
    q = [{"role": "user", "content": "What is 12 × 34?"}]
    convs = [
        q, [{"role": "system", "content": "Be concise."}] + q,
        q + tools.tool_messages([call], ["408"]),
        q + tools.tool_messages([call], ["408"], reasoning="I call it."),
        q + tools.tool_messages([call, call], ["408", "408"], reasoning="r")
        + [{"role": "assistant", "content": "<think>\nok\n</think>\n\n12 × 34 = 408"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]
        + q + [{"role": "assistant", "content": "Let me.", "tool_calls": [
            {"type": "function", "function": {"name": "calculator", "arguments": '{"expression": "12 * 34"}'}}]},
               {"role": "tool", "content": "408"}, {"role": "assistant", "content": "408"},
               {"role": "user", "content": "thanks"}],
    ]
    for conv in convs:
        for offered in (None, [calculator]):
            for thinking in (True, False):
                for gen in (True, False):
                    kw = dict(tools=offered, tokenize=False, add_generation_prompt=gen, enable_thinking=thinking)
                    assert tok.apply_chat_template(conv, **kw) == tok.apply_chat_template(
                        conv, chat_template=official, **kw), (conv, kw)


# --------------------------------------------------------------------------- the curriculum
def test_tool_samples_are_well_formed_and_never_held_out():
    rng = random.Random(0)
    kinds = set()
    for _ in range(500):
        s = nano.tool_sample(rng)
        if s.meta["task"] != "tool":
            assert "<tool_call>" not in s.answer
            continue
        kinds.add((s.meta["kind"], s.meta["stage"]))
        user = next(m["content"] for m in s.messages if m["role"] == "user")
        nums = tuple(int(x) for x in nano_eval._INT.findall(user.replace("-", " ")))
        op = "×" if ("×" in user or "*" in user) else "+"
        assert not nano._tool_held_out(nums, op) or s.meta["kind"] == "own"
        if s.meta["stage"] == "call":
            (call,) = parse_tool_calls(s.answer)
            assert tools.safe_eval(call.arguments["expression"]) == s.meta["expected"]
            assert tools.is_single_valid_call(s.answer)
        else:
            assert s.messages[-1] == {"role": "tool", "content": str(s.meta["expected"])}
            assert s.answer == f"The result is {s.meta['expected']}."
    assert kinds == {(k, st) for k in ("product", "sum", "own") for st in ("call", "answer")}
    assert all(nano._tool_held_out(p.numbers, p.op) for p in nano_eval.tool_eval_problems(60))


def test_stage_one_curriculum_is_unchanged_by_the_tools_flag():
    a, b = random.Random(3), random.Random(3)
    for _ in range(200):
        x, y = nano.training_sample(a), nano.training_sample(b, tools=False)
        assert (x.messages, x.reasoning, x.answer, x.tools) == (y.messages, y.reasoning, y.answer, None)


def test_tool_problems_are_outside_the_models_skill():
    for p in nano_eval.tool_eval_problems(100):
        if p.kind == "product":
            assert len(p.numbers) == 2 and min(p.numbers) >= 10
        else:
            assert 3 <= len(p.numbers) <= 5 and p.op == "+"
        assert safe_eval(p.expression) == p.answer


# --------------------------------------------------------------------------- the shipped model
@pytest.fixture(scope="module")
def nano_model():
    import labkit

    return labkit.load_model()


@pytest.mark.model
@pytest.mark.parametrize("thinking", [True, False])
def test_nano_calls_the_calculator_and_answers_from_its_response(nano_model, thinking):
    model, tok = nano_model
    res = nano_eval.evaluate_tools(model, tok, thinking=thinking, n=24, seed=3)
    print(res.summary(), res.by_kind)
    assert res.call_format_ok >= 0.95, res.examples
    assert res.accuracy >= 0.9, res.examples


@pytest.mark.model
def test_without_tools_the_problems_are_out_of_reach(nano_model):
    model, tok = nano_model
    res = nano_eval.evaluate_tools(model, tok, thinking=True, n=24, seed=3, tools=False)
    assert res.accuracy <= 0.2 and res.call_format_ok >= 0.9, res.examples


@pytest.mark.model
def test_tool_evaluation_generates_through_batch_inputs_and_generate_replies(nano_model):
    """evaluate_tools' first turn equals labkit.generation's one generation path, tools passed to the template."""
    from labkit.generation import batch_inputs, generate_replies

    model, tok = nano_model
    res = nano_eval.evaluate_tools(model, tok, thinking=False, n=3, seed=5)
    rng = random.Random(5)
    convs = [[{"role": "user", "content": nano.question(p, rng, lang="en")}] for p in nano_eval.tool_eval_problems(3, 5)]
    inputs = batch_inputs(model, tok, convs, thinking=False, max_new_tokens=60, tools=nano.tool_schemas())
    replies = generate_replies(model, tok, inputs, max_new_tokens=60, do_sample=False)
    assert [e["output"] for e in res.examples] == [r.text for r in replies]
