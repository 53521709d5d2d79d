"""labkit.checks: verdicts, hints, never a traceback, and the checks of exercises 00 and 01."""
from __future__ import annotations

import pytest

import labkit
from labkit import checks


def test_correct_answer(capsys):
    assert checks.check("answer", 42, 42) is True
    assert capsys.readouterr().out == "✅ answer: correct\n"


def test_wrong_answer_says_expected_seen_hint_and_where(capsys):
    assert checks.check("answer", 41, 42, hint="count again", where="notebook 00, section 3") is False
    out = capsys.readouterr().out
    assert out.startswith("❌ answer: expected 42, got 41.")
    assert "Hint: count again (see notebook 00, section 3)" in out


def test_none_is_not_answered_yet(capsys):
    assert checks.check("answer", None, 42, hint="h") is False
    out = capsys.readouterr().out
    assert "❌ answer: not answered yet" in out and "Hint: h" in out


def test_predicate_and_description(capsys):
    assert checks.check("even", 4, predicate=lambda x: x % 2 == 0, expects="an even number") is True
    assert checks.check("even", 3, predicate=lambda x: x % 2 == 0, expects="an even number") is False
    assert "expected an even number, got 3" in capsys.readouterr().out


def test_errors_inside_a_check_become_hints(capsys):
    assert checks.check("p", "text", predicate=lambda x: x + 1, hint="give an int") is False
    assert checks.check("e", 1, expected=lambda: 1 / 0, hint="h") is False
    out = capsys.readouterr().out
    assert "TypeError" in out and "Hint: give an int" in out
    assert "ZeroDivisionError" in out
    assert "Traceback" not in out


def test_long_answers_are_shortened(capsys):
    checks.check("long", "x" * 1000, "y")
    assert len(capsys.readouterr().out) < 300


def test_exercise_makes_a_registered_one_liner(capsys):
    check_demo = checks.exercise("demo_task", lambda: 6 * 7, hint="multiply")
    assert check_demo.__name__ == "check_demo_task"
    assert checks.REGISTRY["demo_task"] is check_demo
    assert check_demo(42) is True and check_demo(6) is False
    del checks.REGISTRY["demo_task"]


def test_summary_counts_the_latest_verdicts(capsys):
    checks.check("a", 1, 1)
    checks.check("b", 1, 2)
    checks.check("c", 1, 2)
    checks.check("c", 2, 2)  # fixed on a second try
    capsys.readouterr()
    checks.summary()
    out = capsys.readouterr().out
    assert out.startswith("2/3 checks passed in this session")
    assert "❌ b" in out and "❌ c" not in out
    assert checks.results() == {"a": True, "b": False, "c": True}


# ---------------------------------------------------------------- exercise 00
@pytest.fixture(scope="module")
def tok():
    return labkit.load_tokenizer("qwen3")


