"""Checks for the exercise notebooks: a verdict and a hint, never a traceback.

Each exercise task has one function ``check_<name>(answer) -> bool`` that prints

* ``✅ name: correct``,
* ``❌ name: not answered yet ...`` when the answer is still ``None``, or
* ``❌ name: expected <...>, got <...>. Hint: ... (see notebook NN, section ...)``.

Add a task with :func:`exercise` (one line)::

    check_think_end_id = exercise("think_end_id", 151668, hint="...", where="notebook 00, section 3")

``expected`` may be a zero-argument function (computed when the check runs), and
``predicate`` replaces the equality test (describe what it wants in ``expects``).
Every check is kept in :data:`REGISTRY`; :func:`summary` counts the passes.
"""
from __future__ import annotations

from typing import Any, Callable

REGISTRY: dict[str, Callable[[Any], bool]] = {}
_results: dict[str, bool] = {}  # latest verdict of each check run in this session


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(hint: str, where: str) -> str:
    text = f" Hint: {hint}" if hint else ""
    return text + (f" (see {where})" if where else "")


def check(name: str, answer: Any, expected: Any = None, *, predicate: Callable[[Any], bool] | None = None,
          expects: str | None = None, hint: str = "", where: str = "") -> bool:
    """Compare ``answer`` with ``expected`` (or test it with ``predicate``), print the verdict, return it.

    ``expected`` may be a zero-argument callable.  ``expects`` describes the
    wanted answer in the message (default: the expected value).  Errors raised
    while checking are reported as a hint, never raised.
    """
    if answer is None:
        print(f"❌ {name}: not answered yet (replace the None with your answer).{_tail(hint, where)}")
        _results[name] = False
        return False
    try:
        if predicate is not None:
            ok = bool(predicate(answer))
            wanted = expects or "an answer that passes the check"
        else:
            value = expected() if callable(expected) else expected
            ok = bool(answer == value)
            wanted = expects or _show(value)
    except Exception as exc:  # noqa: BLE001 (a check must never raise at the learner)
        print(f"❌ {name}: your answer could not be checked ({type(exc).__name__}: {exc}), "
              f"got {_show(answer)}.{_tail(hint, where)}")
        _results[name] = False
        return False
    if ok:
        print(f"✅ {name}: correct")
    else:
        print(f"❌ {name}: expected {wanted}, got {_show(answer)}.{_tail(hint, where)}")
    _results[name] = ok
    return ok


def exercise(name: str, expected: Any = None, *, predicate: Callable[[Any], bool] | None = None,
             expects: str | None = None, hint: str = "", where: str = "") -> Callable[[Any], bool]:
    """Make and register the one-argument check function of one exercise task."""
    def run(answer: Any) -> bool:
        return check(name, answer, expected, predicate=predicate, expects=expects, hint=hint, where=where)

    run.__name__ = f"check_{name}"
    run.__doc__ = f"Check the answer of exercise task {name!r}; print the verdict and return it."
    REGISTRY[name] = run
    return run


def summary() -> None:
    """Print how many of the checks run in this session passed, and which failed."""
    passed = sum(_results.values())
    print(f"{passed}/{len(_results)} checks passed in this session")
    for name, ok in _results.items():
        if not ok:
            print(f"  ❌ {name}")


def results() -> dict[str, bool]:
    """The latest verdict of each check run in this session."""
    return dict(_results)


def reset() -> None:
    """Forget the verdicts of this session (used by the tests)."""
    _results.clear()


# ---------------------------------------------------------------- notebook 00: setup and hardware
def _qwen3():
    from .tokenizer import load_tokenizer

    return load_tokenizer("qwen3")


SENTENCE_00 = "In 2025, Qwen3 learned to think before answering 1234 questions."
CHAT_00 = [{"role": "user", "content": "Name a prime number."}]
EMPTY_THINK = "<think>\n\n</think>\n\n"

