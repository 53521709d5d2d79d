"""The checks of exercise 02: decoding only the new tokens, temperature and top-p with transformers' processors,
a TextIteratorStreamer loop, the non-thinking sampling; every right answer passes, the usual wrong ones fail."""
from __future__ import annotations

from threading import Thread

import pytest
import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TextIteratorStreamer, TopPLogitsWarper

from labkit import checks
from labkit.checks import ex02_generation_basics as ex02
from labkit.family.facts import SAMPLING


def test_the_checks_are_registered():
    for name in ("new_tokens_only", "top_p_kept", "streamed_chunks", "non_thinking_sampling"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


def test_top_p_after_temperature(capsys):
    procs = LogitsProcessorList([TemperatureLogitsWarper(ex02.TEMPERATURE_02), TopPLogitsWarper(top_p=ex02.TOP_P_02)])
    scores = procs(torch.zeros(1, 1, dtype=torch.long), torch.tensor([ex02.LOGITS_02]))
    kept = int(torch.isfinite(scores).sum())
    assert checks.check_top_p_kept(kept) is True
    # the task is not the same without the temperature: top-p alone keeps fewer tokens
    alone = int(torch.isfinite(TopPLogitsWarper(top_p=ex02.TOP_P_02)(torch.zeros(1, 1, dtype=torch.long),
                                                                       torch.tensor([ex02.LOGITS_02]))).sum())
    assert alone != kept and checks.check_top_p_kept(alone) is False
    # no near-tie at the cut: a learner's float64 sum by hand gives the same count
    probs = torch.softmax(torch.tensor(ex02.LOGITS_02, dtype=torch.float64) / ex02.TEMPERATURE_02, dim=-1)
    cum = torch.cumsum(probs, 0)
    assert cum[kept - 2] < ex02.TOP_P_02 - 0.01 and cum[kept - 1] > ex02.TOP_P_02 + 0.01
    assert "TemperatureLogitsWarper" in capsys.readouterr().out   # the hint names the processors


def test_non_thinking_sampling():
    preset = SAMPLING["non_thinking"]
    assert checks.check_non_thinking_sampling(preset.generate_kwargs()) is True
    written = dict(do_sample=True, temperature=preset.temperature, top_p=preset.top_p, top_k=preset.top_k)
    assert checks.check_non_thinking_sampling(written) is True              # min_p left at its default
    assert checks.check_non_thinking_sampling(SAMPLING["thinking"].generate_kwargs()) is False
    assert checks.check_non_thinking_sampling({**written, "do_sample": False}) is False


@pytest.mark.model
def test_new_tokens_only():
    model, tok = checks.grader.course_model()
    inputs = tok.apply_chat_template([{"role": "user", "content": ex02.QUESTION_02}], add_generation_prompt=True,
                                     return_tensors="pt", enable_thinking=False).to(model.device)
    out = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    assert checks.check_new_tokens_only(tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
    assert not checks.check_new_tokens_only(tok.decode(out[0], skip_special_tokens=True))   # prompt included


@pytest.mark.model
def test_a_streamer_loop_passes_and_a_single_chunk_fails():
    model, tok = checks.grader.course_model()
    inputs = tok.apply_chat_template([{"role": "user", "content": ex02.STREAM_QUESTION_02}],
                                     add_generation_prompt=True, return_tensors="pt").to(model.device)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    thread = Thread(target=model.generate, kwargs=dict(**inputs, streamer=streamer,
                                                        max_new_tokens=ex02.STREAM_TOKENS_02, do_sample=False))
    thread.start()
    chunks = list(streamer)
    thread.join()
    assert checks.check_streamed_chunks(chunks) is True
    assert checks.check_streamed_chunks(["".join(chunks)]) is False        # not streamed
    assert checks.check_streamed_chunks(chunks[:-3]) is False              # cut short
