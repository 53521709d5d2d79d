"""Chatting with a Qwen model the way the official docs do it, with clear errors.

Every lesson generates through one path, so a fix to padding, stopping or the
thinking split reaches them all:

* :func:`validate_messages`: empty conversations, unknown roles and missing
  content fail with a message that says what to change.
* :func:`batch_inputs`: conversations -> chat template -> one **left**-padded batch
  on the model's device, refusing prompts longer than the model's context
  (``max_position_embeddings``) before ``generate()`` does.  :func:`build_inputs`
  is the batch of one.
* :func:`generate_replies`: ``generate()`` with ``pad_token_id``, then per row the
  new tokens only, cut after the first end-of-turn token, as a :class:`Reply`
  (:func:`reply_from_ids`).
* :func:`split_thinking`: split generated ids at the last ``</think>``, whose id is
  looked up from the tokenizer (151668 for Qwen3), never hard-coded.
* :func:`generate_batch` = :func:`batch_inputs` + :func:`generate_replies`;
  :func:`chat` is a batch of one.  ``labkit.nano.evaluation.evaluate``, ``labkit.lessons.finetuning.greedy_outputs``
  and the chat widget all generate through them.

Used in notebooks 03, 04, 08.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from labkit.errors import LabError

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


def batch_inputs(model, tokenizer, conversations: Iterable[Any], *, thinking: bool | None = True,
                 max_new_tokens: int = 0, **template_kwargs):
    """The model inputs for many conversations: one **left**-padded ``BatchEncoding`` on the model's device.

    A decoder-only model writes after the last position of each row, so short prompts are
    padded on the left (every row then ends with its real last token) and the attention mask
    hides the padding.  The tokenizer's own ``padding_side`` is restored afterwards.
    ``thinking`` is passed to the template as ``enable_thinking`` (``None``: not passed).
    """
    convs = [validate_messages(c) for c in conversations]
    if not convs:
        raise LabError("there are no conversations to generate for.", "pass a list of conversations.")
    kwargs = dict(template_kwargs)
    if thinking is not None:
        kwargs["enable_thinking"] = thinking
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
        one = len(convs) == 1
        raise LabError(f"the {'' if one else 'longest '}prompt has {width} tokens and asks for {max_new_tokens} more, "
                       f"but this model's context is {limit} tokens.",
                       "shorten the conversation (drop old turns) or lower max_new_tokens." if one
                       else "shorten the conversations or lower max_new_tokens.")
    return enc.to(model.device)


def build_inputs(model, tokenizer, messages, *, thinking: bool | None = True, max_new_tokens: int = 0,
                 **template_kwargs):
    """The inputs for one conversation (:func:`batch_inputs` of one: no padding)."""
    return batch_inputs(model, tokenizer, [messages], thinking=thinking, max_new_tokens=max_new_tokens,
                        **template_kwargs)


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
    """One generated reply.  ``str(reply)`` is the answer.

    ``thinking`` and ``answer`` are decoded without special tokens; ``new_tokens`` counts
    the generated tokens, the end-of-turn token included; ``finished_thinking`` says a
    ``</think>`` was generated.  ``text`` is the whole output as the model wrote it (think
    tags kept, end-of-turn token dropped) and ``ids`` the generated token ids.
    """
    thinking: str
    answer: str
    new_tokens: int
    finished_thinking: bool
    text: str = field(default="", repr=False)
    ids: list[int] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return self.answer


def stop_ids(model, tokenizer) -> set[int]:
    """The token ids that end a turn: the model's ``generation_config.eos_token_id`` and ``<|im_end|>``."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    ids.add(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    return {i for i in ids if i is not None}


def reply_from_ids(new_ids: list[int], tokenizer, stop: set[int]) -> Reply:
    """A :class:`Reply` from the ids generated after the prompt, cut after the first ``stop`` token.

    What a batch row holds after its end of turn (padding) never reaches the reply.
    """
    cut = next((i + 1 for i, t in enumerate(new_ids) if t in stop), len(new_ids))
    ids = list(new_ids[:cut])
    think_ids, answer_ids, closed = split_thinking(ids, tokenizer)
    think = tokenizer.decode(think_ids, skip_special_tokens=True).replace("<think>", "").strip("\n")
    answer = tokenizer.decode(answer_ids, skip_special_tokens=True).strip("\n")
    written = ids[:-1] if ids and ids[-1] in stop else ids
    return Reply(think, answer, len(ids), closed, tokenizer.decode(written, skip_special_tokens=False), ids)


def _contiguous(module, args):
    """The output layer's input with the standard strides (``.contiguous()`` keeps a batch of one's strided view:
    a tensor with one row counts as contiguous whatever its strides)."""
    import torch

    return (args[0].clone(memory_format=torch.contiguous_format), *args[1:])


def generate_replies(model, tokenizer, inputs, **generate_kwargs) -> list[Reply]:
    """``model.generate(**inputs)`` (with the tokenizer's ``pad_token_id``) -> one :class:`Reply` per row.

    ``inputs`` come from :func:`batch_inputs`; ``generate_kwargs`` go to ``generate()``
    (``max_new_tokens``, ``do_sample``, ``logits_processor``, a ``streamer`` for a batch of one, ...).
    Only the new tokens are decoded.

    The output layer gets a copy of its input with the standard strides while ``generate()`` runs.  Prefill
    hands it the last position of each row, a strided view ``(batch, 1, hidden)``; when the output weight does
    not require a gradient (a LoRA adapter freezes it, as does ``requires_grad_(False)``) ``torch.matmul`` does
    not fold that view into one matrix product and multiplies with the weight expanded per row
    (pytorch/pytorch#186148).  Measured by ``bench/frozen_head.py`` (``bench/results/frozen_head.json``, one CPU
    thread): in bfloat16 the product is 28 to 370 times slower (Qwen3-0.6B's width at a batch of 8: 14.6 s
    instead of 40 ms), and the frozen nano Qwen3 answers 8 questions 4.2 times slower; in float32 up to 2.4 times.
    """
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    hook = head.register_forward_pre_hook(_contiguous) if head is not None else None
    try:
        with torch.no_grad():
            out = model.generate(**inputs, pad_token_id=tokenizer.pad_token_id, **generate_kwargs)
    finally:
        if hook is not None:
            hook.remove()
    stop = stop_ids(model, tokenizer)
    return [reply_from_ids(row, tokenizer, stop) for row in out[:, inputs["input_ids"].shape[1]:].tolist()]


def generate_batch(model, tokenizer, conversations, *, thinking: bool | None = True, max_new_tokens: int = 256,
                   **generate_kwargs) -> list[Reply]:
    """Generate one reply per conversation in a single left-padded batch: the course's one generation path.

    :func:`batch_inputs` pads on the left and checks the context; :func:`generate_replies`
    passes ``pad_token_id``, cuts each row after its first end-of-turn token (the padding
    added after a row finished never reaches the answer), decodes only the new tokens and
    splits thinking from answer.  Greedy replies equal those of :func:`chat` one by one.
    """
    inputs = batch_inputs(model, tokenizer, conversations, thinking=thinking, max_new_tokens=max_new_tokens)
    return generate_replies(model, tokenizer, inputs, max_new_tokens=max_new_tokens, **generate_kwargs)


def chat(model, tokenizer, messages, *, thinking: bool | None = True, max_new_tokens: int = 256,
         **generate_kwargs) -> Reply:
    """Generate one reply (a batch of one through :func:`generate_batch`); split thinking from answer."""
    return generate_batch(model, tokenizer, [messages], thinking=thinking, max_new_tokens=max_new_tokens,
                          **generate_kwargs)[0]
