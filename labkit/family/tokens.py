"""How many tokens a language costs: measured with the real Qwen tokenizers, never quoted.

:func:`token_efficiency` encodes texts with the Qwen3 tokenizer (the 151,643-rank BPE shared
by Qwen 1 to Qwen3) and the Qwen3.5/3.6 tokenizer (248,044 ranks) and returns, per text and
tokenizer, the counts and the ratios a learner compares: tokens per character, tokens per
word, characters per token and, for parallel texts, tokens relative to English.
:func:`efficiency_plot` draws them as grouped bars.

Two sets of texts come with the module:

* :data:`COURSE_TEXTS`: the same three sentences in eleven languages, written for this
  course (our own text and our own translations, not taken from anywhere).
* :data:`labkit.family.seed_texts.SEED_EXCERPTS`: one passage of the course's source chapter in
  its five translations (Hebrew, Ukrainian, Estonian, Bulgarian, Persian), plus the course's
  own English rendering of the same passage.  :func:`seed_prose` is the extraction that
  produced them from the seed files; :func:`detect_language` tells the files apart by script.
  :data:`PASSAGE` is the same dict under the name notebook 01 imports.

Definitions (they decide the numbers, so they are spelled out):

* ``characters``: Unicode code points after NFC normalisation (what the Qwen tokenizers
  normalise to), spaces and punctuation included.
* ``words``: whitespace-separated pieces.  Chinese and Japanese do not separate words with
  spaces, so their ``words`` and ``tokens_per_word`` are ``None`` rather than a misleading
  number.
* ``tokens``: ``len(tokenizer.encode(text, add_special_tokens=False))``.
* ``utf8_bytes``: the text's UTF-8 length.  Byte-level BPE starts from bytes, so a script that
  needs 2-3 bytes per character (Cyrillic, Hebrew, Arabic, Devanagari, CJK) starts 2-3x behind
  Latin script and only catches up where the vocabulary learned its words.

A token count measures *cost* (context used, money, time per request), not quality.  More
tokens for the same content means less text fits in the context window and every request is
slower and dearer; it does not say how well the model understands the language.

Used in notebook 01.
"""
from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from labkit import tokenizer
from labkit.errors import LabError
from labkit.family.seed_texts import PASSAGE  # noqa: F401 (re-exported: the lesson's name for the passage)
from labkit.tokenizer import load_tokenizer

FAMILIES = ("qwen3", "qwen3.5")

LANGUAGES: dict[str, str] = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "hi": "Hindi",
    "ar": "Arabic", "ru": "Russian", "es": "Spanish", "de": "German", "fr": "French",
    "tr": "Turkish", "he": "Hebrew", "uk": "Ukrainian", "et": "Estonian", "bg": "Bulgarian",
    "fa": "Persian",
}
NO_SPACES = frozenset({"zh", "ja"})   # scripts written without spaces between words

