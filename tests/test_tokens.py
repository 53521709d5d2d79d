"""labkit.tokens: counts by hand, the seed texts, and what the two Qwen tokenizers measure."""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from labkit import LabError  # noqa: E402
from labkit import tokens as T  # noqa: E402
from labkit.seed_texts import SEED_EXCERPTS, SEED_FILES  # noqa: E402

SEEDS = Path(os.environ.get("QWEN_LABS_SEEDS", Path(__file__).resolve().parents[2] / "shared" / "seeds"))
NON_LATIN_SEED = ("he", "uk", "bg", "fa")


@pytest.fixture(scope="module")
def qwen3():
    return T._tokenizer("qwen3")


@pytest.fixture(scope="module")
def seed_rows():
    return T.token_efficiency(SEED_EXCERPTS, corpus="seed")


def test_hand_counted_string(qwen3):
    # "Hello world" -> ["Hello", " world"]: 2 tokens, 11 characters, 2 words
    assert qwen3.tokenize("Hello world") == ["Hello", "Ġworld"]
    m = T.measure("Hello world", qwen3)
    assert (m["tokens"], m["characters"], m["words"], m["utf8_bytes"]) == (2, 11, 2, 11)
    assert m["tokens_per_char"] == pytest.approx(2 / 11)
    assert m["chars_per_token"] == pytest.approx(5.5)
    assert m["tokens_per_word"] == pytest.approx(1.0)


def test_digits_are_single_tokens_and_bytes_count_utf8(qwen3):
    m = T.measure("2025", qwen3)
    assert m["tokens"] == 4 and m["characters"] == 4          # Qwen splits digits one by one
    assert T.measure("Привет", qwen3)["utf8_bytes"] == 12     # 6 Cyrillic letters x 2 bytes


def test_words_are_none_for_languages_without_spaces(qwen3):
    assert T.measure(T.COURSE_TEXTS["zh"], qwen3, "zh")["words"] is None
    assert T.measure(T.COURSE_TEXTS["zh"], qwen3, "zh")["tokens_per_word"] is None
    assert T.measure(T.COURSE_TEXTS["ru"], qwen3, "ru")["words"] == len(T.COURSE_TEXTS["ru"].split())


def test_rows_have_every_field_and_english_is_the_reference(seed_rows):
    assert {(r["language"], r["family"]) for r in seed_rows} == {
        (lang, fam) for lang in SEED_EXCERPTS for fam in T.FAMILIES}
    for r in seed_rows:
        assert r["tokens"] > 0 and r["tokens_per_char"] == pytest.approx(r["tokens"] / r["characters"])
        if r["language"] == "en":
            assert r["vs_english"] == 1.0


def test_qwen35_needs_fewer_tokens_on_most_non_latin_seed_texts(seed_rows):
    ratio = T.compare_families(seed_rows)          # qwen3.5 tokens / qwen3 tokens
    fewer = [lang for lang in NON_LATIN_SEED if ratio[lang] < 1]
    assert {"uk", "bg", "fa"} <= set(fewer)
    assert ratio["fa"] < 0.7                        # Persian: about 40% fewer tokens


def test_hebrew_costs_more_with_qwen35(seed_rows):
    # Measured, and surprising: the bigger vocabulary has fewer Hebrew merges.
    assert T.compare_families(seed_rows)["he"] > 1.1


def test_every_seed_language_costs_more_than_english(seed_rows):
    for r in seed_rows:
        if r["language"] != "en":
            assert r["vs_english"] > 1.5, r


def test_course_texts_are_parallel_nfc_and_detected():
    assert set(T.COURSE_TEXTS) >= {"en", "zh", "ja", "hi", "ar", "ru", "es"}
    for code, text in T.COURSE_TEXTS.items():
        assert unicodedata.normalize("NFC", text) == text, code
        assert T.detect_language(text) == code, code
        assert text.count(".") + text.count("。") + text.count("।") >= 2, code   # three sentences


def test_seed_excerpts_detected_by_script():
    for code, text in SEED_EXCERPTS.items():
        assert T.detect_language(text) == code


def test_detect_language_tells_close_languages_apart():
    assert T.detect_language("Привіт, як справи? Це її пісня.") == "uk"
    assert T.detect_language("Здравейте, това е българският език, който пишем.") == "bg"
    assert T.detect_language("Это русский язык, мы пишем тексты.") == "ru"
    assert T.detect_language("کتاب‌های فارسی را می‌خوانیم و یاد می‌گیریم") == "fa"
    assert T.detect_language("نقرأ الكتب العربية في المكتبة الكبيرة") == "ar"


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed files not available at {SEEDS}")
def test_stored_excerpts_equal_a_fresh_extraction_from_the_seed_files():
    seeds = T.read_seeds(SEEDS)
    assert set(seeds) == set(SEED_EXCERPTS) - {"en"}
    for code, entry in seeds.items():
        assert entry["declared"] == code                  # metadata and script agree
        assert entry["file"] == SEED_FILES[code]
        assert entry["prose"] == SEED_EXCERPTS[code], code


def test_seed_prose_strips_markup():
    md = ("<!-- meta -->\n# Title\n\n## A\n\nSome **bold** [link](https://x.y) text.\n\n```python\ncode()\n```\n"
          "- item one\n| a | b |\n\n## B\n\nSecond https://example.com part\n")
    assert T.seed_prose(md, (0, 1)) == "A\n\nSome bold link text.\n\nitem one"
    assert "code()" not in T.seed_prose(md) and "Second  part" in T.seed_prose(md)
    with pytest.raises(LabError):
        T.seed_prose(md, (0, 5))


def test_bad_input_raises_laberror_with_a_fix(qwen3):
    with pytest.raises(LabError, match="How to fix"):
        T.token_efficiency({})
    with pytest.raises(LabError, match="unknown tokenizer family"):
        T.token_efficiency({"en": "hi"}, families=("gpt2",))
    with pytest.raises(LabError):
        T.measure("   ", qwen3)


def test_efficiency_plot_has_one_bar_per_language_and_family(seed_rows):
    fig = T.efficiency_plot(seed_rows, "tokens_per_char")
    bars = fig.axes[0].patches
    assert len(bars) == len(SEED_EXCERPTS) * len(T.FAMILIES)
    with pytest.raises(LabError, match="no field"):
        T.efficiency_plot(seed_rows, "quality")