check_think_end_id = exercise(
    "think_end_id", 151668, expects="the id of '</think>' in the Qwen3 vocabulary",
    hint="look the token up in the tokenizer, as the notebook does for '<think>'; never guess ids",
    where="notebook 00, section 3 'Special tokens are looked up'")
check_n_tokens = exercise(
    "n_tokens", lambda: len(_qwen3().encode(SENTENCE_00)), expects="the number of token ids of SENTENCE",
    hint="encode SENTENCE and count the ids (an int); remember every digit is a token of its own",
    where="notebook 00, section 3 'Encode a sentence'")
check_no_think_prompt = exercise(
    "no_think_prompt",
    predicate=lambda s: isinstance(s, str) and s == _qwen3().apply_chat_template(
        CHAT_00, tokenize=False, add_generation_prompt=True, enable_thinking=False),
    expects=f"the rendered text (a str) ending with the assistant turn and the empty think block {EMPTY_THINK!r}",
    hint="apply_chat_template needs three arguments here: text not ids, the assistant's turn opened, thinking off",
    where="notebook 00, section 4 'The chat template'")


# ---------------------------------------------------------------- notebook 02: chat and generation
from functools import lru_cache  # noqa: E402 (kept with the checks that use it)

QUESTION_02 = "What is 12 + 30?"
PROBS_02 = [0.5, 0.2, 0.15, 0.1, 0.05]  # a toy next-token distribution (5 tokens)
TOP_P_02 = 0.8
CONVS_02 = [[{"role": "user", "content": "What is 7 + 5?"}],
            [{"role": "user", "content": "What is 23 + 45?"}],
            [{"role": "user", "content": "What is 6 × 3?"}]]


def _top_p_kept(probs: list[float], top_p: float) -> int:
    import torch
    from transformers.generation import TopPLogitsWarper

    scores = torch.log(torch.tensor([probs]))
    return int(torch.isfinite(TopPLogitsWarper(top_p)(torch.zeros(1, 1, dtype=torch.long), scores)).sum())


@lru_cache(maxsize=1)
def _course_model():
    from .models import load_model

    return load_model()  # the active profile's model: the same one the exercise uses


def _greedy_answers(conversations: list, thinking: bool) -> list[str]:
    from .chat import chat

    model, tok = _course_model()
    return [chat(model, tok, c, thinking=thinking, do_sample=False, max_new_tokens=40).answer for c in conversations]


def _is_new_text_only(text: Any) -> bool:
    want = _greedy_answers([[{"role": "user", "content": QUESTION_02}]], thinking=False)[0]
    return isinstance(text, str) and QUESTION_02 not in text and text.strip() == want.strip()


def _sampling_kwargs_ok(kw: Any) -> bool:
    from .facts import SAMPLING

    want = SAMPLING["non_thinking"].generate_kwargs()
    return (isinstance(kw, dict) and kw.get("do_sample") is True
            and all(kw.get(k) == want[k] for k in ("temperature", "top_p", "top_k"))
            and kw.get("min_p", 0.0) == want["min_p"])


def _batch_answers_ok(answers: Any) -> bool:
    return (isinstance(answers, list) and len(answers) == len(CONVS_02)
            and all(isinstance(a, str) for a in answers) and answers == _greedy_answers(CONVS_02, thinking=False))


check_new_tokens_only = exercise(
    "new_tokens_only", predicate=_is_new_text_only,
    expects=f"the reply text only (a str: what the model wrote after the prompt, without {QUESTION_02!r})",
    hint="slice the generated ids after the prompt: output_ids[0, inputs['input_ids'].shape[1]:], then decode "
         "with skip_special_tokens=True",
    where="notebook 02, section 2 'Decode only the new tokens'")
