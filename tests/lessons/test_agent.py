"""labkit.lessons.agent: the bounded tool loop, its error messages and transcript, the XML form; the nano model and
transformers serve running it (tiers: unit, model, serving)."""
from __future__ import annotations

import json
import random
import re

import pytest

from labkit.lessons import agent, tools
from labkit.nano import curriculum as nano, evaluation as nano_eval
from labkit.errors import LabError
from labkit.lessons.tools import ToolCall, ToolCallError

CALL = nano.tool_call_text("12 * 34")


def scripted(*replies: str, form: str = "json", seen: list | None = None) -> agent.FunctionModel:
    """A 'model' that writes ``replies`` in turn (the last one forever); records what it was given."""
    state = {"i": 0}

    def reply(messages, schemas, thinking):
        if seen is not None:
            seen.append({"messages": [dict(m) for m in messages], "schemas": schemas, "thinking": thinking})
        text = replies[min(state["i"], len(replies) - 1)]
        state["i"] += 1
        return text

    return agent.FunctionModel(reply, form=form)


# --------------------------------------------------------------------------- the bound
@pytest.mark.parametrize("max_calls", [0, 1, 3])
def test_a_model_that_always_calls_stops_at_max_calls(max_calls):
    seen: list = []
    t = agent.run(scripted(CALL, seen=seen), "What is 12 × 34?", max_calls=max_calls)
    assert t.outcome == "max_calls" and t.answer is None
    assert t.calls == max_calls and t.replies == max_calls + 1 == len(seen)
    assert [len(s.results) for s in t.steps] == [1] * max_calls + [0]   # the last reply's call is not run
    assert f"max_calls={max_calls}" in str(t)


def test_broken_calls_count_against_max_calls_too():
    broken = CALL.replace("}}", "}")
    t = agent.run(scripted(broken), "What is 12 × 34?", max_calls=2)
    assert t.outcome == "max_calls" and t.calls == 2 and t.replies == 3


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_max_calls_must_be_a_count(bad):
    with pytest.raises(LabError, match="max_calls"):
        agent.run(scripted("hi"), "Hi", max_calls=bad)


def test_one_question_string_is_refused_by_run_batch():
    with pytest.raises(LabError, match="one string"):
        agent.run_batch(scripted("hi"), "What is 1 + 1?")


# --------------------------------------------------------------------------- the happy path and the transcript
def test_call_then_answer_builds_the_openai_conversation():
    seen: list = []
    model = scripted("<think>\nI call it.\n</think>\n\n" + CALL, "<think>\nok\n</think>\n\nThe result is 408.",
                     seen=seen)
    t = agent.run(model, "What is 12 × 34?", thinking=True)
    assert t.outcome == "answered" and t.answer == "The result is 408." and t.calls == 1 and t.replies == 2
    first, second = t.steps
    assert first.turn.raw.startswith("<think>\nI call it.") and first.turn.thinking == "I call it."
    assert first.turn.calls == [ToolCall("calculator", {"expression": "12 * 34"})] and first.results == ["408"]
    assert second.turn.calls == [] and second.results == [] and second.turn.thinking == "ok"
    user, call, result, answer = t.messages
    assert user == {"role": "user", "content": "What is 12 × 34?"}
    (tc,) = call["tool_calls"]
    assert call["reasoning_content"] == "I call it." and tc["type"] == "function"
    assert tc["function"] == {"name": "calculator", "arguments": json.dumps({"expression": "12 * 34"})}
    assert result == {"role": "tool", "tool_call_id": tc["id"], "content": "408"}
    assert answer["content"] == "The result is 408."
    # the model saw the tool's answer, and the tools, and the thinking switch
    assert seen[1]["messages"][-1]["content"] == "408" and seen[0]["thinking"] is True
    assert [s["function"]["name"] for s in seen[0]["schemas"]] == ["calculator"]
    text = str(t)
    for line in ["Question: What is 12 × 34?", "think:  I call it.", 'call:   calculator({"expression": "12 * 34"})',
                 "tool    408", "answer: The result is 408.", "outcome: answered · 1 tool call · 2 model replies"]:
        assert line in text, text
    assert repr(first.turn.raw) in t.format(raw=True)


