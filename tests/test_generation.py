"""labkit.generation and labkit.models: clear errors on bad input, thinking split by token id."""
from __future__ import annotations

import pytest

import labkit
from labkit.generation import build_inputs, reply_from_ids, stop_ids
from labkit.errors import LabError


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


@pytest.mark.parametrize("messages,match", [
    ([], "conversation is empty"),
    ("hi", "not a conversation"),
    ([{"role": "robot", "content": "x"}], "unknown role 'robot'"),
    ([{"role": "user"}], "no text content"),
    (["hi"], "not a dict"),
])
def test_bad_conversations_are_named(messages, match):
    with pytest.raises(LabError, match=match):
        labkit.validate_messages(messages)


@pytest.mark.model
def test_prompt_longer_than_context_names_the_limit(mt):
    model, tok = mt
    limit = model.config.max_position_embeddings
    long = [{"role": "user", "content": "1 " * limit}]
    with pytest.raises(LabError, match=f"context is {limit} tokens"):
        labkit.chat(model, tok, long)


@pytest.mark.model
def test_split_thinking_uses_the_tokenizer_ids():
    tok = labkit.load_tokenizer("qwen3")
    ids = tok.encode("<think>\nplan\n</think>\n\n42")
    think, answer, closed = labkit.split_thinking(ids, tok)
    assert closed and tok.decode(answer).strip() == "42" and "plan" in tok.decode(think)
    think, answer, closed = labkit.split_thinking(tok.encode("<think>\nstill going"), tok)
    assert not closed and answer == []
    think, answer, closed = labkit.split_thinking(tok.encode("plain answer"), tok)
    assert not closed and think == [] and tok.decode(answer) == "plain answer"


def test_chat_decodes_only_new_tokens(mt):
    model, tok = mt
    reply = labkit.chat(model, tok, [{"role": "user", "content": "What is 12 + 30?"}], thinking=False,
                        do_sample=False, max_new_tokens=30)
    assert "user" not in reply.answer and reply.answer.endswith("42") and reply.thinking == ""


def test_hub_model_under_offline_profile_says_how_to_switch(monkeypatch):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "offline")
    with pytest.raises(LabError, match="(?s)active profile is offline.*QWEN_LABS_PROFILE=hub"):
        labkit.load_model("Qwen/Qwen3-8B")


def test_bad_model_id_under_hub_profile(monkeypatch):
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda timeout=1.5: True)
    monkeypatch.setenv("QWEN_LABS_PROFILE", "hub")
    with pytest.raises(LabError, match="not a Hub model id"):
        labkit.load_model("qwen3")


@pytest.mark.model
def test_generate_batch_equals_one_by_one_greedy(mt):
    model, tok = mt
    convs = [[{"role": "user", "content": q}] for q in ("What is 7 + 5?", "Compute 4827 + 3979.", "Hello!",
                                                         "What is 306 × 7?")]
    convs.append([{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "What is 9 + 9?"}])
    side = tok.padding_side
    for thinking in (True, False):
        batch = labkit.generate_batch(model, tok, convs, thinking=thinking, do_sample=False, max_new_tokens=120)
        single = [labkit.chat(model, tok, c, thinking=thinking, do_sample=False, max_new_tokens=120) for c in convs]
        assert batch == single
    assert tok.padding_side == side  # restored
    assert len({len(tok.apply_chat_template(c, add_generation_prompt=True)["input_ids"]) for c in convs}) > 1


def test_generate_batch_right_padding_would_differ(mt):
    """The reason for left padding: with right padding the short prompts continue from pad tokens."""
    model, tok = mt
    convs = [[{"role": "user", "content": "What is 7 + 5?"}], [{"role": "user", "content": "Compute 4827 + 3979."}]]
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True, enable_thinking=False)
             for c in convs]
    side, tok.padding_side = tok.padding_side, "right"
    enc = tok(texts, return_tensors="pt", padding=True)
    tok.padding_side = side
    out = model.generate(**enc, do_sample=False, max_new_tokens=20, pad_token_id=tok.pad_token_id)
    right = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    good = labkit.generate_batch(model, tok, convs[:1], thinking=False, do_sample=False, max_new_tokens=20)[0]
    assert right.strip() != good.answer


