"""LoRA fine-tuning on the course's local data, with the checks and the numbers notebook 06 needs.

* :func:`doubling_rows` / :func:`build_datasets`: the held-out skill of the nano model
  (``Double 47.`` -> ``47 + 47 = 94``, worked in the thinking scratchpad) as a
  **prompt-completion** dataset of text already rendered with the chat template, mixed with
  some ordinary arithmetic ("replay", so the old skill is not forgotten); built with
  ``datasets.Dataset.from_list``, no Hub.
* :func:`lora_config`, :func:`validate_targets`, :func:`validate_dataset`, :func:`validate_setup`:
  a learner's mistakes (a module Qwen3 does not have, rank 0, missing fields, 4-bit without a
  working bitsandbytes) become a :class:`~labkit.LabError` that names the fix.
* :func:`param_counts`, :func:`adapter_size`, :func:`training_memory`: trainable vs total
  parameters, the adapter's size on disk, and the memory training needs.
* :class:`LabelOnlySFTTrainer`: trl's ``SFTTrainer`` with one change (its public ``compute_loss``
  hook): the output layer is applied only where there are labels (see its docstring).
* :func:`step_time`: seconds per training step, timed with ``torch.utils.benchmark``;
  :func:`lora_grads`: the LoRA gradients of one batch as one vector.
* :func:`greedy_outputs`: greedy new-token ids through :func:`labkit.generate_batch`.

Used in notebook 06.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from labkit.errors import LabError
from labkit.generation import generate_batch
from labkit.lessons.quantization import require_bnb, total_bytes
from labkit.nano import curriculum as nano

try:
    from trl import SFTTrainer
except ImportError:
    raise LabError("trl is not installed.", 'pip install "trl==1.16.0" (the course extra: '
                   'pip install "qwen-labs[notebooks]").') from None

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PEFT_DEFAULT_QWEN3 = ("q_proj", "v_proj")  # peft 0.21.2 constants.py: the default for model_type qwen3
FIELDS = ("prompt", "completion")


# --------------------------------------------------------------------------- data
def doubling_rows(tokenizer: Any, n: int, seed: int = 0, *, thinking: bool = True, replay: float = 0.5,
                  replay_thinking: float = 0.75) -> list[dict[str, str]]:
    """``n`` doubling examples plus ``round(n * replay)`` ordinary arithmetic ones, shuffled.

    Each row is ``{"prompt": <chat-template text up to the assistant's turn>, "completion":
    <what the model must write>}``, rendered by :func:`labkit.nano.curriculum.render`.  With ``thinking``
    (the skill's target mode) the prompt leaves the assistant's turn open and the completion
    works the sum ``47 + 47`` in the scratchpad before answering:
    ``<think>\n7+7+0=14, carry 1 → 4\n...\n</think>\n\n47 + 47 = 94<|im_end|>``.  Without it
    the template's empty think block is part of the prompt and the completion is the answer alone.
    Replay rows come from the nano curriculum (:func:`labkit.nano.curriculum.training_sample`, arithmetic
    only), ``replay_thinking`` of them with the worked scratchpad.  Doubling numbers come from
    the training split only.
    """
    if n < 0 or replay < 0:
        raise LabError("n and replay must be >= 0.")
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt, target = nano.render(nano.double_sample(rng, thinking=thinking), tokenizer)
        rows.append({"prompt": prompt, "completion": target})
    k = round(n * replay)
    while k > 0:
        s = nano.training_sample(rng)
        if s.meta.get("task") != "arithmetic" or s.thinking != (rng.random() < replay_thinking):
            continue
        prompt, target = nano.render(s, tokenizer)
        rows.append({"prompt": prompt, "completion": target})
        k -= 1
    rng.shuffle(rows)
    return rows


def build_datasets(tokenizer: Any, n_train: int = 320, n_eval: int = 32, seed: int = 0, *, thinking: bool = True,
                   replay: float = 0.5, replay_thinking: float = 0.75) -> dict[str, Any]:
    """``{"train": Dataset, "eval": Dataset}`` built locally with ``datasets.Dataset.from_list``.

    ``n_train`` doubling rows plus ``replay`` times as many replay rows (:func:`doubling_rows`).
    The eval split is doubling only (other numbers than train: another seed), to watch the
    new skill's loss during training; held-out accuracy is measured apart with
    ``labkit.nano.evaluation.evaluate(..., task="double", thinking=thinking)``.
    """
    from datasets import Dataset

    train = Dataset.from_list(doubling_rows(tokenizer, n_train, seed, thinking=thinking, replay=replay,
                                            replay_thinking=replay_thinking))
    evals = Dataset.from_list(doubling_rows(tokenizer, n_eval, seed + 1, thinking=thinking, replay=0.0))
    return {"train": train, "eval": evals}


# --------------------------------------------------------------------------- validation
def linear_module_names(model: Any) -> list[str]:
    """The names LoRA can target: leaf names of the model's ``nn.Linear`` layers, output head excluded.

    Read from the model itself (4-bit and int8 layers, and layers already wrapped by peft,
    included), e.g. for Qwen3
    ``['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']``.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head and not name.endswith("lm_head"):
            if ".lora_" in name:                      # a LoRA adapter's own A/B matrices
                continue
            parts = name.split(".")
            if parts[-1] == "base_layer":             # a layer already wrapped by peft
                parts = parts[:-1]
            names.add(parts[-1])
    return sorted(names)


def validate_targets(model: Any, target_modules: Any) -> list[str] | str:
    """Check LoRA ``target_modules`` against the model; return them or raise :class:`LabError`."""
    if target_modules == "all-linear":
        return target_modules
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    targets = list(target_modules or [])
    real = linear_module_names(model)
    if not targets:
        raise LabError("no target modules given.", f"pick some of this model's linear layers: {', '.join(real)}.")
    unknown = [t for t in targets if t not in real]
    if unknown:
        raise LabError(f"target module(s) {', '.join(map(repr, unknown))} do not exist in this "
                       f"{type(model).__name__}.",
                       f"use names of its linear layers: {', '.join(real)} (or 'all-linear').")
    return targets


def validate_rank(r: Any) -> int:
    """A LoRA rank must be a positive int; rank 0 adds nothing to train."""
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise LabError(f"LoRA rank r={r!r} is not a positive integer.",
                       "use r >= 1 (4 to 16 is typical; the adapter grows linearly with r).")
    return r


def validate_dataset(dataset: Any, fields: Sequence[str] = FIELDS) -> None:
    """Raise :class:`LabError` when ``dataset`` lacks a field the trainer needs (it names them)."""
    cols = list(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else []))
    if len(dataset) == 0:
        raise LabError("the dataset is empty.", "build it with labkit.lessons.finetuning.build_datasets(tok).")
    missing = [f for f in fields if f not in cols]
    if missing:
        raise LabError(f"the dataset has no field(s) {', '.join(map(repr, missing))} (it has: {', '.join(cols)}).",
                       f"a prompt-completion dataset needs {' and '.join(map(repr, fields))}: "
                       "rename your columns, or build it with labkit.lessons.finetuning.doubling_rows.")


