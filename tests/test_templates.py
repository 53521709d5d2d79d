"""labkit's own chat templates render exactly what the official Qwen templates render.

The references are the original Qwen2.5 and Qwen3 templates that TRL ships in
``trl/chat_templates`` (``qwen2_5.jinja``, ``qwen3.jinja``: "Original ... chat template").
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest

from labkit.tokenizer import load_tokenizer

trl = pytest.importorskip("trl", reason="trl ships the official templates used as reference")
OFFICIAL = Path(trl.__file__).parent / "chat_templates"

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Kyiv"}}}
CALL_STR = {"function": {"name": "get_weather", "arguments": "{\"city\": \"Tallinn\"}"}}

SYSTEM = {"role": "system", "content": "You are terse."}
U1 = {"role": "user", "content": "What is 2 + 2?"}
A1_THINK = {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n2 + 2 = 4"}
A1_PLAIN = {"role": "assistant", "content": "2 + 2 = 4"}
A1_REASONING = {"role": "assistant", "content": "4", "reasoning_content": "two plus two"}
U2 = {"role": "user", "content": "And 3 + 3? /no_think"}
A2 = {"role": "assistant", "content": "<think>\n\n</think>\n\n6"}
A_CALL = {"role": "assistant", "content": "", "tool_calls": [CALL]}
A_CALL_TEXT = {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL, CALL_STR]}
TOOL1 = {"role": "tool", "content": "{\"temp\": 3}"}
TOOL2 = {"role": "tool", "content": "{\"temp\": -1}"}
A_FINAL = {"role": "assistant", "content": "<think>\nsummarise\n</think>\n\nCold in both."}
U_TOOLRESP = {"role": "user", "content": "<tool_response>\nraw\n</tool_response>"}

CONVERSATIONS = [
    [U1], [SYSTEM, U1], [U1, A1_THINK], [U1, A1_PLAIN], [U1, A1_REASONING], [SYSTEM, U1, A1_THINK, U2],
    [U1, A1_THINK, U2, A2], [SYSTEM, U1, A1_REASONING, U2, A2], [U1, A_CALL, TOOL1],
    [SYSTEM, U1, A_CALL_TEXT, TOOL1, TOOL2, A_FINAL], [U1, A_CALL, TOOL1, A_FINAL, U2],
    [U1, A1_THINK, U_TOOLRESP, A_FINAL], [U1, {"role": "system", "content": "late system"}, A1_PLAIN],
    [{"role": "user", "content": "Привіт! שלום 😀"}],
]


def _official(name: str) -> str:
    return (OFFICIAL / name).read_text()


def _cases(family):
    for conv, tools, gen, think in itertools.product(range(len(CONVERSATIONS)), (None, TOOLS),
                                                     (True, False), (None, True, False)):
        if family == "qwen2.5" and think is not None:
            continue
        yield conv, tools, gen, think


@pytest.mark.model
@pytest.mark.parametrize("family,official", [("qwen3", "qwen3.jinja"), ("qwen2.5", "qwen2_5.jinja")])
def test_template_matches_official(family, official):
    tok = load_tokenizer(family)
    ref = _official(official)
    checked = 0
    for conv, tools, gen, think in _cases(family):
        msgs = CONVERSATIONS[conv]
        if family == "qwen2.5" and any(isinstance(m.get("content"), str) and m.get("reasoning_content")
                                       for m in msgs):
            pass
        kwargs = {} if think is None else {"enable_thinking": think}
        ours = tok.apply_chat_template(copy.deepcopy(msgs), tools=tools, tokenize=False,
                                       add_generation_prompt=gen, **kwargs)
        theirs = tok.apply_chat_template(copy.deepcopy(msgs), tools=tools, tokenize=False,
                                         add_generation_prompt=gen, chat_template=ref, **kwargs)
        assert ours == theirs, (family, conv, tools is not None, gen, think)
        checked += 1
    assert checked >= 50


@pytest.mark.model
def test_qwen3_thinking_switch_and_history():
    tok = load_tokenizer("qwen3")
    off = tok.apply_chat_template([U1], tokenize=False, add_generation_prompt=True, enable_thinking=False)
    on = tok.apply_chat_template([U1], tokenize=False, add_generation_prompt=True, enable_thinking=True)
    assert off == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert on == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    # reasoning of earlier turns is dropped, the answer is kept
    text = tok.apply_chat_template([U1, A1_THINK, U2], tokenize=False)
    assert "add them" not in text and "2 + 2 = 4<|im_end|>" in text
    # the last assistant turn after the last query keeps its reasoning
    text = tok.apply_chat_template([U1, A1_THINK], tokenize=False)
    assert "<think>\nadd them\n</think>\n\n2 + 2 = 4" in text


@pytest.mark.model
def test_qwen25_default_system_prompt():
    tok = load_tokenizer("qwen2.5")
    text = tok.apply_chat_template([U1], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                           "assistant.<|im_end|>\n<|im_start|>user\n")
    assert "You are terse." in tok.apply_chat_template([SYSTEM, U1], tokenize=False)
    assert "Alibaba" not in tok.apply_chat_template([SYSTEM, U1], tokenize=False)


@pytest.mark.model
def test_apply_chat_template_returns_batch_encoding():
    """transformers 5: tokenize=True returns a BatchEncoding (input_ids + attention_mask)."""
    tok = load_tokenizer("qwen3")
    enc = tok.apply_chat_template([U1], add_generation_prompt=True, return_tensors="pt")
    assert set(enc.keys()) >= {"input_ids", "attention_mask"}
    assert enc["input_ids"][0, -1].item() == tok.encode("\n")[0]