def test_build_inputs_tokenizes_like_the_chat_template(mt):
    model, tok = mt
    conv = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "What is 9 + 9?"}]
    for thinking in (True, False):
        direct = tok.apply_chat_template(conv, add_generation_prompt=True, enable_thinking=thinking)["input_ids"]
        assert build_inputs(model, tok, conv, thinking=thinking)["input_ids"][0].tolist() == direct


@pytest.mark.model
def test_reply_from_ids_cuts_at_the_end_of_turn_and_splits():
    tok = labkit.load_tokenizer("qwen3")
    end, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id
    row = tok.encode("<think>\nplan\n</think>\n\n42") + [end, pad, pad, end]   # a finished row, then padding
    reply = reply_from_ids(row, tok, {end})
    assert reply.ids == row[:-3] and reply.new_tokens == len(row) - 3
    assert (reply.thinking, reply.answer, reply.finished_thinking) == ("plan", "42", True)
    assert reply.text == "<think>\nplan\n</think>\n\n42"                        # tags kept, end of turn dropped
    cut = reply_from_ids(tok.encode("<think>\nstill"), tok, {end})  # no end of turn: all of it
    assert not cut.finished_thinking and cut.answer == "" and cut.thinking == "still" and cut.text == "<think>\nstill"


def test_chat_is_a_batch_of_one(mt):
    model, tok = mt
    conv = [{"role": "user", "content": "What is 306 × 7?"}]
    one = labkit.chat(model, tok, conv, do_sample=False, max_new_tokens=120)
    batch = labkit.generate_batch(model, tok, [conv], do_sample=False, max_new_tokens=120)
    assert [one] == batch and one.new_tokens == len(one.ids) and one.ids[-1] in stop_ids(model, tok)
    with pytest.raises(LabError, match="longest prompt has"):
        labkit.generate_batch(model, tok, [conv, [{"role": "user", "content": "1 " * 2000}]])


@pytest.mark.model
def test_a_frozen_output_layer_is_not_copied_once_per_row(mt):
    """A LoRA adapter freezes the output layer; torch.matmul then multiplies prefill's strided last positions
    by expanding the weight per row (aten::bmm over a copy, pytorch/pytorch#186148). generate_replies hands
    the layer a contiguous input: the frozen model runs the trainable model's ops and says the same."""
    import copy

    import torch
    from torch.profiler import profile

    from labkit.generation import batch_inputs, generate_replies

    model, tok = mt
    frozen = copy.deepcopy(model).requires_grad_(False)

    def run(m, generate):
        with profile() as prof:
            out = generate(m)
        return out, sum(e.count for e in prof.key_averages() if e.key == "aten::bmm")

    for rows in (1, 8):      # a batch of one counts as contiguous whatever its strides: .contiguous() would not do
        questions = [[{"role": "user", "content": f"What is {a} + {a + 7}?"}] for a in range(11, 11 + rows)]
        inputs = batch_inputs(model, tok, questions, thinking=False, max_new_tokens=8)
        course = lambda m: [r.answer for r in generate_replies(m, tok, inputs, max_new_tokens=8,  # noqa: E731
                                                               do_sample=False)]
        raw = lambda m: torch.no_grad()(m.generate)(**inputs, max_new_tokens=8, do_sample=False,  # noqa: E731
                                                  pad_token_id=tok.pad_token_id)
        trainable, trainable_bmm = run(model, course)
        fixed, fixed_bmm = run(frozen, course)
        assert fixed == trainable and fixed_bmm == trainable_bmm, rows
        assert not frozen.get_output_embeddings()._forward_pre_hooks    # the hook is gone afterwards
        _, raw_bmm = run(frozen, raw)
        assert raw_bmm > fixed_bmm, "torch folds the strided product itself now: the hook in generate_replies can go"