def test_a_reply_without_a_call_is_the_answer():
    t = agent.run(scripted("42"), "What is 6 × 7?", thinking=False)
    assert (t.outcome, t.answer, t.calls, t.replies) == ("answered", "42", 0, 1)
    assert t.messages[-1] == {"role": "assistant", "content": "42"}


def test_parallel_calls_run_each_and_answer_each_id():
    two = CALL + "\n" + nano.tool_call_text("1 + 2")
    t = agent.run(scripted(two, "done"), "Two sums?")
    assert t.steps[0].results == ["408", "3"]
    ids = [c["id"] for c in t.messages[1]["tool_calls"]]
    assert [m["tool_call_id"] for m in t.messages[2:4]] == ids and len(set(ids)) == 2


def test_batch_runs_every_question_and_keeps_them_apart():
    def reply(messages, schemas, thinking):
        q = messages[0]["content"]
        if messages[-1]["role"] == "tool":
            return f"The result is {messages[-1]['content']}."
        return nano.tool_call_text(q.removeprefix("What is ").rstrip("?").replace("×", "*"))

    qs = ["What is 2 × 3?", "What is 10 + 5?", "What is 7 × 7?"]
    ts = agent.run_batch(agent.FunctionModel(reply), qs)
    assert [t.answer for t in ts] == ["The result is 6.", "The result is 15.", "The result is 49."]


# --------------------------------------------------------------------------- mistakes become tool messages
def _fed_back(first_reply: str) -> tuple[agent.Transcript, str]:
    t = agent.run(scripted(first_reply, "ok"), "What is 12 × 34?")
    return t, t.messages[2]["content"]


def test_unknown_tool_is_answered_with_the_available_ones():
    t, msg = _fed_back(CALL.replace('"calculator"', '"weather"'))
    assert msg == "Error: unknown tool 'weather'; available: calculator."
    assert t.messages[2]["role"] == "tool" and t.outcome == "answered"


@pytest.mark.parametrize("reply, says", [
    (CALL.replace("}}", "}"), "not valid JSON"),
    (CALL.removesuffix("</tool_call>"), "not closed"),
    ('<tool_call>\n["calculator"]\n</tool_call>', "string 'name'"),
    ('<tool_call>\n{"name": "calculator", "arguments": 5}\n</tool_call>', "must be a JSON object"),
])
def test_calls_that_cannot_be_read_are_answered_with_why(reply, says):
    t, msg = _fed_back(reply)
    assert msg.startswith("Error: the tool call could not be read: ") and says in msg, msg
    assert says in t.steps[0].turn.error and "unreadable call" in str(t)
    assert t.messages[1]["content"] == reply.strip()       # the model sees what it wrote
    assert t.calls == 1


@pytest.mark.parametrize("arguments, says", [
    ({"expr": "1"}, ["missing 'expression'", "unknown 'expr'"]),
    ({"expression": 12}, ["'expression' must be string, got int 12"]),
    ({}, ["missing 'expression'"]),
])
def test_arguments_of_the_wrong_shape_are_answered_with_the_schema(arguments, says):
    _, msg = _fed_back(f'<tool_call>\n{json.dumps({"name": "calculator", "arguments": arguments})}\n</tool_call>')
    assert msg.startswith("Error: wrong arguments for 'calculator': ")
    assert msg.endswith("It takes: expression (string).")
    for s in says:
        assert s in msg


def test_a_tools_own_error_comes_back_as_text():
    def boom(expression: str) -> str:
        """Always fails.

        Args:
            expression: anything
        """
        raise ValueError("the service is down.")

    t = agent.run(scripted(CALL, "ok"), "Q", tools={"calculator": boom})
    assert t.messages[2]["content"] == "Error: the service is down."


def test_tools_without_a_schema_are_refused_up_front():
    def no_docs(x):
        return x

    with pytest.raises(LabError, match="no JSON schema"):
        agent.run(scripted("hi"), "Q", tools=[no_docs])


def test_check_arguments_reads_json_types():
    def f(n: int, x: float, flag: bool, items: list) -> str:
        """F.

        Args:
            n: n
            x: x
            flag: flag
            items: items
        """
        return ""

    ok = ToolCall("f", {"n": 1, "x": 2, "flag": False, "items": []})
    assert tools.check_arguments(ok, f) is None
    assert "'n' must be integer, got bool True" in tools.check_arguments(ToolCall("f", {**ok.arguments, "n": True}), f)
    assert "'x' must be number, got str '2'" in tools.check_arguments(ToolCall("f", {**ok.arguments, "x": "2"}), f)


