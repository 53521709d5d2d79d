"""labkit.family.facts: every record is sourced, dated and consistent with what the sources say."""
from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from labkit import LabError  # noqa: E402
from labkit.family import facts  # noqa: E402


def test_every_record_has_a_source():
    for r in facts.RELEASES:
        assert r.source.strip(), r.name
    for g in facts.GENERATIONS.values():
        assert g.source.strip(), g.key
    assert facts.SAMPLING_SOURCE.strip()


def test_unverified_records_say_why():
    for r in facts.RELEASES:
        if not r.verified:
            assert r.note.strip(), f"{r.name} is unverified without a note"
    for g in facts.GENERATIONS.values():
        if not g.verified:
            assert g.note.strip(), g.key


def test_dates_parse_and_generations_are_chronological():
    dates = [dt.date.fromisoformat(g.released) for g in facts.GENERATIONS.values()]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert list(facts.GENERATIONS)[:6] == ["1.0", "1.5", "2", "2.5", "3", "3-2507"]
    for r in facts.RELEASES:
        assert r.generation in facts.GENERATIONS, r.name
        # no release predates the first release of its generation
        assert r.date >= facts.GENERATIONS[r.generation].date, r.name


def test_releases_are_sorted_and_filtered():
    all_rows = facts.releases()
    assert [r.released for r in all_rows] == sorted(r.released for r in all_rows)
    assert len(all_rows) == len(facts.RELEASES)
    qwen3 = facts.releases("3")
    assert {r.name for r in qwen3} == {f"Qwen3-{s}" for s in
                                        ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "235B-A22B")}
    with pytest.raises(LabError):
        facts.releases("4.0")


def test_kinds_and_active_parameters():
    for r in facts.RELEASES:
        assert r.kind in ("dense", "moe"), r.name
        if r.kind == "moe":
            assert r.active_params_b is not None and r.params_b is not None, r.name
            assert 0 < r.active_params_b < r.params_b, r.name
        else:
            assert r.active_params_b is None, r.name
        if r.context_tokens and r.native_context_tokens:
            assert r.native_context_tokens <= r.context_tokens, r.name


def _one(name: str) -> facts.ModelRelease:
    (r,) = [r for r in facts.RELEASES if r.name == name]
    return r


def test_qwen1_release_table():
    assert _one("Qwen-7B").released == "2023-08-03" and _one("Qwen-7B").training_tokens_t == 2.4
    assert _one("Qwen-14B").context_tokens == 8192 and _one("Qwen-14B").training_tokens_t == 3.0
    assert _one("Qwen-72B").released == "2023-11-30"
    assert "RESEARCH" in _one("Qwen-1.8B").license and "RESEARCH" not in _one("Qwen-72B").license


def test_qwen2_and_qwen25_facts():
    assert {r.name for r in facts.releases("2")} == {"Qwen2-0.5B", "Qwen2-1.5B", "Qwen2-7B",
                                                      "Qwen2-57B-A14B", "Qwen2-72B"}
    assert _one("Qwen2-72B").license != "Apache-2.0" and _one("Qwen2-7B").license == "Apache-2.0"
    q25 = facts.releases("2.5")
    assert len(q25) == 7 and all(r.training_tokens_t == 18.0 for r in q25)
    not_apache = {r.name for r in q25 if r.license != "Apache-2.0"}
    assert not_apache == {"Qwen2.5-3B", "Qwen2.5-72B"}
    assert max(r.context_tokens for r in q25) == 131072


def test_qwen3_facts():
    q3 = facts.releases("3")
    assert all(r.released == "2025-04-29" for r in q3)
    assert all(r.training_tokens_t == 36.0 and r.languages == 119 and r.license == "Apache-2.0" for r in q3)
    assert _one("Qwen3-0.6B").context_tokens == 32768 and _one("Qwen3-1.7B").context_tokens == 32768
    four = _one("Qwen3-4B")
    assert four.native_context_tokens == 32768 and four.context_tokens == 131072
    assert "32K" in four.note and "128K" in four.note        # the disagreement is recorded
    assert _one("Qwen3-30B-A3B").active_params_b == 3.3


def test_benchmark_claims_are_sourced_or_marked():
    assert len([c for c in facts.BENCHMARK_CLAIMS if c.in_seed]) >= 4
    for c in facts.BENCHMARK_CLAIMS:
        assert c.status in ("verified", "differs", "unverified")
        if c.source is None:
            assert c.status == "unverified"
        else:
            assert c.status in ("verified", "differs") and c.official_wording
    texts = " ".join(c.claim for c in facts.BENCHMARK_CLAIMS)
    for needle in ("Qwen3-4B", "QwQ-32B", "10%"):
        assert needle in texts


def test_sampling_presets():
    t, n = facts.SAMPLING["thinking"], facts.SAMPLING["non_thinking"]
    assert (t.temperature, t.top_p, t.top_k, t.min_p) == (0.6, 0.95, 20, 0.0)
    assert (n.temperature, n.top_p, n.top_k, n.min_p) == (0.7, 0.8, 20, 0.0)
    assert facts.PRESENCE_PENALTY_RANGE == (0.0, 2.0)
    kw = t.generate_kwargs()
    assert kw["do_sample"] is True and kw["top_k"] == 20


def test_as_rows_is_a_table():
    import pandas as pd

    df = pd.DataFrame(facts.as_rows())
    assert len(df) == len(facts.RELEASES)
    assert {"generation", "name", "params_b", "source", "verified"} <= set(df.columns)
    assert df["source"].str.len().min() > 0


def test_timeline_plot_returns_a_figure():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = facts.timeline_plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == len(facts.GENERATIONS)
    plt.close(fig)
    fig2, ax2 = plt.subplots()
    assert facts.timeline_plot(ax2) is fig2
    plt.close(fig2)