check_top_p_kept = exercise(
    "top_p_kept", lambda: _top_p_kept(PROBS_02, TOP_P_02),
    expects="the number of tokens top-p keeps (an int)",
    hint="sort the probabilities, add them up from the largest; top-p keeps tokens until the sum reaches top_p "
         "(or apply transformers.generation.TopPLogitsWarper to the log-probabilities and count finite scores)",
    where="notebook 02, section 6 'Sampling: the next-token distribution'")
check_non_thinking_sampling = exercise(
    "non_thinking_sampling", predicate=_sampling_kwargs_ok,
    expects="a dict of generate() arguments: do_sample=True and the temperature, top_p, top_k of "
            "labkit.facts.SAMPLING['non_thinking']",
    hint="read labkit.facts.SAMPLING['non_thinking'] (its .generate_kwargs() builds the dict); do_sample must be "
         "True or the other settings are ignored",
    where="notebook 02, section 7 'Recommended settings per mode'")
check_batch_answers = exercise(
    "batch_answers", predicate=_batch_answers_ok,
    expects=f"a list of {len(CONVS_02)} answer strings, one per conversation, in order, equal to the greedy "
            "one-by-one answers (thinking off)",
    hint="labkit.generate_batch(model, tok, CONVS, thinking=False, do_sample=False, max_new_tokens=40) returns "
         "Replies; keep each reply's .answer",
    where="notebook 02, section 9 'Batch generation done right'")


# ---------------------------------------------------------------- notebook 03: thinking mode
OUTPUT_03 = "<think>\n8+4+0=12, carry 1 → 2\ncarry 1 → 12\n</think>\n\n8 + 4 = 12"
FIRST_03 = "What is 8 + 4?"
SECOND_03 = "And 12 + 30? /no_think"


def _think_answer_03() -> str:
    from .chat import split_thinking

    tok = _qwen3()
    _, answer_ids, _ = split_thinking(tok.encode(OUTPUT_03), tok)
    return tok.decode(answer_ids, skip_special_tokens=True).strip("\n")


def _budget_ok(procs: Any) -> bool:
    from .thinking import ThinkingBudget

    return (hasattr(procs, "__iter__") and type(procs).__name__ == "LogitsProcessorList"
            and any(isinstance(p, ThinkingBudget) and p.budget == 16 for p in procs))


def _history_ok(messages: Any) -> bool:
    if not isinstance(messages, list) or [m.get("role") for m in messages if isinstance(m, dict)] != [
            "user", "assistant", "user"]:
        return False
    first, reply, second = messages
    content = reply.get("content", "")
    return (first["content"] == FIRST_03 and second["content"] == SECOND_03 and isinstance(content, str)
            and content.strip() != "" and "<think>" not in content and "</think>" not in content
            and "carry" not in content)


check_answer_after_think = exercise(
    "answer_after_think", _think_answer_03,
    expects="the text after the last '</think>' (a str), without the reasoning",
    hint="look up the id of '</think>' with tok.convert_tokens_to_ids, find its last position in the ids and "
         "decode what follows (labkit.split_thinking does exactly this)",
    where="notebook 03, section 4 'Parse thinking and answer by token id'")
check_budget_16 = exercise(
    "budget_16", predicate=_budget_ok,
    expects="a transformers LogitsProcessorList holding labkit.thinking.ThinkingBudget(tok, 16)",
    hint="LogitsProcessorList([ThinkingBudget(tok, 16)]); pass it to generate() as logits_processor=",
    where="notebook 03, section 7 'A thinking budget that works'")
check_second_turn = exercise(
    "second_turn", predicate=_history_ok,
    expects=f"[user {FIRST_03!r}, assistant <the first reply's answer, no reasoning>, user {SECOND_03!r}]",
    hint="keep reply.answer, not reply.thinking: the official template drops earlier reasoning, so the history "
         "should hold answers only",
    where="notebook 03, section 8 'Multi-turn: the history keeps answers'")


