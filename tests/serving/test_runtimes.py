"""labkit.serving.runtimes: splitting replies, agreement with the reference, the table and the plot (tiny inputs)."""
from __future__ import annotations

import math
import types

import pytest

from labkit.serving import runtimes
from labkit.serving.runtimes import Prompt, Row


def test_split_reply_handles_both_server_styles():
    assert runtimes.split_reply("<think>\n1+2=3\n</think>\n\n1 + 2 = 3") == ("1+2=3", "1 + 2 = 3")
    assert runtimes.split_reply("\n\n1 + 2 = 3", "\n1+2=3\n") == ("1+2=3", "1 + 2 = 3")  # vLLM: split out
    assert runtimes.split_reply("<think>\n\n</think>\n\n3") == ("", "3")
    assert runtimes.split_reply(None) == ("", "")
    assert runtimes.split_reply("no think block") == ("", "no think block")


def test_held_out_prompts_are_fixed_and_answered():
    a, b = runtimes.held_out_prompts(6), runtimes.held_out_prompts(6)
    assert a == b and len(a) == 6
    for p in a:
        text = p.messages[0]["content"]
        assert p.messages[0]["role"] == "user" and str(p.expected) not in text.split("?")[-1]


def test_agreement_and_differences():
    prompts = [Prompt([{"role": "user", "content": "What is 1 + 2?"}], 3),
               Prompt([{"role": "user", "content": "What is 2 + 2?"}], 4)]
    ref = [("r", "1 + 2 = 3"), ("r", "2 + 2 = 4")]
    same = runtimes.agreement(ref, ref, prompts)
    assert same == {"same as transformers": 1.0, "accuracy": 1.0, "transformers accuracy": 1.0}
    other = [("r", "1 + 2 = 3"), ("x", "2 + 2 = 5")]
    got = runtimes.agreement(other, ref, prompts)
    assert got["same as transformers"] == 0.5 and got["accuracy"] == 0.5
    diff = runtimes.differences(other, ref, prompts)
    assert len(diff) == 1 and "2 + 2 = 5" in diff[0] and "expected 4" in diff[0]
    assert runtimes.differences(ref, ref, prompts) == []


def test_table_and_plot_show_what_was_not_measured():
    pytest.importorskip("pandas")
    rows = [Row("a", 1, decode_tok_s=100.0, e2e_tok_s=90.0, ttft_s=0.01, concurrent_tok_s=300.0, lost=0,
                rss_mb=200.0, startup_s=2.0, size_mb=19.5, same_as_transformers=1.0, accuracy=1.0),
            Row("b", 1, e2e_tok_s=50.0, note="in-process")]     # one burst: no decode speed, an end-to-end rate
    df = runtimes.table(rows)
    assert list(df.index) == ["a", "b"] and df.loc["a", "decode tok/s (batch 1)"] == 100.0
    assert list(df.columns) == [v for k, v in runtimes.COLUMNS.items() if k != "engine"]
    assert df.loc["b", "decode tok/s (batch 1)"] == "n/a" and df.loc["b", "end-to-end tok/s (batch 1)"] == 50.0
    assert df.loc["a", "on disk MB"] == 19.5
    assert df.loc["b", "tok/s, 32 concurrent"] == "n/a" and df.loc["b", "note"] == "in-process"
    import matplotlib

    matplotlib.use("Agg")
    fig = runtimes.plot(rows, title="t")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert " n/a" in texts and " 100" in texts


def test_rss_of_a_missing_process_is_nan():
    assert math.isnan(runtimes.rss_mb(2 ** 22 + 12345))
    assert runtimes.rss_mb(__import__("os").getpid()) > 10


# ---------------------------------------------------------------- decode speed from a stream
def test_decode_rate_counts_tokens_over_the_time_they_took():
    steady = [(0.1 + 0.01 * i, 1) for i in range(11)]          # one token every 10 ms
    assert runtimes.decode_rate(steady) == pytest.approx(100)
    bursts = [(0.5, 1), (0.5001, 1), (0.5002, 1), (0.7, 1), (0.7001, 1), (0.9, 1), (0.9001, 1)]
    assert runtimes.decode_rate(bursts) == pytest.approx(4 / 0.4, rel=1e-3)   # the first burst's 3 tokens left out
    # the old formula, (tokens - 1) / (last - first), counts the first burst too: 6 / 0.4 = 15 tokens/s
    assert runtimes.decode_rate([(1.0, 100)]) != runtimes.decode_rate([(1.0, 100)])   # one burst: NaN, not 10,000
    everything_at_once = [(2.0 + 1e-5 * i, 1) for i in range(128)]
    assert math.isnan(runtimes.decode_rate(everything_at_once))
    # one burst read in two pieces, 4 ms apart (the client's process paused between two chunks): not 2,000 tokens/s
    assert math.isnan(runtimes.decode_rate([(3.0, 1)] + [(3.004 + 1e-5 * i, 1) for i in range(9)]))


@pytest.fixture
def bursty():
    from fake_server import FakeEngine

    from labkit.serving import servers

    def start(*args):
        return servers.start(FakeEngine(args), "echo", warmup=False)
    return start


def test_a_stream_in_bursts_is_timed_by_its_bursts(bursty):
    """The fake server sends 'echo: a b c d e f g h i' (10 words) as bursts of 1, 3, 3, 3 words 0.5 s apart
    (gaps long beside a loaded machine's scheduling delays)."""
    messages = [{"role": "user", "content": "a b c d e f g h i"}]
    words = types.SimpleNamespace(encode=lambda text, add_special_tokens=False: text.split())  # a word a token
    with bursty("--bursts", "1,3,3,3", "--burst-gap", "0.5") as server:
        t = runtimes.stream_timing(server, messages, max_tokens=50, tokenizer=words)
    assert t["tokens"] == 10
    assert t["decode_tok_s"] == pytest.approx(9 / 1.5, rel=0.15)      # 9 tokens after the first burst, in 1.5 s
    assert t["ttft_s"] < 1.0   # all tokens over the whole request: the first burst's wait included
    assert t["e2e_tok_s"] == pytest.approx(10 / (1.5 + t["ttft_s"]), rel=0.15)
    with bursty("--bursts", "10", "--burst-gap", "0.2") as server:   # everything in one burst (one write)
        t = runtimes.stream_timing(server, messages, max_tokens=50, tokenizer=words)
    assert math.isnan(t["decode_tok_s"]) and t["tokens"] == 10 and t["e2e_tok_s"] > 0
