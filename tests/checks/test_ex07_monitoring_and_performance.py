"""The checks of exercise 07: a TTFT streamer (replayed on a fake clock, then run on the course model), a p95, a
roofline ceiling; every right answer passes, the usual wrong ones fail with a hint."""
from __future__ import annotations

import time
from time import perf_counter

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.generation.streamers import BaseStreamer

from labkit import checks
from labkit.family.architectures import make_config


class Stamps(BaseStreamer):
    """The solution: the clock starts when made, the prompt is skipped, the figures are set in end()."""

    def __init__(self):
        self.start, self.times, self.prompt_seen = time.perf_counter(), [], False

    def put(self, value):
        if self.prompt_seen:
            self.times.append(time.perf_counter())
        self.prompt_seen = True

    def end(self):
        self.ttft_s = self.times[0] - self.start
        self.decode_tokens_per_s = (len(self.times) - 1) / (self.times[-1] - self.times[0])


class Properties:
    """Another right answer: no BaseStreamer, ``from time import perf_counter``, the clock started by the prompt's
    put() (found by its shape), the figures as properties."""

    def __init__(self):
        self.t = []

    def put(self, value):
        if value.ndim > 1:
            self.start = perf_counter()
            return
        self.t.append(perf_counter())

    def end(self):
        pass

    @property
    def ttft_s(self):
        return self.t[0] - self.start

    @property
    def decode_tokens_per_s(self):
        return (len(self.t) - 1) / (self.t[-1] - self.t[0])


class WallClock(Stamps):
    """Right too: time.time() instead of time.perf_counter()."""

    def __init__(self):
        super().__init__()
        self.start = time.time()

    def put(self, value):
        if self.prompt_seen:
            self.times.append(time.time())
        self.prompt_seen = True


class CountsThePrompt(Stamps):
    def put(self, value):
        self.times.append(time.perf_counter())


class AllTokensOverDecodeTime(Stamps):
    def end(self):
        super().end()
        self.decode_tokens_per_s = len(self.times) / (self.times[-1] - self.times[0])


def test_exercise_07_checks_are_registered():
    for name in ("ttft_streamer", "p95_latency", "ceiling_l4"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


@pytest.mark.model
@pytest.mark.parametrize("answer", [Stamps, Properties, WallClock, Stamps()], ids=["solution", "properties",
                                                                                  "time.time", "an instance"])
def test_every_right_streamer_passes(answer):
    assert checks.check_ttft_streamer(answer) is True


@pytest.mark.parametrize("answer", [CountsThePrompt, AllTokensOverDecodeTime])
def test_wrong_streamers_fail_with_what_they_reported(answer, capsys):
    assert checks.check_ttft_streamer(answer) is False
    out = capsys.readouterr().out
    assert "got {'ttft_s'" in out and "Hint: " in out and "Traceback" not in out


def test_a_streamer_that_raises_is_reported_not_raised(capsys):
    class Raises(Stamps):
        def put(self, value):
            raise RuntimeError("boom")

    assert checks.check_ttft_streamer(Raises) is False
    assert "RuntimeError: boom" in capsys.readouterr().out
    assert checks.check_ttft_streamer(None) is False


def test_the_fake_clock_is_put_back():
    before = time.perf_counter
    checks.check_ttft_streamer(CountsThePrompt)
    assert time.perf_counter is before and globals()["perf_counter"] is before and globals()["time"] is time


def test_p95_and_ceiling_right_and_wrong():
    assert checks.check_p95_latency(float(np.percentile(checks.LATENCIES_07, 95))) is True
    assert checks.check_p95_latency(float(np.mean(checks.LATENCIES_07))) is False
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(make_config("Qwen3-1.7B"))
    per_token = sum(p.numel() for p in model.parameters()) * 2
    assert checks.check_ceiling_l4(checks.BANDWIDTH_L4_07 * 1e9 / per_token) is True
    twice = sum(t.numel() for t in model.state_dict().values()) * 2     # the tied matrix counted twice
    assert checks.check_ceiling_l4(checks.BANDWIDTH_L4_07 * 1e9 / twice) is False
