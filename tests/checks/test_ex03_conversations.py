"""The checks of exercise 03: a system prompt rendered by the chat template, a left-padded batch checked against
one-by-one replies (right padding fails), ChatML read back into messages."""
from __future__ import annotations

import pytest

import labkit
from labkit import checks
from labkit.checks import ex03_conversations as ex03

SOLUTION_MESSAGES = [{"role": "system", "content": "Your name is Ada."},
                     {"role": "user", "content": "What is 9 + 4?"},
                     {"role": "assistant", "content": "9 + 4 = 13"},
                     {"role": "user", "content": "Who are you?"}]


@pytest.fixture(scope="module")
def mt():
    return checks.grader.course_model()


def test_the_checks_are_registered():
    for name in ("system_prompt_text", "batch_answers", "chatml_messages"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


@pytest.mark.model
def test_the_chatml_is_what_the_real_qwen3_and_the_nano_template_render(mt):
    for tok in (labkit.load_tokenizer("qwen3"), mt[1]):
        rendered = tok.apply_chat_template(SOLUTION_MESSAGES, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=False)
        assert rendered == ex03.CHATML_03


@pytest.mark.model
def test_chatml_messages(mt):
    assert checks.check_chatml_messages(SOLUTION_MESSAGES) is True
    assert checks.check_chatml_messages(SOLUTION_MESSAGES[1:]) is False                 # the system message lost
    assert checks.check_chatml_messages(SOLUTION_MESSAGES + [{"role": "assistant", "content": ""}]) is False
    assert checks.check_chatml_messages(ex03.CHATML_03) is False                        # a string, not messages


@pytest.mark.model
def test_system_prompt_text(mt, capsys):
    _, tok = mt
    conv = [{"role": "system", "content": ex03.SYSTEM_03}, {"role": "user", "content": ex03.QUESTION_03}]
    assert checks.check_system_prompt_text(tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True,
                                                                   enable_thinking=False)) is True
    assert checks.check_system_prompt_text(tok.apply_chat_template(conv, tokenize=False,
                                                                   add_generation_prompt=True)) is False  # thinking on
    assert checks.check_system_prompt_text(tok.apply_chat_template(conv[1:], tokenize=False, add_generation_prompt=True,
                                                                   enable_thinking=False)) is False  # no system
    assert "enable_thinking=False" in capsys.readouterr().out


def _batch(mt, side):
    model, tok = mt
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True, enable_thinking=False)
             for c in ex03.CONVS_03]
    before = tok.padding_side
    tok.padding_side = side
    try:
        batch = tok(texts, return_tensors="pt", padding=True).to(model.device)
    finally:
        tok.padding_side = before
    out = model.generate(**batch, max_new_tokens=ex03.BATCH_TOKENS_03, do_sample=False, pad_token_id=tok.pad_token_id)
    return [tok.decode(row, skip_special_tokens=True) for row in out[:, batch["input_ids"].shape[1]:]]


@pytest.mark.model
def test_a_left_padded_batch_passes_and_right_padding_fails(mt):
    left = _batch(mt, "left")
    assert checks.check_batch_answers(left) is True
    assert checks.check_batch_answers([a + "\n" for a in left]) is True              # whitespace at the ends
    assert checks.check_batch_answers(_batch(mt, "right")) is False
    assert checks.check_batch_answers(left[::-1]) is False
    assert checks.check_batch_answers(left[:-1]) is False