# ---------------------------------------------------------------- notebook 01: the Qwen family
MODEL_01 = "Qwen3-1.7B"          # task 1: non-embedding parameters (tied embeddings)
GPU_01, CONTEXT_01 = "T4", 8192  # task 2: the largest Qwen3 dense model at bf16
KV_MODEL_01, KV_CONTEXT_01 = "Qwen3-8B", 32768  # task 3: KV cache by hand
LANGUAGE_01 = "hi"               # task 4: tokens per character of a course text
QWEN3_DENSE_01 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")


def _non_embedding_01() -> int:
    from .architectures import count_params

    return count_params(MODEL_01)["non_embedding"]


def _largest_fit_01() -> str:
    from .architectures import fits

    return [n for n in QWEN3_DENSE_01 if fits(n, GPU_01, "bf16", context=CONTEXT_01)][-1]


def _kv_ok_01(gb: Any) -> bool:
    from .architectures import kv_cache_gb

    return isinstance(gb, (int, float)) and abs(gb - kv_cache_gb(KV_MODEL_01, KV_CONTEXT_01)) <= 0.01


def _tokens_per_char_01() -> float:
    from .tokens import COURSE_TEXTS, _tokenizer, measure

    return measure(COURSE_TEXTS[LANGUAGE_01], _tokenizer("qwen3"), LANGUAGE_01)["tokens_per_char"]


check_non_embedding_params = exercise(
    "non_embedding_params", _non_embedding_01,
    expects=f"the non-embedding parameter count of {MODEL_01} (an int, about 1.4 billion)",
    hint="build the model with labkit.architectures.build_on_meta, sum p.numel() over model.parameters(), "
         "then subtract the input embedding once: Qwen3-1.7B ties its output head to it, so there is no "
         "second matrix to remove",
    where="notebook 01, section 4 'Parameters, counted'")
check_largest_t4_model = exercise(
    "largest_t4_model", _largest_fit_01,
    expects=f"the name (a str) of the largest Qwen3 dense model that fits a {GPU_01} at bf16 with "
            f"{CONTEXT_01:,} tokens of context",
    hint="try labkit.architectures.fits(name, 'T4', 'bf16', context=8192) for each name in QWEN3_DENSE, "
         "smallest to largest; bf16 weights alone are 2 bytes per parameter",
    where="notebook 01, section 5 'Memory: weights, KV cache, GPUs'")
check_kv_cache_gb = exercise(
    "kv_cache_gb", predicate=_kv_ok_01,
    expects=f"the KV-cache size of {KV_MODEL_01} for {KV_CONTEXT_01:,} tokens at bf16, in GB (10**9 bytes), "
            "within 0.01",
    hint="2 (K and V) x layers x KV heads x head_dim x tokens x 2 bytes; read the numbers from "
         "labkit.architectures.CONFIGS['Qwen3-8B'].config (KV heads, not attention heads)",
    where="notebook 01, section 5 'Memory: weights, KV cache, GPUs'")
check_tokens_per_char = exercise(
    "tokens_per_char", predicate=lambda x: isinstance(x, float) and abs(x - _tokens_per_char_01()) < 1e-3,
    expects=f"tokens per character (a float) of COURSE_TEXTS[{LANGUAGE_01!r}] with the Qwen3 tokenizer",
    hint="len(tok.encode(text)) / len(text), with tok = labkit.load_tokenizer('qwen3'); a float, not a percentage",
    where="notebook 01, section 6 'What a language costs in tokens'")


# ---------------------------------------------------------------- notebook 06: monitoring and performance
# Latencies (seconds) of 20 requests and the arrival times of one request's tokens: made-up data to compute on.
LATENCIES_06 = [0.41, 0.38, 0.44, 0.40, 0.39, 0.42, 0.37, 0.45, 0.40, 0.43,
                0.41, 0.39, 0.38, 1.92, 0.44, 0.40, 0.42, 0.41, 2.75, 0.39]
