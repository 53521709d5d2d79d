"""Chatting with a Qwen model the way the official docs do it, with clear errors.

* :func:`validate_messages`: empty conversations, unknown roles and missing
  content fail with a message that says what to change.
* :func:`build_inputs`: the chat template -> tensors, refusing prompts longer
  than the model's context (``max_position_embeddings``) before ``generate()`` does.
* :func:`split_thinking`: split generated ids at the last ``</think>``, whose id is
  looked up from the tokenizer (151668 for Qwen3), never hard-coded.
* :func:`chat`: one call that does all of it and decodes only the new tokens.
* :func:`generate_batch`: many conversations in one left-padded batch, same replies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import LabError

ROLES = ("system", "user", "assistant", "tool")


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Check a conversation; return it as a list of dicts or raise :class:`LabError`."""
    if isinstance(messages, str):
        raise LabError("messages is a string, not a conversation.",
                       'wrap it: [{"role": "user", "content": "..."}].')
    messages = list(messages or [])
    if not messages:
        raise LabError("the conversation is empty.", 'pass at least one message: [{"role": "user", "content": "Hi"}].')
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise LabError(f"message {i} is {m!r}, not a dict with a 'role'.",
                           'each message is {"role": "user", "content": "..."}.')
        if m["role"] not in ROLES:
            raise LabError(f"message {i} has the unknown role {m['role']!r}.", f"use one of {', '.join(ROLES)}.")
        if not isinstance(m.get("content"), str) and not m.get("tool_calls"):
            raise LabError(f"message {i} ({m['role']}) has no text content.", "give it a 'content' string.")
    return messages


def context_limit(model) -> int:
    """The longest sequence the model takes (its config's ``max_position_embeddings``)."""
    return int(getattr(model.config, "max_position_embeddings", 0) or 0)


def build_inputs(model, tokenizer, messages, *, thinking: bool | None = True, max_new_tokens: int = 0,
                 **template_kwargs):
    """Apply the chat template and return the model inputs (a ``BatchEncoding`` on the model's device)."""
    messages = validate_messages(messages)
    kwargs = dict(template_kwargs)
    if thinking is not None:
        kwargs["enable_thinking"] = thinking
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True, **kwargs)
    n_prompt = inputs["input_ids"].shape[1]
    limit = context_limit(model)
    if limit and n_prompt + max_new_tokens > limit:
        raise LabError(
            f"the prompt has {n_prompt} tokens and asks for {max_new_tokens} more, "
            f"but this model's context is {limit} tokens.",
            "shorten the conversation (drop old turns) or lower max_new_tokens.")
    return inputs.to(model.device)


def split_thinking(ids: list[int], tokenizer) -> tuple[list[int], list[int], bool]:
    """Split generated ids at the last ``</think>``.

    Returns ``(thinking_ids, answer_ids, closed)``. ``closed`` is False when no
    ``</think>`` was generated: then a started think block (``<think>`` seen)
    is all thinking and unfinished, and output without any think tag is all answer.
    """
    end = tokenizer.convert_tokens_to_ids("</think>")
    start = tokenizer.convert_tokens_to_ids("<think>")
    if end in ids:
        cut = len(ids) - 1 - ids[::-1].index(end)
        return ids[:cut], ids[cut + 1:], True
    if start in ids:
        return ids, [], False
    return [], ids, False


@dataclass
class Reply:
    thinking: str
    answer: str
    new_tokens: int
    finished_thinking: bool

    def __str__(self) -> str:
        return self.answer


def chat(model, tokenizer, messages, *, thinking: bool | None = True, max_new_tokens: int = 256,
         **generate_kwargs) -> Reply:
    """Generate one reply; decode only the new tokens; split thinking from answer."""
    import torch

    inputs = build_inputs(model, tokenizer, messages, thinking=thinking, max_new_tokens=max_new_tokens)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, **generate_kwargs)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    think_ids, answer_ids, closed = split_thinking(new, tokenizer)
    think = tokenizer.decode(think_ids, skip_special_tokens=True).replace("<think>", "").strip("\n")
    answer = tokenizer.decode(answer_ids, skip_special_tokens=True).strip("\n")
    return Reply(think, answer, len(new), closed)


def _eos_ids(model, tokenizer) -> set[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    ids.add(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    return {i for i in ids if i is not None}


def generate_batch(model, tokenizer, conversations, *, thinking: bool | None = True, max_new_tokens: int = 256,
                   **generate_kwargs) -> list[Reply]:
    """Generate one reply per conversation in a single padded batch; same :class:`Reply` as :func:`chat`.

    Batching done right for a decoder-only model: the prompts are **left**-padded
    (so every row's last position is its real last token), the attention mask
    hides the padding, ``pad_token_id`` is passed to ``generate``, and the
    tokenizer's own ``padding_side`` is restored afterwards.  Each row is cut
    after its first end-of-turn token, so the padding added after a row
    finished never reaches the answer.
    """
    import torch

    convs = [validate_messages(c) for c in conversations]
    if not convs:
        raise LabError("there are no conversations to generate for.", "pass a list of conversations.")
    kwargs = {} if thinking is None else {"enable_thinking": thinking}
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True, **kwargs) for c in convs]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    width = enc["input_ids"].shape[1]
    limit = context_limit(model)
    if limit and width + max_new_tokens > limit:
        raise LabError(f"the longest prompt has {width} tokens and asks for {max_new_tokens} more, "
                       f"but this model's context is {limit} tokens.",
                       "shorten the conversations or lower max_new_tokens.")
    enc = enc.to(model.device)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             **generate_kwargs)
    eos = _eos_ids(model, tokenizer)
    replies = []
    for row in out[:, width:].tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        new = row[:cut]
        think_ids, answer_ids, closed = split_thinking(new, tokenizer)
        think = tokenizer.decode(think_ids, skip_special_tokens=True).replace("<think>", "").strip("\n")
        answer = tokenizer.decode(answer_ids, skip_special_tokens=True).strip("\n")
        replies.append(Reply(think, answer, len(new), closed))
    return replies
