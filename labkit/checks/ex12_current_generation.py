"""Answer keys of exercise 12 (the current generation, Qwen3.5): its check functions and the data they check against.

Task 1 computes the hybrid cache of Qwen3.5-0.8B from its config; task 2 the image tokens of one image size under
Qwen3.5's processor settings; task 3 picks the chat template by model size and renders a prompt with it.  Each
answer is compared with an independent computation: labkit.family.architectures' formulas, transformers'
``smart_resize`` with the settings of Qwen3.5-0.8B's ``preprocessor_config.json``, and the original templates.

Used in notebook 12.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import exercise, is_number
from labkit.family.architectures import kv_cache_gb, linear_state_gb

MODEL_12, CONTEXT_12 = "Qwen3.5-0.8B", 32768     # task 1: KV cache of the attention layers + linear-attention state
IMAGE_SIZE_12 = (1000, 700)                      # task 2: (width, height) of the image
# Task 3: (parameters in billions, enable_thinking or None for the default) -> the template that model ships
THINKING_CASES_12 = [(0.8, None), (2.0, None), (4.0, None), (9.0, None), (0.8, True), (9.0, False), (27.0, None)]
QUESTION_12 = "What is 17 + 25?"


def _hybrid_ok_12(gb: Any) -> bool:
    return is_number(gb) and abs(gb - (kv_cache_gb(MODEL_12, CONTEXT_12) + linear_state_gb(MODEL_12))) <= 0.002


def _image_tokens_12() -> int:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize   # no torchvision needed

    from labkit.tokenizer import PROCESSOR_FILES

    image = PROCESSOR_FILES["qwen3.5"]["image"]
    factor = image["patch_size"] * image["merge_size"]
    width, height = IMAGE_SIZE_12
    h, w = smart_resize(height, width, factor=factor, min_pixels=image["size"]["shortest_edge"],
                        max_pixels=image["size"]["longest_edge"])
    return (h // factor) * (w // factor)


def _prompt_ok_12(fn: Any) -> bool:
    from labkit.family.tokens import _tokenizer   # load_tokenizer, cached
    from labkit.tokenizer import chat_template

    tok = _tokenizer("qwen3.5")
    messages = [{"role": "user", "content": QUESTION_12}]
    for size, thinking in THINKING_CASES_12:
        template = chat_template("qwen3_5_nothink.jinja" if size <= 2 else "qwen3_5_think.jinja")
        kw = {} if thinking is None else {"enable_thinking": thinking}
        want = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True,
                                       **kw)
        if fn(size, messages, thinking) != want:
            return False
    return True


check_hybrid_cache_gb = exercise(
    "hybrid_cache_gb", predicate=_hybrid_ok_12,
    expects=f"the cache of {MODEL_12} for {CONTEXT_12:,} tokens in GB (10**9 bytes), within 0.002: keys and values "
            "of the full-attention layers at bf16 + the fixed state of the linear-attention layers",
    hint="only 1 layer in 4 is full attention (config.layer_types): 2 x those layers x num_key_value_heads x head_dim "
         "x tokens x 2 bytes. Each linear_attention layer adds a recurrent state of linear_num_value_heads x "
         "linear_key_head_dim x linear_value_head_dim float32 values (4 bytes) and a convolution state of (2 x "
         "linear_num_key_heads x linear_key_head_dim + linear_num_value_heads x linear_value_head_dim) x "
         "(linear_conv_kernel_dim - 1) bf16 values",
    where="notebook 12, section 2 'Hybrid attention, measured'")
check_image_tokens = exercise(
    "image_tokens", _image_tokens_12,
    expects=f"the number of image tokens (an int) a {IMAGE_SIZE_12[0]} x {IMAGE_SIZE_12[1]} image becomes",
    hint="the processor resizes each side to the nearest multiple of 32 (16-pixel patches, merged 2 x 2) within its "
         "pixel budget, then every 32 x 32 square is one token: run processor.image_processor on a blank image of that "
         "size and divide the product of image_grid_thw by 4, or round each side yourself",
    where="notebook 12, section 3 'One checkpoint for text and images'")
check_prompt_by_size = exercise(
    "prompt_by_size", predicate=_prompt_ok_12,
    expects="a function prompt(size_b, messages, thinking) that returns the generation prompt the Qwen3.5 model of "
            "that size writes (thinking None: the model's default), for 0.8B to 27B",
    hint="0.8B and 2B ship qwen3_5_nothink.jinja, 4B and larger qwen3_5_think.jinja (labkit.tokenizer.chat_template "
         "reads them from trl); render with tokenizer.apply_chat_template(messages, chat_template=..., tokenize=False, "
         "add_generation_prompt=True), passing enable_thinking only when thinking is not None",
    where="notebook 12, section 5 'Thinking by size, sampling, and tool calls in XML'")