# The course's own parallel text: written for qwen-labs in English and translated by the
# course authors (not copied from any source).  Same three sentences in every language.
COURSE_TEXTS: dict[str, str] = {
    "en": ("Open models can be downloaded, studied and run on your own computer. "
           "A small model answers quickly on a laptop, while a large one needs a powerful GPU. "
           "Choose the smallest model that does the job well."),
    "zh": ("开放模型可以下载、研究，并在你自己的电脑上运行。"
           "小模型在笔记本电脑上回答得很快，而大模型需要一块强大的GPU。"
           "请选择能把工作做好的最小模型。"),
    "ja": ("オープンモデルはダウンロードして調べ、自分のコンピューターで動かすことができます。"
           "小さなモデルはノートパソコンでもすぐに答えますが、大きなモデルには強力なGPUが必要です。"
           "仕事を十分にこなせる、いちばん小さなモデルを選びましょう。"),
    "ko": ("오픈 모델은 내려받아 살펴보고 자신의 컴퓨터에서 실행할 수 있습니다. "
           "작은 모델은 노트북에서도 빠르게 답하지만, 큰 모델에는 강력한 GPU가 필요합니다. "
           "일을 잘 해내는 가장 작은 모델을 고르세요."),
    "hi": ("ओपन मॉडल डाउनलोड किए जा सकते हैं, उनका अध्ययन किया जा सकता है और उन्हें अपने कंप्यूटर पर चलाया जा सकता है। "
           "छोटा मॉडल लैपटॉप पर जल्दी जवाब देता है, जबकि बड़े मॉडल को एक शक्तिशाली GPU की ज़रूरत होती है। "
           "वह सबसे छोटा मॉडल चुनें जो काम अच्छी तरह कर दे।"),
    "ar": ("يمكن تنزيل النماذج المفتوحة ودراستها وتشغيلها على حاسوبك الخاص. "
           "يجيب النموذج الصغير بسرعة على الحاسوب المحمول، بينما يحتاج النموذج الكبير إلى GPU قوية. "
           "اختر أصغر نموذج يؤدي المهمة جيدًا."),
    "ru": ("Открытые модели можно скачать, изучить и запустить на своём компьютере. "
           "Маленькая модель быстро отвечает на ноутбуке, а большой нужен мощный GPU. "
           "Выбирайте самую маленькую модель, которая хорошо справляется с задачей."),
    "es": ("Los modelos abiertos se pueden descargar, estudiar y ejecutar en tu propio ordenador. "
           "Un modelo pequeño responde rápido en un portátil, mientras que uno grande necesita una GPU potente. "
           "Elige el modelo más pequeño que haga bien el trabajo."),
    "de": ("Offene Modelle kann man herunterladen, untersuchen und auf dem eigenen Computer ausführen. "
           "Ein kleines Modell antwortet auf einem Laptop schnell, ein großes braucht dagegen eine starke GPU. "
           "Wähle das kleinste Modell, das die Aufgabe gut erledigt."),
    "tr": ("Açık modeller indirilebilir, incelenebilir ve kendi bilgisayarınızda çalıştırılabilir. "
           "Küçük bir model dizüstü bilgisayarda hızlı yanıt verir, büyük bir model ise güçlü bir GPU ister. "
           "İşi iyi yapan en küçük modeli seçin."),
    "et": ("Avatud mudeleid saab alla laadida, uurida ja oma arvutis käivitada. "
           "Väike mudel vastab sülearvutis kiiresti, suur vajab aga võimsat GPU-d. "
           "Vali kõige väiksem mudel, mis tööga hästi hakkama saab."),
}
COURSE_TEXTS_SOURCE = ("qwen-labs course text: three sentences written for the course in English and "
                       "translated by the course authors (labkit/family/tokens.py COURSE_TEXTS)")


# ------------------------------------------------------------------------------ measuring
@lru_cache(maxsize=None)
def _tokenizer(family: str) -> Any:
    return load_tokenizer(family)


def language_name(code: str) -> str:
    """``"uk"`` -> ``"Ukrainian"``; unknown codes are returned unchanged."""
    return LANGUAGES.get(code, code)


def count_words(text: str, language: str | None = None) -> int | None:
    """Whitespace-separated words, or ``None`` for Chinese/Japanese (no spaces between words)."""
    lang = language
    if lang not in LANGUAGES:
        try:
            lang = detect_language(text)
        except LabError:        # no letters at all (digits, symbols): count whitespace pieces
            lang = None
    if lang in NO_SPACES:
        return None
    return len(text.split())