START_06 = 100.000                       # time.perf_counter() when the request arrived
TOKEN_TIMES_06 = [100.180, 100.205, 100.231, 100.254, 100.280, 100.304, 100.331, 100.355, 100.380, 100.404]
CEILING_MODEL_06, CEILING_GPU_06 = "Qwen3-1.7B", "L4"


def _p95_06() -> float:
    import numpy as np

    return float(np.percentile(LATENCIES_06, 95))


def _ttft_decode_06() -> tuple[float, float]:
    first, last = TOKEN_TIMES_06[0], TOKEN_TIMES_06[-1]
    return first - START_06, (len(TOKEN_TIMES_06) - 1) / (last - first)


def _ttft_decode_ok(answer: Any) -> bool:
    want = _ttft_decode_06()
    return (isinstance(answer, tuple) and len(answer) == 2
            and all(isinstance(a, (int, float)) and abs(a - w) <= 1e-6 * max(1.0, abs(w)) for a, w in zip(answer, want)))


def _ceiling_06() -> float:
    from .roofline import BANDWIDTHS, bytes_per_token

    return BANDWIDTHS[CEILING_GPU_06].gb_per_s * 1e9 / bytes_per_token(CEILING_MODEL_06, dtype_bytes=2).total


check_p95_latency = exercise(
    "p95_latency", predicate=lambda x: isinstance(x, (int, float)) and abs(x - _p95_06()) < 1e-9,
    expects="the 95th percentile of LATENCIES_06 in seconds (a float, numpy's default linear interpolation)",
    hint="numpy.percentile(LATENCIES_06, 95); not the mean (it hides the two slow requests) and not the maximum",
    where="notebook 06, section 2 'Percentiles, not averages'")
check_ttft_and_decode = exercise(
    "ttft_and_decode", predicate=_ttft_decode_ok,
    expects="a tuple (ttft_s, decode_tokens_per_s) computed from START_06 and TOKEN_TIMES_06",
    hint="TTFT = first token time - START_06; decode speed counts the tokens after the first one over the time "
         "after the first one: (len - 1) / (last - first). Dividing all tokens by the total time mixes in the prefill",
    where="notebook 06, section 2 'Per-request metrics'")
check_ceiling_l4 = exercise(
    "ceiling_l4", predicate=lambda x: isinstance(x, (int, float)) and abs(x / _ceiling_06() - 1) < 0.01,
    expects=f"the batch-1 decode ceiling of {CEILING_MODEL_06} in bf16 on an {CEILING_GPU_06}, in tokens/s "
            "(within 1 %)",
    hint="labkit.roofline.ceiling(name, 'L4', dtype_bytes=2): bandwidth / bytes read per token. Every layer and the "
         "whole 151,936-row output projection are read per token, although the embedding is tied",
    where="notebook 06, section 4 'The roofline'")


# ---------------------------------------------------------------- notebook 07: production patterns
BUCKET_RATE_07, BUCKET_CAPACITY_07 = 2.0, 3.0           # 2 requests per second, bursts of 3
ARRIVALS_07 = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 3.0, 3.05, 3.1, 3.15]  # seconds
LEAKED_HASH_07 = "a93b137f41eb0c96"                     # sha256(user id)[:16], as the seed logs it
CANDIDATES_07 = [f"user-{i}" for i in range(10_000)]
MESSAGES_07 = [{"role": "system", "content": "You are a pirate."},
               {"role": "user", "content": "Привіт! Скільки буде 345 + 678?"}]


def _bucket_07() -> list[bool]:
    tokens, last, out = BUCKET_CAPACITY_07, ARRIVALS_07[0], []
    for t in ARRIVALS_07:
        tokens = min(BUCKET_CAPACITY_07, tokens + (t - last) * BUCKET_RATE_07)
        last = t
        ok = tokens >= 1
        tokens -= 1 if ok else 0
        out.append(ok)
    return out


