"""labkit.lessons.structured: validation, scoring and the rejected-schema error (unit); the llguidance logits processor
on the real Qwen3 tokenizer with a random one-layer Qwen3 and the nano model (tier `model`: building llguidance's
tokenizer takes seconds); ``response_format`` through llama.cpp (enforced) and ``transformers serve`` (ignored)
(tier `serving`)."""
from __future__ import annotations

import re

import pytest

from labkit.lessons import structured
from labkit.generation import generate_batch
from labkit.errors import LabError
from labkit.models import nano_path

SCHEMA_ANSWER = structured.ANSWER_SCHEMA
# Small enough that a random model finishes it: a bounded integer, a boolean, an enum, a short string.
SCHEMA = {"type": "object",
          "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 999}, "ok": {"type": "boolean"},
                         "unit": {"enum": ["cm", "kg"]}, "note": {"type": "string", "maxLength": 6}},
          "required": ["answer", "ok", "unit", "note"], "additionalProperties": False}
QUESTIONS = ["Hi", "What is 12 + 30? Please answer with a JSON object and nothing else.", "2 × 3"]


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(nano_path())


@pytest.fixture(scope="module")
def random_model():
    """A one-layer Qwen3 with random weights and the real vocabulary width (151,936 rows > the tokenizer's)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                         initializer_range=0.5, tie_word_embeddings=True, eos_token_id=[151645, 151643],
                         pad_token_id=151643)
    return Qwen3ForCausalLM(config).eval()


def convs(questions):
    return [[{"role": "user", "content": q}] for q in questions]


def test_validate():
    assert structured.validate('{"answer": 3}', structured.ANSWER_SCHEMA) == (True, True)
    assert structured.validate('{"answer": "3"}', structured.ANSWER_SCHEMA) == (True, False)
    assert structured.validate('{"answer": 3, "x": 1}', structured.ANSWER_SCHEMA) == (True, False)
    assert structured.validate('{"answer": 3', structured.ANSWER_SCHEMA) == (False, False)
    assert structured.validate("3 + 4 = 7", structured.ANSWER_SCHEMA) == (False, False)
    assert structured.validate('{"answer": 123456}', structured.BOUNDED_SCHEMA) == (True, False)


@pytest.mark.parametrize("schema,reason", [
    ({"not": {"type": "string"}}, 'Unimplemented keys: ["not"]'),
    ({"type": "integer", "minimum": 5, "maximum": 2}, "minimum (5) is greater than maximum (2)"),
    ({"type": "string", "pattern": "(?<=x)a"}, "look-around"),
])
def test_a_schema_llguidance_rejects_is_a_lab_error_naming_the_reason(schema, reason):
    with pytest.raises(LabError, match="llguidance cannot constrain") as err:
        structured.compile_schema(schema)
    assert reason in str(err.value) and err.value.fix
    structured.compile_schema(SCHEMA)  # and a schema it takes compiles


@pytest.mark.model
def test_the_processor_refuses_a_bad_schema_and_a_multi_token_after(tok):
    with pytest.raises(LabError, match='Unimplemented keys: \\["not"\\]'):
        structured.json_schema_processor(tok, {"type": "object", "properties": {"a": {"not": {"type": "null"}}}})
    with pytest.raises(LabError, match="single token"):
        structured.json_schema_processor(tok, SCHEMA, after="the end")


@pytest.mark.model
def test_random_model_writes_only_valid_json_in_a_left_padded_batch(tok, random_model):
    """Prompts of different lengths (left padding); sampling from a random model: every reply conforms."""
    import torch

    torch.manual_seed(1)
    replies = generate_batch(random_model, tok, convs(QUESTIONS * 2), thinking=False, max_new_tokens=60,
                             do_sample=True, top_k=None, top_p=None,
                             logits_processor=[structured.json_schema_processor(tok, SCHEMA)])
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    for r in replies:
        assert structured.validate(r.answer, SCHEMA) == (True, True), r.text
        assert r.ids[-1] == stop  # the JSON was complete, so the turn was ended
    # the same model without the processor: not JSON (so the assertion above can fail)
    torch.manual_seed(1)
    free = generate_batch(random_model, tok, convs(QUESTIONS * 2), thinking=False, max_new_tokens=60,
                          do_sample=True, top_k=None, top_p=None)
    assert not any(structured.validate(r.answer, SCHEMA)[0] for r in free)


@pytest.mark.model
def test_batch_rows_equal_single_rows_and_the_processor_can_be_reused(tok, random_model):
    proc = structured.json_schema_processor(tok, SCHEMA)
    greedy = dict(thinking=False, max_new_tokens=60, do_sample=False, top_k=None, top_p=None, temperature=None,
                  logits_processor=[proc])
    batch = generate_batch(random_model, tok, convs(QUESTIONS), **greedy)
    one_by_one = [generate_batch(random_model, tok, convs([q]), **greedy)[0] for q in QUESTIONS]
    assert [r.answer for r in batch] == [r.answer for r in one_by_one]
    assert all(structured.validate(r.answer, SCHEMA)[1] for r in batch)
    assert proc.steps > 0 and proc.mask_seconds > 0


def _step(proc, ids, width):
    """One call of the processor on uniform scores; the allowed token ids per row."""
    import torch

    scores = proc(torch.tensor(ids), torch.zeros(len(ids), width))
    return [set(torch.nonzero(row > float("-inf")).flatten().tolist()) for row in scores]


@pytest.mark.model
def test_reasoning_is_free_until_think_closes(tok):
    """``after="</think>"``: unconstrained in the think block, JSON only after ``</think>``; a prompt whose
    think block is already closed (thinking off) is constrained from its first token."""
    proc = structured.json_schema_processor(tok, SCHEMA, after="</think>")
    on = tok.apply_chat_template(convs(["Hi"])[0], tokenize=True, add_generation_prompt=True, enable_thinking=True)
    off = tok.apply_chat_template(convs(["Hi"])[0], tokenize=True, add_generation_prompt=True, enable_thinking=False)
    on, off = list(getattr(on, "input_ids", on)), list(getattr(off, "input_ids", off))
    pad = tok.pad_token_id
    width = max(len(on), len(off))
    rows = [[pad] * (width - len(on)) + on, [pad] * (width - len(off)) + off]  # left padding
    allowed = _step(proc, rows, 151936)
    assert len(allowed[0]) == 151936  # thinking on: free
    assert allowed[1] and all(_json_start(tok.decode([t])) for t in allowed[1])  # thinking off: JSON at once
    assert not any(t >= len(tok) for t in allowed[1])  # never a row past the tokenizer's vocabulary
    think = tok.encode("<think>\nplan: not JSON at all\n", add_special_tokens=False)
    for t in think:  # the think block, token by token: everything stays allowed
        rows = [rows[0] + [t], rows[1] + [next(iter(allowed[1]))]]
        allowed = _step(proc, rows, 151936)
        assert len(allowed[0]) == 151936
    rows = [rows[0] + [tok.convert_tokens_to_ids("</think>")], rows[1] + [next(iter(allowed[1]))]]
    allowed = _step(proc, rows, 151936)
    assert allowed[0] and all(_json_start(tok.decode([t])) for t in allowed[0])


def _json_start(text: str) -> bool:
    """What may open the answer: up to two newlines (the template's blank line after ``</think>``), then ``{``."""
    return re.fullmatch(r"\n{1,2}|\n{0,2}\{.*", text, flags=re.S) is not None


@pytest.mark.model
def test_a_complete_json_leaves_only_the_end_of_turn(tok):
    proc = structured.json_schema_processor(tok, structured.BOUNDED_SCHEMA)
    prompt = tok.apply_chat_template(convs(["Hi"])[0], tokenize=True, add_generation_prompt=True,
                                     enable_thinking=False)
    row = list(getattr(prompt, "input_ids", prompt))
    _step(proc, [row], 151936)
    for t in tok.encode('{"answer": 12345}', add_special_tokens=False):
        row = row + [t]
        allowed = _step(proc, [row], 151936)
    assert {tok.convert_ids_to_tokens(t) for t in allowed[0]} <= {"<|im_end|>", "<|endoftext|>"}
    assert tok.convert_tokens_to_ids("<|im_end|>") in allowed[0]


@pytest.mark.model
def test_nano_think_then_json():
    """The nano model thinks freely, then every reply that closed its think block and ended is conforming JSON."""
    import torch

    from labkit import load_model
    from labkit.nano import evaluation as nano_eval

    torch.set_num_threads(1)
    model, tok = load_model()
    problems = nano_eval.eval_problems(4, 0, levels=(1,))
    rows, replies = structured.compare(model, tok, problems, modes=["thinking on, JSON after </think>"],
                                       max_new_tokens=100)
    finished = [r for r in replies["thinking on, JSON after </think>"] if r.finished_thinking and r.ids[-1] in
                {tok.convert_tokens_to_ids("<|im_end|>")}]
    assert finished, "no reply closed its think block: nothing was checked"
    for r in finished:
        assert r.thinking.strip() and structured.validate(r.answer, structured.BOUNDED_SCHEMA) == (True, True)
    assert rows[0]["n"] == 4 and 0 <= rows[0]["conforms"] <= 1


@pytest.mark.serving
def test_llamacpp_response_format():
    """llama-cpp-python 0.3.36 takes ``{"type": "json_object", "schema": ...}``; OpenAI's ``json_schema`` shape
    is refused (its request model allows only ``text`` and ``json_object``)."""
    pytest.importorskip("llama_cpp")
    import openai

    from labkit.serving import serve

    with serve.serve("llamacpp", "nano", threads=1, enable_thinking=False) as server:
        client = server.client()
        ask = dict(model=server.model, messages=structured.json_conversation("What is 2 + 3?"),
                   max_tokens=60, temperature=0)
        # llama.cpp's grammar bounds an integer (16 digits) and the whitespace: the reply must end in time
        r = client.chat.completions.create(
            **ask, response_format={"type": "json_object", "schema": structured.ANSWER_SCHEMA})
        assert r.choices[0].finish_reason == "stop"
        assert structured.validate(r.choices[0].message.content, structured.ANSWER_SCHEMA) == (True, True)
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(**ask, response_format={
                "type": "json_schema", "json_schema": {"name": "answer", "schema": structured.ANSWER_SCHEMA}})
        assert "json_object" in str(err.value)


@pytest.mark.model
def test_the_blank_line_after_think_is_allowed_unless_refused(tok):
    """Qwen's template writes ``</think>`` and a blank line: the grammar allows up to two newlines before the
    JSON by default, and none with ``blank_line=False``."""
    import llguidance

    from labkit.lessons.structured import compile_schema, ll_tokenizer

    text = '\n\n{"answer": 13}'
    for blank_line, accepted in ((True, True), (False, False)):
        m = llguidance.LLMatcher(ll_tokenizer(tok), compile_schema(SCHEMA_ANSWER, tok, blank_line=blank_line), log_level=0)
        ok = all(m.consume_token(t) for t in tok.encode(text, add_special_tokens=False))
        assert (ok and m.is_accepting()) == accepted
    m = llguidance.LLMatcher(ll_tokenizer(tok), compile_schema(SCHEMA_ANSWER, tok), log_level=0)
    assert not all(m.consume_token(t) for t in tok.encode('\n\n\n{"answer": 13}', add_special_tokens=False))


def test_score_reads_the_field_named_by_key():
    from labkit.nano.curriculum import Problem

    problems = [Problem(a=9, op="+", b=4, level=1)]
    schema = {"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"],
              "additionalProperties": False}
    assert structured.score(['{"result": 13}'], problems, schema, key="result")["accuracy"] == 1.0
    got = structured.score(['{"answer": 13}'], problems, schema, key="result")
    assert got["accuracy"] == 0.0 and got["number_right"] == 1.0 and got["conforms"] == 0.0 and got["valid_json"] == 1.0


@pytest.mark.serving
def test_transformers_serve_ignores_response_format():
    """transformers serve 5.23 accepts ``response_format`` and ignores it (a line in its log): notebook 10, section 8,
    says so and validates on the client side."""
    from labkit.serving import serve

    schema = {"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"],
              "additionalProperties": False}
    with serve.serve("transformers", "nano", threads=1) as server:
        r = server.client().chat.completions.create(
            model=server.model, messages=structured.json_conversation("What is 9 + 4?"), max_tokens=160, temperature=0,
            response_format={"type": "json_schema", "json_schema": {"name": "result", "schema": schema}})
        text = r.choices[0].message.content
        assert structured.validate(text, structured.ANSWER_SCHEMA) == (True, True), text    # the model's own habit
        assert structured.validate(text, schema) == (True, False)
        assert "Ignoring unsupported fields in the request: {'response_format'}" in server.logs(60)