def measure(text: str, tokenizer: Any, language: str | None = None) -> dict[str, Any]:
    """Counts and ratios of one text under one tokenizer (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise LabError("the text to measure is empty (or not a str)",
                       "pass a non-empty string, e.g. labkit.family.tokens.COURSE_TEXTS['en']")
    norm = unicodedata.normalize("NFC", text)
    tokens = len(tokenizer.encode(norm, add_special_tokens=False))
    chars = len(norm)
    words = count_words(norm, language)
    return {
        "tokens": tokens,
        "characters": chars,
        "words": words,
        "utf8_bytes": len(norm.encode("utf-8")),
        "tokens_per_char": tokens / chars,
        "tokens_per_word": None if not words else tokens / words,
        "chars_per_token": chars / tokens if tokens else float("inf"),
    }


def token_efficiency(texts: dict[str, str], families: Iterable[str] = FAMILIES,
                     corpus: str = "") -> list[dict[str, Any]]:
    """Measure every text with every tokenizer family; one row per (language, family).

    ``texts`` maps a language code (``"en"``, ``"uk"``, ...; see :data:`LANGUAGES`) to a text.
    Rows hold ``language``, ``language_name``, ``family``, ``corpus`` and the fields of
    :func:`measure`.  When the texts include ``"en"``, each row also gets ``vs_english``: its
    token count divided by the English text's under the same tokenizer, meaningful only when
    the texts are translations of each other (as :data:`COURSE_TEXTS` and the seed excerpts are).
    """
    if not isinstance(texts, dict) or not texts:
        raise LabError("token_efficiency needs a non-empty dict {language code: text}",
                       "e.g. token_efficiency(labkit.family.tokens.COURSE_TEXTS)")
    families = tuple(families)

    for fam in families:
        if fam not in tokenizer.FAMILIES:
            raise LabError(f"unknown tokenizer family {fam!r}", f"use some of {', '.join(tokenizer.FAMILIES)}")
    rows: list[dict[str, Any]] = []
    for fam in families:
        tok = _tokenizer(fam)
        english = measure(texts["en"], tok, "en")["tokens"] if "en" in texts else None
        for lang, text in texts.items():
            row = {"language": lang, "language_name": language_name(lang), "family": fam,
                   "corpus": corpus, **measure(text, tok, lang)}
            if english:
                row["vs_english"] = row["tokens"] / english
            rows.append(row)
    return rows


def compare_families(rows: list[dict[str, Any]], metric: str = "tokens",
                     old: str = "qwen3", new: str = "qwen3.5") -> dict[str, float]:
    """``{language: metric(new) / metric(old)}``: below 1 means the newer tokenizer needs fewer."""
    by = {(r["language"], r["family"]): r[metric] for r in rows}
    return {lang: by[(lang, new)] / by[(lang, old)] for (lang, fam) in by
            if fam == old and (lang, new) in by and by[(lang, old)]}


def efficiency_plot(rows: list[dict[str, Any]], metric: str = "tokens_per_char", ax: Any = None,
                    title: str | None = None) -> Any:
    """Grouped bars: one group per language (in row order), one bar per tokenizer family.

    ``metric`` is any numeric field of the rows (``tokens_per_char``, ``chars_per_token``,
    ``tokens_per_word``, ``vs_english``, ``tokens``).  Missing values (``None``) are left out.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise LabError("no rows to plot", "pass the list token_efficiency() returned")
    if metric not in rows[0]:
        numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        raise LabError(f"the rows have no field {metric!r}", f"use one of {', '.join(numeric)}")
    langs = list(dict.fromkeys(r["language"] for r in rows))
    fams = list(dict.fromkeys(r["family"] for r in rows))
    value = {(r["language"], r["family"]): r.get(metric) for r in rows}
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * len(langs) + 2), 4.2))
    else:
        fig = ax.figure
    width = 0.8 / len(fams)
    for i, fam in enumerate(fams):
        xs = [x + (i - (len(fams) - 1) / 2) * width for x in range(len(langs))]
        ys = [value.get((lang, fam)) for lang in langs]
        keep = [(x, y) for x, y in zip(xs, ys) if y is not None]
        ax.bar([x for x, _ in keep], [y for _, y in keep], width, label=fam)
    ax.set_xticks(range(len(langs)), [language_name(code) for code in langs], rotation=30, ha="right")
    ax.set_ylabel(metric.replace("_", " "))
    if metric == "vs_english":
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_title(title or f"{metric.replace('_', ' ')} by language and tokenizer (measured)")
    ax.legend(title="tokenizer")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ the seed files
_SCRIPTS = (  # (language or script key, first code point, last code point)
    ("hebrew", 0x0590, 0x05FF), ("arabic", 0x0600, 0x06FF), ("arabic", 0x0750, 0x077F),
    ("cyrillic", 0x0400, 0x04FF), ("devanagari", 0x0900, 0x097F), ("hangul", 0xAC00, 0xD7AF),
    ("kana", 0x3040, 0x30FF), ("han", 0x4E00, 0x9FFF),
)


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        cp = ord(ch)
        key = None
        for name, lo, hi in _SCRIPTS:
            if lo <= cp <= hi:
                key = name
                break
        if key is None and ch.isalpha() and cp < 0x0250:
            key = "latin"
        if key:
            counts[key] = counts.get(key, 0) + 1
    return counts