def _leaked_user_07() -> str | None:
    import hashlib

    return next((c for c in CANDIDATES_07 if hashlib.sha256(c.encode()).hexdigest()[:16] == LEAKED_HASH_07), None)


def _prompt_tokens_07() -> int:
    return len(_qwen3().apply_chat_template(MESSAGES_07, add_generation_prompt=True, tokenize=True,
                                            enable_thinking=False, return_dict=True)["input_ids"])


check_bucket_decisions = exercise(
    "bucket_decisions", _bucket_07,
    expects="a list of True/False, one per time in ARRIVALS_07: may that request go?",
    hint="make labkit.serving.TokenBucket(BUCKET_RATE_07, BUCKET_CAPACITY_07, clock=...) with a clock you control "
         "(e.g. a lambda reading a variable you set to each arrival time), then call allow() once per arrival",
    where="notebook 07, section 6 'Rate limiting with a token bucket'")
check_leaked_user = exercise(
    "leaked_user", _leaked_user_07,
    expects="the user id (a str) from CANDIDATES_07 whose unsalted hash is LEAKED_HASH_07",
    hint="hash every candidate the way the seed does (labkit.serving.unsalted_hash, or guess_from_hash) and "
         "compare; a salted hash (hash_for_log) would make this impossible without the salt",
    where="notebook 07, section 7 'Guardrails', 'Logs that keep no user data'")
check_prompt_tokens = exercise(
    "prompt_tokens", _prompt_tokens_07,
    expects="the number of tokens (an int) the model reads for MESSAGES_07, chat template applied, thinking off",
    hint="labkit.serving.prompt_tokens(tok, MESSAGES_07) counts tokens with the chat template; len() of the "
         "text counts characters, and the template adds its own tokens too",
    where="notebook 07, section 7 'Guardrails', 'Limits in tokens, refused not truncated'")


# ---------------------------------------------------------------- notebook 04: quantized loading
GPU_04, CONTEXT_04 = "T4", 32768  # task 3: the largest Qwen3 dense model at nf4 with a long context
QWEN3_DENSE_04 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")


def _nf4_config_ok(cfg: Any) -> bool:
    import torch
    from transformers import BitsAndBytesConfig

    return (isinstance(cfg, BitsAndBytesConfig) and cfg.load_in_4bit and not cfg.load_in_8bit
            and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant is True
            and cfg.bnb_4bit_compute_dtype == torch.bfloat16)


def _embedding_share_04() -> float:
    from .quant import footprint_by_layer_type

    model, _ = _course_model()
    fp = footprint_by_layer_type(model)
    return fp["embedding"] / sum(fp.values())


def _largest_fit_04() -> str:
    from .architectures import fits

    return [n for n in QWEN3_DENSE_04 if fits(n, GPU_04, "nf4", context=CONTEXT_04)][-1]


check_nf4_config = exercise(
    "nf4_config", predicate=_nf4_config_ok,
    expects="a transformers BitsAndBytesConfig: 4-bit, quant type 'nf4', double quantization on, compute dtype "
            "torch.bfloat16",
    hint="BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=..., bnb_4bit_use_double_quant=..., "
         "bnb_4bit_compute_dtype=...); NF4 is a quant type (the default is fp4), and double quantization is off "
         "unless you turn it on",
    where="notebook 04, section 2 'The seed's memory-optimization code'")
check_embedding_share = exercise(
    "embedding_share", predicate=lambda x: isinstance(x, float) and abs(x - _embedding_share_04()) < 1e-3,
    expects="the share (a float between 0 and 1) of the course model's weight bytes that sit in its embedding",
    hint="labkit.quant.footprint_by_layer_type(model) gives bytes per kind of module; divide the 'embedding' entry "
         "by the sum of all entries (a share, not a percentage)",
    where="notebook 04, section 3 'Where the bytes are'")
