"""Answer keys of exercise 00 (setup and hardware): its check functions and the data they check against.

Used in notebook 00.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import exercise, is_number, qwen3_tokenizer

SENTENCE_00 = "In 2025, Qwen3 learned to think before answering 1234 questions."
CHAT_00 = [{"role": "user", "content": "Name a prime number."}]
EMPTY_THINK = "<think>\n\n</think>\n\n"
N_PARAMS_00 = 8_000_000_000      # task 5: a model of 8 billion parameters, in bfloat16
# Added tokens whose ids a Qwen3 tokenizer must give (tokenizer_config.json of Qwen/Qwen3-0.6B).
QWEN3_ADDED_IDS_00 = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                      "<think>": 151667, "</think>": 151668}


def _is_qwen3_tokenizer(tok: Any) -> bool:
    """Any tokenizer object with Qwen3's vocabulary: the same ids as the course's Qwen3 tokenizer."""
    reference = qwen3_tokenizer()
    return (len(tok) == len(reference)
            and tok.encode(SENTENCE_00) == reference.encode(SENTENCE_00)
            and all(tok.convert_tokens_to_ids(t) == i for t, i in QWEN3_ADDED_IDS_00.items()))


def _is_no_think_prompt(text: Any) -> bool:
    """The rendered text: the course's Qwen3 template, or any template that writes the same turns (the Hub's)."""
    if not isinstance(text, str):
        return False
    reference = qwen3_tokenizer().apply_chat_template(CHAT_00, tokenize=False, add_generation_prompt=True,
                                                      enable_thinking=False)
    turn = f"<|im_start|>user\n{CHAT_00[0]['content']}<|im_end|>\n"
    return text == reference or (text.startswith(turn) and text.endswith("<|im_start|>assistant\n" + EMPTY_THINK))


check_auto_tokenizer = exercise(
    "auto_tokenizer", predicate=_is_qwen3_tokenizer,
    expects="a tokenizer object with Qwen3's vocabulary (151,669 tokens, <think> at id 151667)",
    hint="AutoTokenizer reads the tokenizer files of a model id or folder, as notebook 00 does with model_id; keep "
         "the tokenizer object itself, not a string or a list of ids",
    where="notebook 00, section 3 'Qwen3's tokenizer, with AutoTokenizer'")
check_think_end_id = exercise(
    "think_end_id", 151668, expects="the id of '</think>' in the Qwen3 vocabulary",
    hint="look the token up in the tokenizer with convert_tokens_to_ids, as the notebook does for '<think>'; "
         "never guess ids",
    where="notebook 00, section 3 'Added tokens are looked up, never guessed'")
check_n_tokens = exercise(
    "n_tokens", lambda: len(qwen3_tokenizer().encode(SENTENCE_00)), expects="the number of token ids of SENTENCE",
    hint="encode SENTENCE and count the ids (an int); remember every digit is a token of its own",
    where="notebook 00, section 3 'Encode and decode'")
check_no_think_prompt = exercise(
    "no_think_prompt",
    predicate=_is_no_think_prompt,
    expects=f"the rendered text (a str) ending with the assistant turn and the empty think block {EMPTY_THINK!r}",
    hint="apply_chat_template needs three arguments here: text not ids, the assistant's turn opened, thinking off",
    where="notebook 00, section 4 'The chat template'")
check_bf16_weights_gb = exercise(
    "bf16_weights_gb",
    predicate=lambda gb: is_number(gb) and abs(gb - N_PARAMS_00 * 2 / 1e9) <= 0.01,
    expects=f"the memory of {N_PARAMS_00:,} bfloat16 weights in GB (10**9 bytes), a number within 0.01",
    hint="parameters x bytes per parameter, in GB (divide by 1e9, not 2**30); the element_size() of a bfloat16 "
         "tensor gives the bytes",
    where="notebook 00, section 1 'Bytes per parameter'")