def test_exercise_00_checks_are_registered():
    for name in ("auto_tokenizer", "think_end_id", "n_tokens", "no_think_prompt", "bf16_weights_gb"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


@pytest.mark.model
def test_exercise_00_right_answers_pass(tok):
    import torch
    from transformers import AutoTokenizer

    assert checks.check_auto_tokenizer(AutoTokenizer.from_pretrained(labkit.nano_path())) is True
    assert checks.check_auto_tokenizer(tok) is True          # the rebuilt tokenizer is a right answer too
    assert checks.check_think_end_id(tok.convert_tokens_to_ids("</think>")) is True
    assert checks.check_n_tokens(len(tok.encode(checks.SENTENCE_00))) is True
    prompt = tok.apply_chat_template(checks.CHAT_00, tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    assert prompt.endswith(checks.EMPTY_THINK)
    assert checks.check_no_think_prompt(prompt) is True
    size = torch.empty(0, dtype=torch.bfloat16).element_size()
    assert checks.check_bf16_weights_gb(checks.N_PARAMS_00 * size / 1e9) is True
    assert checks.check_bf16_weights_gb(int(checks.N_PARAMS_00 * 2 / 1e9)) is True   # an int is a number too


@pytest.mark.model
def test_exercise_00_wrong_answers_fail(tok, capsys):
    assert checks.check_auto_tokenizer("Qwen/Qwen3-0.6B") is False                  # the id, not the tokenizer
    assert checks.check_auto_tokenizer(labkit.load_tokenizer("qwen2.5")) is False   # no <think> in Qwen2.5
    assert checks.check_think_end_id(tok.convert_tokens_to_ids("<think>")) is False
    assert checks.check_n_tokens(len(checks.SENTENCE_00.split())) is False
    thinking_on = tok.apply_chat_template(checks.CHAT_00, tokenize=False, add_generation_prompt=True)
    assert checks.check_no_think_prompt(thinking_on) is False
    assert checks.check_no_think_prompt(tok.apply_chat_template(checks.CHAT_00, add_generation_prompt=True,
                                                                enable_thinking=False)) is False  # ids
    assert checks.check_bf16_weights_gb(checks.N_PARAMS_00 * 4 / 1e9) is False       # float32
    assert checks.check_bf16_weights_gb(checks.N_PARAMS_00 * 2 / 2**30) is False     # GiB, not GB
    out = capsys.readouterr().out
    assert out.count("❌") == 8 and "notebook 00" in out


# ---------------------------------------------------------------- exercise 01
def test_exercise_01_checks_are_registered():
    for name in ("non_embedding_params", "kv_cache_gb", "largest_t4_model", "tokens_per_char"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


def _meta_model(name):
    """The learner's code: the config from the cited fields, the model on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from labkit.family import architectures as A

    config = AutoConfig.for_model(A.spec(name).model_type, **A.spec(name).kwargs())
    with torch.device("meta"):
        return config, AutoModelForCausalLM.from_config(config)


def test_exercise_01_answers_written_with_transformers_pass(capsys):
    config, model = _meta_model(checks.MODEL_01)
    total = sum(p.numel() for p in model.parameters())
    assert checks.check_non_embedding_params(total - model.get_input_embeddings().weight.numel()) is True
    assert checks.check_non_embedding_params(total) is False                          # the embedding kept

    config_8b, _ = _meta_model("Qwen3-8B")
    per_token = 2 * config_8b.num_hidden_layers * config_8b.num_key_value_heads * config_8b.head_dim
    assert checks.check_kv_cache_gb(per_token * 32768 * 2 / 1e9) is True
    assert checks.check_kv_cache_gb(per_token * 32768 * 2 / 2**30) is False          # GiB, not GB
    heads = 2 * config_8b.num_hidden_layers * config_8b.num_attention_heads * config_8b.head_dim
    assert checks.check_kv_cache_gb(heads * 32768 * 2 / 1e9) is False                # attention heads, not KV heads
    out = capsys.readouterr().out
    assert out.count("✅") == 2 and out.count("❌") == 3 and "notebook 01" in out


@pytest.mark.model
def test_exercise_01_largest_t4_model_written_with_transformers_passes(capsys):
    """Six meta builds and the check's own count: seconds, so in the model tier."""
    largest = None
    for name in checks.QWEN3_DENSE_01:
        config, model = _meta_model(name)
        weights = 2 * sum(p.numel() for p in model.parameters()) / 1e9
        kv = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 8192 * 2 / 1e9
        if weights + kv + 1.0 <= 16:
            largest = name
    assert checks.check_largest_t4_model(largest) is True
    assert checks.check_largest_t4_model("Qwen3-8B") is False
    out = capsys.readouterr().out
    assert out.count("✅") == 1 and out.count("❌") == 1 and "notebook 01" in out


@pytest.mark.model
def test_exercise_01_tokens_per_char_accepts_the_autotokenizer_answer(capsys):
    from transformers import AutoTokenizer

    from labkit.family.tokens import COURSE_TEXTS

    text = COURSE_TEXTS[checks.LANGUAGE_01]
    tokenizer = AutoTokenizer.from_pretrained(labkit.nano_path())
    assert checks.check_tokens_per_char(len(tokenizer.encode(text)) / len(text)) is True
    assert checks.check_tokens_per_char(100 * len(tokenizer.encode(text)) / len(text)) is False  # a percentage
    assert checks.check_tokens_per_char(len(text) / len(tokenizer.encode(text))) is False        # inverted


@pytest.mark.model
def test_second_turn_expects_the_active_models_own_first_answer(capsys):
    """The key is computed from the active profile's model, so the solution passes under offline and hub."""
    model, tok = checks.grader.course_model()
    first = labkit.chat(model, tok, [{"role": "user", "content": checks.FIRST_03}], thinking=True, do_sample=False)

    def history(content):
        return [{"role": "user", "content": checks.FIRST_03}, {"role": "assistant", "content": content},
                {"role": "user", "content": checks.SECOND_03}]

    assert checks.check_second_turn(history(first.answer))
    assert not checks.check_second_turn(history(first.thinking))
    assert not checks.check_second_turn(history(first.answer + " "))
    assert not checks.check_second_turn(history(first.text))   # the reasoning and its tags kept
    out = capsys.readouterr().out
    assert out.count("✅") == 1 and "after the last </think>" in out