def detect_language(text: str) -> str:
    """A language code for ``text``, from its script and a few letters only one language uses.

    Knows the languages of :data:`LANGUAGES` (the seed's five, the course texts' eleven).
    Rules: the script with most letters decides; then Persian vs Arabic by the letters
    پ چ ژ گ and Persian yeh/keheh (ی ک); Ukrainian vs Bulgarian vs Russian by і ї є ґ (Ukrainian),
    ы э ё (Russian) and ъ (Bulgarian, also Russian but rare there); Japanese when kana occur
    among Han; Latin-script languages by their own letters (õ Estonian, ñ ¿ ¡ Spanish, ß German,
    ğ ş ı Turkish, ...), English otherwise.  A heuristic for telling known texts apart, not a
    general language identifier.
    """
    counts = _script_counts(text)
    if not counts:
        raise LabError("no letters to detect a language from", "pass a text with words in it")
    script = max(counts, key=counts.get)
    if script in ("han", "kana"):
        return "ja" if counts.get("kana", 0) > 0 else "zh"
    if script == "hebrew":
        return "he"
    if script == "hangul":
        return "ko"
    if script == "devanagari":
        return "hi"
    if script == "arabic":
        persian = sum(text.count(c) for c in "پچژگیک")
        arabic = sum(text.count(c) for c in "ةيكى")   # teh marbuta, Arabic yeh/kaf, alef maksura
        return "fa" if persian > arabic else "ar"
    if script == "cyrillic":
        low = text.lower()
        uk = sum(low.count(c) for c in "іїєґ")
        ru = sum(low.count(c) for c in "ыэё")
        if uk > max(ru, 0) and uk >= 3:
            return "uk"
        if ru > 0 and ru >= low.count("ъ") / 4:
            return "ru"
        return "bg"
    low = text.lower()
    scores = {
        "et": sum(low.count(c) for c in "õ") * 3 + sum(low.count(c) for c in "äöü"),
        "es": sum(low.count(c) for c in "ñ¿¡") * 3 + sum(low.count(c) for c in "áéíóú"),
        "de": low.count("ß") * 3 + sum(low.count(c) for c in "äöü"),
        "tr": sum(low.count(c) for c in "ğşı") * 3 + sum(low.count(c) for c in "çöü"),
        "fr": sum(low.count(c) for c in "èêàçœ") * 2,
    }
    best = max(scores, key=scores.get)
    return best if scores[best] >= 2 else "en"


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_H2 = re.compile(r"^## (?!#)", re.M)


def seed_metadata(markdown: str) -> dict[str, str]:
    """The ``CO_OP_TRANSLATOR_METADATA`` fields at the top of a seed file (empty when absent)."""

    m = re.search(r"CO_OP_TRANSLATOR_METADATA:\s*(\{.*?\})", markdown, re.S)
    return json.loads(m.group(1)) if m else {}


def seed_prose(markdown: str, sections: tuple[int, int] | None = None) -> str:
    """The prose of a seed file: no metadata comment, code blocks, tables, links or markup.

    ``sections=(i, j)`` keeps the text from the ``i``-th to before the ``j``-th level-2
    heading (``## ``; counted from 0); ``None`` keeps the whole file.  Headings keep their
    words (without ``#``), list items lose their markers, ``**bold**`` and `` `code` `` lose
    their marks, ``[text](url)`` keeps ``text``, bare URLs go.
    """
    text = _COMMENT.sub("", markdown)
    text = _FENCE.sub("", text)
    if sections is not None:
        starts = [m.start() for m in _H2.finditer(text)] + [len(text)]
        i, j = sections
        if not 0 <= i < j < len(starts):
            raise LabError(f"sections {sections} out of range: the text has {len(starts) - 1} '## ' headings",
                           "pick 0 <= i < j <= number of headings")
        text = text[starts[i]:starts[j]]
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|") or s == "---":
            continue
        s = re.sub(r"^#+\s*", "", s)
        s = re.sub(r"^([-*]|\d+\.)\s+", "", s)
        s = _LINK.sub(r"\1", s)
        s = _URL.sub("", s)
        s = s.replace("**", "").replace("`", "").strip()
        lines.append(s)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# The passage of the seed chapter used for the measurements: from its 'Introduction' to the
# end of 'Qwen design principles' (level-2 headings 1 to 6 of every translation).
SEED_SECTIONS = (1, 6)


def read_seeds(directory: str | Path, sections: tuple[int, int] | None = SEED_SECTIONS
               ) -> dict[str, dict[str, str]]:
    """Read every ``*.txt`` seed file in ``directory``; key them by detected language.

    Returns ``{code: {"file", "declared", "detected", "prose"}}`` where ``declared`` is the
    ``language_code`` of the file's metadata (may be empty) and ``detected`` what
    :func:`detect_language` says about its prose.  Raises :class:`LabError` when the two
    disagree or two files share a language.
    """
    directory = Path(directory)
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise LabError(f"no seed files (*.txt) in {directory}", "point at the folder holding the seed chapter")
    out: dict[str, dict[str, str]] = {}
    for f in files:
        raw = f.read_text(encoding="utf-8")
        prose = seed_prose(raw, sections)
        detected = detect_language(prose)
        declared = seed_metadata(raw).get("language_code", "")
        if declared and declared != detected:
            raise LabError(f"{f.name}: metadata says {declared!r}, the text looks like {detected!r}",
                           "check the file; detect_language() may need a new rule")
        if detected in out:
            raise LabError(f"{f.name} and {out[detected]['file']} are both {language_name(detected)}")
        out[detected] = {"file": f.name, "declared": declared, "detected": detected, "prose": prose}
    return out