# --------------------------------------------------------------------------- the two wire forms
ARGS = [{"expression": "12 * 34"}, {"expression": 'say "hi"\nthen \\ go'}, {"expression": "× ÷ −"}]


@pytest.mark.parametrize("arguments", ARGS)
def test_json_and_xml_parse_to_equal_calls(arguments):
    call = ToolCall("calculator", arguments)
    xml = tools.tool_call_text(call, "xml")
    assert xml.startswith("<tool_call>\n<function=calculator>\n<parameter=expression>\n")
    assert tools.parse_tool_calls(xml, form="xml") == tools.parse_tool_calls(tools.tool_call_text(call)) == [call]


def test_xml_values_are_typed_from_the_schema():
    def note(text: str, times: int) -> str:
        """Note.

        Args:
            text: the text
            times: how often
        """
        return text * times

    call = ToolCall("note", {"text": "3", "times": 3})
    xml = tools.tool_call_text(call, "xml")
    assert "<parameter=times>\n3\n</parameter>" in xml and "<parameter=text>\n3\n</parameter>" in xml
    assert tools.parse_tool_calls(xml, form="xml", tools=[note]) == [call]      # "3" and 3 told apart by the schema
    assert tools.parse_tool_calls(xml, form="xml")[0].arguments != call.arguments  # without it, they are not


@pytest.mark.parametrize("text, says", [
    (tools.tool_call_text(ToolCall("note", {"text": "a </parameter> b"}), "xml"), "cannot be written in the XML form"),
    (CALL, "holds JSON (the Qwen3 form)"),
    ("<tool_call>\n<function=calculator>\n<parameter=expression>\n1\n</parameter>\n</tool_call>", "must hold"),
    ("<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n<parameter=a>\n2\n</parameter>\n</function>\n"
     "</tool_call>", "more than once"),
    ("<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n", "not closed"),
])
def test_xml_parser_refuses_what_the_regexes_would_accept_or_lose(text, says):
    with pytest.raises(ToolCallError, match=re.escape(says)):
        tools.parse_tool_calls(text, form="xml")


def test_the_loop_runs_the_xml_form():
    xml = tools.tool_call_text(ToolCall("calculator", {"expression": "12 * 34"}), "xml")
    t = agent.run(scripted(xml, "The result is 408.", form="xml"), "Q")
    assert t.steps[0].results == ["408"] and t.outcome == "answered"


def test_response_templates_are_trls_objects():
    ctu = pytest.importorskip("trl.chat_template_utils")
    assert tools.response_template("json") is ctu.qwen3_template is tools.QWEN3_RESPONSE_TEMPLATE
    assert tools.response_template("xml") is ctu.qwen3_5_template is tools.QWEN3_5_RESPONSE_TEMPLATE
    with pytest.raises(LabError, match="unknown tool-call form"):
        tools.response_template("yaml")


def test_local_model_gives_the_template_dict_arguments():
    m = agent.assistant_message(agent.Turn("raw", "", "", [ToolCall("calculator", {"expression": "1"})], ["c0"]))
    assert m["tool_calls"][0]["function"]["arguments"] == '{"expression": "1"}'
    assert agent._template_message(m)["tool_calls"][0]["function"]["arguments"] == {"expression": "1"}
    assert m["tool_calls"][0]["function"]["arguments"] == '{"expression": "1"}'   # the original is untouched


def test_responses_tool_is_the_flat_responses_schema():
    tool = agent.responses_tool(tools.calculator)
    assert tool["type"] == "function" and tool["name"] == "calculator" and tool["strict"] is False
    assert tool["parameters"] == tools.calculator_schema()["function"]["parameters"]


