"""labkit.checks.ex12_current_generation: right answers pass whichever way they are computed, wrong ones fail with a
hint, nothing raises."""
from __future__ import annotations

import pytest

from labkit import checks
from labkit.checks import ex12_current_generation as ex12


def test_the_checks_are_registered():
    for name in ("hybrid_cache_gb", "image_tokens", "prompt_by_size"):
        assert name in checks.REGISTRY and hasattr(checks, f"check_{name}")


def test_the_hybrid_cache_from_the_config_fields_passes(capsys):
    from transformers import AutoConfig

    from labkit.family import architectures as A

    c = AutoConfig.for_model("qwen3_5_text", **A.spec(ex12.MODEL_12).kwargs())
    full, linear = c.layer_types.count("full_attention"), c.layer_types.count("linear_attention")
    kv = 2 * full * c.num_key_value_heads * c.head_dim * ex12.CONTEXT_12 * 2
    state = c.linear_num_value_heads * c.linear_key_head_dim * c.linear_value_head_dim * 4 + (
        2 * c.linear_num_key_heads * c.linear_key_head_dim + c.linear_num_value_heads * c.linear_value_head_dim) * (
        c.linear_conv_kernel_dim - 1) * 2
    assert (full, linear) == (6, 18)
    assert checks.check_hybrid_cache_gb((kv + linear * state) / 1e9) is True
    # every layer counted as attention (Qwen3's formula), or the state forgotten: both wrong
    assert checks.check_hybrid_cache_gb(2 * 24 * c.num_key_value_heads * c.head_dim * ex12.CONTEXT_12 * 2 / 1e9) is False
    assert checks.check_hybrid_cache_gb(kv / 1e9 - 0.01) is False
    assert checks.check_hybrid_cache_gb("0.42") is False
    assert "Hint:" in capsys.readouterr().out


@pytest.mark.model
def test_image_tokens_measured_with_the_processor_pass(capsys):
    from PIL import Image

    import labkit

    processor = labkit.load_processor(labkit.nano_path("qwen3.5"))
    grid = processor.image_processor(images=[Image.new("RGB", ex12.IMAGE_SIZE_12, "white")],
                                     return_tensors="pt")["image_grid_thw"][0]
    assert checks.check_image_tokens(int(grid.prod()) // 4) is True
    w, h = ex12.IMAGE_SIZE_12
    assert checks.check_image_tokens((w // 32) * (h // 32)) is False        # floored instead of rounded: 31 x 21
    assert checks.check_image_tokens(int(grid.prod())) is False             # patches, not merged tokens
    assert "Hint:" in capsys.readouterr().out


def test_the_prompt_by_size_checks_every_size_and_the_default(capsys):
    from labkit.family.tokens import _tokenizer
    from labkit.tokenizer import chat_template

    tok = _tokenizer("qwen3.5")

    def right(size_b, messages, thinking=None):
        template = chat_template("qwen3_5_nothink.jinja" if size_b <= 2 else "qwen3_5_think.jinja")
        kw = {} if thinking is None else {"enable_thinking": thinking}
        return tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True,
                                       **kw)

    def one_template(size_b, messages, thinking=None):           # ignores the size
        return right(0.8, messages, thinking)

    def always_explicit(size_b, messages, thinking=None):        # passes enable_thinking=False for the default
        return right(size_b, messages, bool(thinking))

    assert checks.check_prompt_by_size(right) is True
    assert checks.check_prompt_by_size(one_template) is False
    assert checks.check_prompt_by_size(always_explicit) is False
    assert checks.check_prompt_by_size(lambda *a: 1 / 0) is False
    assert "Hint:" in capsys.readouterr().out
