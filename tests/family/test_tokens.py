"""labkit.family.tokens: counts by hand, the seed texts, and what the two Qwen tokenizers measure."""
from __future__ import annotations

import hashlib
import unicodedata

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from labkit import LabError  # noqa: E402
from labkit.family import tokens as T  # noqa: E402
from labkit.family.seed_texts import SEED_EXCERPTS, SEED_FILES, SEED_SHA256  # noqa: E402

import seed_excerpts  # noqa: E402  (tools/)

NON_LATIN_SEED = ("he", "uk", "bg", "fa")


@pytest.fixture(scope="module")
def qwen3():
    return T._tokenizer("qwen3")


@pytest.fixture(scope="module")
def seed_rows():
    return T.token_efficiency(SEED_EXCERPTS, corpus="seed")


@pytest.mark.model
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


@pytest.mark.model
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


def test_stored_excerpts_have_the_sha256_recorded_at_extraction():
    # The seed files are not in the clone; tools/seed_excerpts.py --check DIR re-extracts the
    # excerpts from them.  These digests were recorded by that extraction: an edit fails here.
    assert set(SEED_SHA256) == {code for code, name in SEED_FILES.items() if name} == set(SEED_EXCERPTS) - {"en"}
    for code, digest in SEED_SHA256.items():
        assert hashlib.sha256(SEED_EXCERPTS[code].encode("utf-8")).hexdigest() == digest, code
    assert seed_excerpts.stored_problems() == []


def _seed_file(code: str, excerpt: str) -> str:
    """A seed file as the translations are laid out: metadata, title, a resources section, then
    the passage under five level-2 headings (its first line and the next single-line paragraphs)
    and the chapter's next section."""
    blocks = excerpt.split("\n\n")
    heads = [0] + [i for i, b in enumerate(blocks) if i and "\n" not in b][:4]
    body = "\n\n".join(("## " if i in heads else "") + b for i, b in enumerate(blocks))
    meta = f'{{"source_file": "Module02/02.QwenFamily.md", "language_code": "{code}"}}'
    return (f"<!--\nCO_OP_TRANSLATOR_METADATA:\n{meta}\n-->\n# Section 2\n\n## Resources\n\n"
            f"- [Hub](https://huggingface.co)\n\n{body}\n\n## Next\n\n### Sub\n\n- **item**\n```python\nx = 1\n```\n")


@pytest.fixture
def seed_folder(tmp_path):
    """A folder of seed files holding the stored excerpts, and the SHA-256 of each file."""
    digests = {}
    for code, name in SEED_FILES.items():
        if name:
            path = tmp_path / name
            path.write_text(_seed_file(code, SEED_EXCERPTS[code]), encoding="utf-8")
            digests[code] = seed_excerpts.sha256(path.read_bytes())
    return tmp_path, digests


def test_seed_excerpts_check_accepts_the_files_the_excerpts_come_from(seed_folder):
    folder, digests = seed_folder
    assert seed_excerpts.check(folder, digests) == []
    # the recorded digests are those of the real seed files, not of this stand-in folder
    assert len([p for p in seed_excerpts.check(folder) if "is not the file" in p]) == 5


def test_seed_excerpts_check_finds_an_edited_or_misplaced_file(seed_folder, capsys):
    folder, digests = seed_folder
    path = folder / SEED_FILES["uk"]
    path.write_text(path.read_text(encoding="utf-8").replace("Alibaba", "Alibaba Cloud", 1), encoding="utf-8")
    edited = seed_excerpts.sha256(path.read_bytes())
    problems = seed_excerpts.check(folder, digests)
    assert problems == [f"uk: {SEED_FILES['uk']} is not the file the excerpt was extracted from "
                        f"(SHA-256 {edited[:12]}…, recorded {digests['uk'][:12]}…)",
                        f"uk: a fresh extraction from {SEED_FILES['uk']} differs from SEED_EXCERPTS['uk']"]
    (folder / SEED_FILES["fa"]).rename(folder / "999_persian.txt")
    assert "fa: extracted from 999_persian.txt, SEED_FILES says " + SEED_FILES["fa"] in seed_excerpts.check(folder)
    (folder / SEED_FILES["bg"]).unlink()
    assert any(p.startswith("languages found:") for p in seed_excerpts.check(folder))
    assert seed_excerpts.main(["--check", str(folder / "missing")]) == 1
    assert "FAIL: no seed files (*.txt)" in capsys.readouterr().out


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