# --------------------------------------------------------------------------- real templates, the real model
@pytest.mark.model
def test_qwen35_template_writes_the_xml_form_and_its_parser_reads_it_back():
    """The two templates write what tool_call_text writes (the notebook renders both, section 7); the XML form
    costs more tokens; transformers' parser reads the Qwen3.5 reply back with the prompt as prefix."""
    from transformers import AutoTokenizer

    from labkit.models import NANO_DIR

    json_tok, xml_tok = AutoTokenizer.from_pretrained(NANO_DIR), tools.qwen3_5_tokenizer()
    call = ToolCall("calculator", {"expression": "5215 * 1196"})
    q = [{"role": "user", "content": "What is 5215 × 1196?"}]
    conv = q + tools.tool_messages([call], ["6237140"], reasoning="I call it.")
    rendered = {form: t.apply_chat_template(conv, tools=[tools.calculator], tokenize=False)
                for form, t in (("json", json_tok), ("xml", xml_tok))}
    assert "<function=calculator>\n<parameter=expression>\n5215 * 1196\n</parameter>" in rendered["xml"]
    assert tools.tool_call_text(call, "xml") in rendered["xml"]
    assert tools.tool_call_text(call, "json") == nano.tool_call_text("5215 * 1196") in rendered["json"]
    sizes = {form: (len(t(rendered[form]).input_ids), len(t(tools.tool_call_text(call, form)).input_ids))
             for form, t in (("json", json_tok), ("xml", xml_tok))}
    assert sizes["xml"][0] > sizes["json"][0] > 100 and sizes["xml"][1] > sizes["json"][1]
    assert len(xml_tok) > 248_000
    prompt = xml_tok.apply_chat_template(q, tools=[tools.calculator], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")          # the think template opens the block
    parsed = xml_tok.parse_response("I call it.\n</think>\n\n" + tools.tool_call_text(call, "xml") + "<|im_end|>",
                                    prefix=prompt, tools=[tools.calculator])
    assert parsed["reasoning_content"] == "I call it."
    assert parsed["tool_calls"] == [{"type": "function", "function": {"name": "calculator",
                                                                     "arguments": call.arguments}}]


@pytest.fixture(scope="module")
def nano_model():
    import torch

    import labkit

    torch.set_num_threads(1)
    return labkit.load_model()


def _problems(n: int, seed: int):
    rng = random.Random(seed)
    problems = nano_eval.tool_eval_problems(n, seed=seed)
    return problems, [nano.question(p, rng, lang="en") for p in problems]


def _score(transcripts, problems) -> float:
    ok = 0
    for t, p in zip(transcripts, problems):
        nums = re.findall(r"-?\d+", t.answer or "")
        ok += t.outcome == "answered" and t.calls >= 1 and bool(nums) and int(nums[-1]) == p.answer
    return ok / len(problems)


@pytest.mark.model
@pytest.mark.parametrize("thinking", [True, False])
def test_nano_model_completes_the_loop_on_held_out_problems(nano_model, thinking):
    model, tok = nano_model
    problems, questions = _problems(10, seed=31)
    ts = agent.run_batch(agent.LocalModel(model, tok, max_new_tokens=100), questions, thinking=thinking)
    share = _score(ts, problems)
    print(f"thinking={thinking}: {share:.0%} of 10 answered correctly through the calculator")
    assert share >= 0.8, "\n\n".join(t.format(raw=True) for t in ts[:3])
    assert all(t.replies <= 4 for t in ts)


# --------------------------------------------------------------------------- over transformers serve
@pytest.mark.serving
def test_the_loop_and_openais_runner_over_transformers_serve():
    from labkit.serving import serve

    problems, questions = _problems(4, seed=41)
    with serve.serve("transformers", "nano", threads=1) as server:
        remote = agent.ServerModel.from_handle(server, max_tokens=100)
        for thinking in (True, False):
            ts = agent.run_batch(remote, questions, thinking=thinking)
            assert _score(ts, problems) >= 0.75, "\n\n".join(str(t) for t in ts)
            call, result = ts[0].messages[1], ts[0].messages[2]
            assert call["tool_calls"][0]["id"] == result["tool_call_id"] != "call_0"   # the server's id
            assert bool(ts[0].steps[0].turn.thinking) is thinking                      # reasoning split out or not
        ran = []

        def calculator(expression: str) -> str:
            """Evaluate an arithmetic expression and return the result.

            Args:
                expression: The expression to evaluate, e.g. "12 * 34".
            """
            ran.append(expression)
            return tools.calculator(expression)

        out = agent.responses_runner([calculator]).run(
            server.client(timeout=60), {"model": server.model, "input": questions[0], "max_output_tokens": 100,
                                        "temperature": 0, "stream": False}, max_steps=3)
        assert len(ran) == 1 and tools.safe_eval(ran[0]) == problems[0].answer
        assert out.output[-1].type == "message"
    assert not server.alive()