check_largest_nf4_fit = exercise(
    "largest_nf4_fit", _largest_fit_04,
    expects=f"the name (a str) of the largest Qwen3 dense model that fits a {GPU_04} at nf4 with "
            f"{CONTEXT_04:,} tokens of context (batch 1)",
    hint="labkit.architectures.fits(name, 'T4', 'nf4', context=32768) for each name in QWEN3_DENSE_04, or read "
         "labkit.quant.memory_table; the KV cache is not quantized, so long contexts cost the same at nf4",
    where="notebook 04, section 6 'The memory calculator for real Qwen sizes'")


# ---------------------------------------------------------------- notebook 05: LoRA and QLoRA
DOUBLE_05 = "Double 21."
SEED_ARGS_05 = {"evaluation_strategy": "steps", "eval_steps": 500, "max_seq_length": 2048, "packing": True}


def _targets_ok(names: Any) -> bool:
    from .finetune import linear_module_names

    return (isinstance(names, (list, tuple, set)) and all(isinstance(n, str) for n in names)
            and sorted(set(names)) == linear_module_names(_course_model()[0]) and len(set(names)) == len(names))


@lru_cache(maxsize=1)
def _qv_r4_trainable_05() -> int:
    from peft import get_peft_model

    from .finetune import lora_config
    from .models import load_model

    model, _ = load_model()  # a fresh copy: get_peft_model changes the model it wraps
    return get_peft_model(model, lora_config(model, ["q_proj", "v_proj"], r=4)).get_nb_trainable_parameters()[0]


def _sft_config_ok(cfg: Any) -> bool:
    from trl import SFTConfig

    return (isinstance(cfg, SFTConfig) and cfg.eval_strategy == "steps" and cfg.eval_steps == 500
            and cfg.max_length == 2048 and cfg.packing is True)


def _doubling_row_ok(row: Any) -> bool:
    tok = _course_model()[1]
    prompt = tok.apply_chat_template([{"role": "user", "content": DOUBLE_05}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    return isinstance(row, dict) and row == {"prompt": prompt, "completion": "21 + 21 = 42<|im_end|>"}


check_lora_targets = exercise(
    "lora_targets", predicate=_targets_ok,
    expects="a list of the names LoRA can target in the course model: every linear layer's name, once each, "
            "the output head excluded",
    hint="labkit.finetune.linear_module_names(model) reads them from the model; peft's default for Qwen3 "
         "(q_proj, v_proj) is only two of them",
    where="notebook 05, section 3 'LoRA: which modules?'")
check_trainable_params = exercise(
    "trainable_params", _qv_r4_trainable_05,
    expects="the number (an int) of trainable parameters of LoRA with r=4 on q_proj and v_proj of the course model",
    hint="wrap a fresh model with peft.get_peft_model(model, labkit.finetune.lora_config(model, ['q_proj', "
         "'v_proj'], r=4)) and read get_nb_trainable_parameters()[0]; by hand: per layer and matrix r x (in + out)",
    where="notebook 05, section 3 'LoRA: which modules?'")
check_sft_config = exercise(
    "sft_config", predicate=_sft_config_ok,
    expects=f"a trl SFTConfig carrying the seed's settings {SEED_ARGS_05} under today's names",
    hint="evaluation_strategy is now eval_strategy, max_seq_length is SFTConfig's max_length, and packing moved "
         "from the SFTTrainer call into SFTConfig",
    where="notebook 05, section 1 'The seed's fine-tuning code, run today'")
check_doubling_row = exercise(
    "doubling_row", predicate=_doubling_row_ok,
    expects=f"a dict {{'prompt': ..., 'completion': ...}} for {DOUBLE_05!r}: the prompt rendered with the chat "
            "template (assistant turn opened, thinking off), the completion '21 + 21 = 42<|im_end|>'",
    hint="tok.apply_chat_template([...], tokenize=False, add_generation_prompt=True, enable_thinking=False) "
         "gives the prompt; the completion ends with the end-of-turn token",
    where="notebook 05, section 2 'A skill the model never saw'")