def lora_config(model: Any, target_modules: Any = ALL_PROJECTIONS, r: int = 8, alpha: int | None = None,
                dropout: float = 0.0) -> Any:
    """A validated ``peft.LoraConfig`` for causal-LM training (``lora_alpha`` defaults to ``2 * r``)."""
    from peft import LoraConfig

    targets = validate_targets(model, target_modules)
    r = validate_rank(r)
    return LoraConfig(r=r, lora_alpha=alpha if alpha is not None else 2 * r, lora_dropout=dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def validate_setup(model: Any, *, target_modules: Any = ALL_PROJECTIONS, r: int = 8, dataset: Any = None,
                   precision: str = "fp32") -> None:
    """All the checks at once, before any training starts (each raises :class:`LabError`)."""
    require_bnb(precision)
    validate_targets(model, target_modules)
    validate_rank(r)
    if dataset is not None:
        validate_dataset(dataset)


# --------------------------------------------------------------------------- numbers
def param_counts(model: Any) -> dict[str, Any]:
    """``{"trainable", "total", "share"}``; 4-bit weights are counted as parameters, not bytes."""
    if hasattr(model, "get_nb_trainable_parameters"):   # PEFT: corrects for packed 4-bit tensors
        trainable, total = model.get_nb_trainable_parameters()
    else:
        seen: set[int] = set()
        trainable = total = 0
        for p in model.parameters():
            if p.data_ptr() in seen:
                continue
            seen.add(p.data_ptr())
            n = p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)
            total += n
            trainable += n if p.requires_grad else 0
    return {"trainable": int(trainable), "total": int(total), "share": trainable / total if total else 0.0}


def adapter_size(path: str | Path) -> int:
    """Bytes on disk of a saved adapter directory (``save_pretrained`` output)."""
    path = Path(path)
    if not path.is_dir():
        raise LabError(f"{path} is not a directory.", "pass the folder given to model.save_pretrained().")
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def training_memory(model: Any, optimizer_states: int = 2) -> dict[str, Any]:
    """The memory training needs, measured where it can be and computed where it cannot.

    On a CUDA GPU: ``torch.cuda.max_memory_allocated()`` (reset it before training with
    ``torch.cuda.reset_peak_memory_stats()``).  On CPU the process's resident memory mixes the
    model with Python, the tokenizer and caches, so the figure is computed instead: parameter
    bytes (frozen and trainable, quantization constants included) + one gradient per trainable
    parameter + ``optimizer_states`` fp32 tensors per trainable parameter (AdamW keeps 2).
    Activations are not in the CPU figure.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = sum(p.numel() * p.element_size() for p in trainable)
    states = sum(p.numel() * 4 * optimizer_states for p in trainable)
    weights = total_bytes(model)
    out = {"weights": weights, "gradients": grads, "optimizer_state": states,
           "computed_total": weights + grads + states}
    if torch.cuda.is_available():
        out["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
        out["how"] = "torch.cuda.max_memory_allocated()"
    else:
        out["how"] = "computed: weights + gradients + AdamW state (activations not included)"
    return out


# --------------------------------------------------------------------------- the trainer
def merge_equal_rows(weight: Any, max_share: float = 0.5) -> tuple[Any, Any, Any, Any] | None:
    """Group the equal rows of an output layer's weight, or ``None`` if they are mostly distinct.

    Returns ``(rows, log_counts, group, lowest)``: the distinct rows, the log of how many
    tokens share each, each token's row index in ``rows``, and each row's lowest token id.
    ``None`` when there are more than ``max_share`` times as many distinct rows as tokens
    (merging would not pay).  The nano model's head has a few hundred distinct rows for 151,936 tokens
    (one per token its curriculum uses, and one shared by all the others).
    """
    with torch.no_grad():
        rows, group, counts = torch.unique(weight.detach(), dim=0, return_inverse=True, return_counts=True)
        if rows.shape[0] > max_share * weight.shape[0]:
            return None
        ids = torch.arange(weight.shape[0], device=weight.device)
        lowest = torch.full((rows.shape[0],), weight.shape[0], device=weight.device, dtype=ids.dtype)
        lowest = lowest.scatter_reduce(0, group, ids, reduce="amin")
    return rows, counts.float().log(), group, lowest


def head_cross_entropy(hidden: Any, targets: Any, head: Any, merged: Any = None) -> tuple[Any, int]:
    """Summed cross-entropy of ``head(hidden)`` against ``targets``, and how many argmaxes hit.

    With ``merged`` (from :func:`merge_equal_rows`), each distinct row is scored once and the
    normaliser is ``logsumexp_j(h·u_j + log c_j)``: the same number as over the whole vocabulary,
    since equal rows give equal logits.  Argmax ties go to the lowest token id, as ``argmax`` does.
    """
    import torch.nn.functional as F

    if merged is None:
        logits = head(hidden).float()
        return F.cross_entropy(logits, targets, reduction="sum"), int((logits.argmax(-1) == targets).sum())
    rows, log_counts, group, lowest = merged
    scores = (hidden.to(rows.dtype) @ rows.T).float()      # one score per distinct row
    g = group[targets]
    # cross_entropy over merged classes gives -(s_g + log c_g) + logsumexp; add log c_g back for -log p(t)
    loss = F.cross_entropy(scores + log_counts, g, reduction="sum") + log_counts[g].sum()
    return loss, int(((scores.argmax(-1) == g) & (lowest[g] == targets)).sum())


class LabelOnlySFTTrainer(SFTTrainer):
    """trl's SFTTrainer, but the output layer runs only where a label is, and only once per distinct row.

    A Qwen output layer has 151,936 rows (the tokenizer's 151,669 tokens, padded).  Projecting
    every position of every padded sequence through it is most of the cost of a step on
    a small model, yet with ``completion_only_loss`` only the completion positions have
    labels.  This ``compute_loss`` runs the transformer body, keeps the hidden states of
    the labelled positions, and applies the output layer (and the cross-entropy) to those
    only, ``chunk_size`` positions at a time.

    Rows of a frozen output layer that are exactly equal give equal logits, so they can be
    scored once: with the distinct rows ``u_j`` and their counts ``c_j``, the softmax's
    normaliser is ``logsumexp_j(h·u_j + log c_j)``, the same number as over the whole
    vocabulary.  The nano model's never-used tokens share one row, so its head has a few hundred
    distinct rows instead of 151,936; a real checkpoint has (almost) none equal, and
    the layer is then applied whole (``min_merge``).  The loss is the same number either
    way; trl's ``entropy`` metric is dropped and ``mean_token_accuracy`` is computed on the
    labelled positions (argmax ties broken towards the lowest token id, as ``argmax`` does).
    (trl's own fused head does the position selection on GPUs with Triton; on CPU it
    scores every position.)
    """

    chunk_size = 32
    min_merge = 0.5   # use the merged head when it has at most this share of the rows
    _head_cache: Any = None

    def _merged_head(self, head: Any) -> Any:
        w = head.weight
        if w.requires_grad or getattr(head, "bias", None) is not None:
            return None                                  # a trained or biased head: no merging
        key = (w.data_ptr(), w._version, tuple(w.shape), w.dtype)
        if self._head_cache is None or self._head_cache[0] != key:
            self._head_cache = (key, merge_equal_rows(w, self.min_merge))
        return self._head_cache[1]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"][:, 1:]                  # position t predicts token t+1
        keep = labels != -100
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = causal_lm.model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                                 use_cache=False).last_hidden_state[:, :-1]
        targets = labels[keep]
        merged = self._merged_head(causal_lm.lm_head)
        loss, correct = hidden.sum() * 0.0, 0               # a batch without labels adds nothing
        for h, t in zip(hidden[keep].split(self.chunk_size), targets.split(self.chunk_size)):
            chunk_loss, chunk_correct = head_cross_entropy(h, t, causal_lm.lm_head, merged)
            loss, correct = loss + chunk_loss, correct + chunk_correct
        n = keep.sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss / torch.as_tensor(n).clamp(min=1)
        mode = "train" if model.training else "eval"   # trl's log() averages self._metrics (no public hook)
        self._metrics[mode]["mean_token_accuracy"].append(correct / max(int(keep.sum()), 1))
        return (loss, None) if return_outputs else loss


# --------------------------------------------------------------------------- measurements
def step_time(trainer: Any, min_run_time: float = 1.0) -> tuple[float, float]:
    """Seconds per training step of ``trainer`` on its first batch, and the loss of its first step.

    A step is ``trainer.training_step`` (forward and backward; no optimizer update, so every
    step sees the same weights).  Timed by ``torch.utils.benchmark.Timer.blocked_autorange``:
    one warm-up step, then steps until ``min_run_time`` seconds have passed; the median is
    returned.  It runs on torch's current number of threads, so trainers timed one after the
    other in the same process compare (their ratio is the figure to read, not the seconds).
    """
    from torch.utils import benchmark

    trainer.current_gradient_accumulation_steps = 1   # what train() sets before its first step
    batch = next(iter(trainer.get_train_dataloader()))
    losses: list[float] = []
    timer = benchmark.Timer("losses.append(float(trainer.training_step(trainer.model, batch)))",
                            globals={"trainer": trainer, "batch": batch, "losses": losses},
                            num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median, losses[0]


def lora_grads(peft_model: Any, batch: Any) -> Any:
    """The gradients of the trainable (LoRA) parameters for one batch, as one flat vector.

    ``batch`` is tokenizer output; its ``input_ids`` are the labels (plain language-model loss).
    Gradients are zeroed first, so two calls on the same weights give the same vector.
    """
    batch = batch.to(peft_model.device)
    peft_model.train()
    peft_model.zero_grad()
    peft_model(**batch, labels=batch["input_ids"]).loss.backward()
    return torch.cat([p.grad.flatten() for p in peft_model.parameters() if p.requires_grad])


# --------------------------------------------------------------------------- outputs
def greedy_outputs(model: Any, tokenizer: Any, conversations: Iterable[list[dict[str, str]]], *,
                   thinking: bool = False, max_new_tokens: int = 24) -> list[list[int]]:
    """Greedy new-token ids for each conversation (end-of-turn included), one left-padded batch.

    Through :func:`labkit.generate_batch`, for exact comparisons (merged vs base + adapter).
    """
    replies = generate_batch(model, tokenizer, list(conversations), thinking=thinking, max_new_tokens=max_new_tokens,
                             do_sample=False, temperature=None, top_p=None, top_k=None)
    return [r.ids for r in replies]
