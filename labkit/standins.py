"""Stand-in checkpoints: a random checkpoint of the real architecture for every course hub model.

transformers tests its models on tiny random checkpoints of the real classes; the course does the
same for its hub profile.  :func:`build` writes, for every id of :data:`labkit.hub.COURSE_MODELS`,
a checkpoint that loads exactly as the real one does::

    HF_HUB_OFFLINE=1 HF_HUB_CACHE=<dir> python -c \\
        'from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained("Qwen/Qwen3-0.6B")'

Each has

* the real class (``Qwen3ForCausalLM``, ``Qwen2ForCausalLM``, ``Qwen2_5_VLForConditionalGeneration``)
  and the real ``config.json`` fields of :mod:`labkit.architectures` (the VL vision tower: the shapes
  :mod:`labkit.selection` counts), with only the shape fields of :data:`TINY` shrunk (the vocabulary
  keeps its 151,936 rows, so every real token id works); fields the course has no source for are
  transformers' defaults.  ``full_shape=True`` keeps every shape (for a GPU machine: the real memory
  and speed, random weights);
* the real special-token ids (bos 151643, eos 151645, pad 151643; the VL image/video token ids);
* the real tokenizer and chat template, rebuilt offline by :func:`labkit.tokenizer.load_tokenizer`;
  the VL model also gets its processor files: ``preprocessor_config.json`` (transformers'
  ``Qwen2VLImageProcessor`` defaults: Qwen2.5-VL's patch, merge and normalisation; its pixel budget may
  be smaller than the real file's) and ``chat_template.json`` (the original
  Qwen2.5-VL template that TRL ships as ``trl/chat_templates/qwen2_5_vl.jinja``);
* a ``standin.json`` that says it is a stand-in (random weights: what it says means nothing).

They are written in the Hugging Face cache layout (``models--Qwen--X/{blobs,refs/main,snapshots/<commit>}``).
With no ``cache`` argument the build goes to ``$QWEN_LABS_CACHE/standins/<fingerprint>`` and is reused
while its fingerprint (this module, the model list, the shapes, the library versions) is unchanged.

    python -m labkit.standins [--cache DIR] [--full-shape] [--only ID ...]   # prints the cache folder
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import hub
from .errors import LabError

# The shape fields a tiny stand-in shrinks (everything else stays as in the real config).
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=32)  # 32: the smallest head size vLLM's CPU attention runs
TINY_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=[1])
TINY_MROPE = [2, 3, 3]     # mrope_section sums to head_dim / 2 (the real [16, 24, 24] for head_dim 128)
# Real special-token ids of Qwen2.5 / Qwen3 (labkit.tokenizer builds the same ids).
BOS, EOS, PAD = 151643, 151645, 151643
# Qwen2.5-VL's vision tower: labkit.selection._vl_vision_params counts these shapes.
VL_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                 fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14,
                 spatial_merge_size=2, temporal_patch_size=2)
VL_MROPE = [16, 24, 24]
MARKER = hub.STANDIN_MARKER


def _text_kwargs(model: hub.HubModel, full_shape: bool) -> dict[str, Any]:
    from . import architectures as A

    kw = A.spec(model.arch).kwargs()
    if not full_shape:
        kw.update(TINY)
    if A.spec(model.arch).model_type == "qwen2":   # head_dim is implicit in Qwen2 configs
        kw["head_dim"] = kw["hidden_size"] // kw["num_attention_heads"]
    return kw


def make_config(model: hub.HubModel, full_shape: bool = False) -> Any:
    """The config of ``model``'s stand-in: the real fields, shape fields shrunk unless ``full_shape``."""
    from transformers import Qwen2_5_VLConfig, Qwen2Config, Qwen3Config

    kw = _text_kwargs(model, full_shape)
    ids = dict(bos_token_id=BOS, eos_token_id=EOS)
    if model.architecture == "Qwen2_5_VLForConditionalGeneration":
        kw.pop("head_dim")
        kw["rope_parameters"] = {**kw["rope_parameters"], "mrope_section": VL_MROPE if full_shape else TINY_MROPE}
        vision = {**VL_VISION, **({} if full_shape else TINY_VISION), "out_hidden_size": kw["hidden_size"]}
        tie = kw.pop("tie_word_embeddings")
        config = Qwen2_5_VLConfig(text_config={**kw, **ids}, vision_config=vision, tie_word_embeddings=tie)
    else:
        cls = {"Qwen3ForCausalLM": Qwen3Config, "Qwen2ForCausalLM": Qwen2Config}[model.architecture]
        config = cls(**kw, **ids)
    config.architectures = [model.architecture]
    config.dtype = "bfloat16"
    return config


def generation_config(model: hub.HubModel) -> Any:
    """Token ids as the real ``generation_config.json``; Qwen3's default sampling (labkit.facts.SAMPLING)."""
    from transformers import GenerationConfig

    from .facts import SAMPLING

    kw: dict[str, Any] = dict(bos_token_id=BOS, eos_token_id=[EOS, BOS], pad_token_id=PAD)
    if model.tokenizer == "qwen3":
        s = SAMPLING["thinking"]   # "the default setting in generation_config.json" (its source)
        kw.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
    return GenerationConfig(**kw)


def _vl_template() -> str:
    try:
        import trl
    except ImportError as exc:
        raise LabError("the Qwen2.5-VL stand-in takes its chat template from trl, which is not installed.",
                       "pip install -e '.[notebooks]'.") from exc
    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5_vl.jinja").read_text(encoding="utf-8")


def _write_processor(folder: Path, template: str) -> None:
    try:
        from transformers import Qwen2VLImageProcessorPil as ImageProcessor   # no torchvision needed
    except ImportError:
        from transformers import Qwen2VLImageProcessor as ImageProcessor
    cfg = ImageProcessor().to_dict()
    cfg.update(image_processor_type="Qwen2VLImageProcessor", processor_class="Qwen2_5_VLProcessor")
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2), encoding="utf-8")


def write_files(model: hub.HubModel, folder: Path, *, full_shape: bool = False, seed: int = 0,
                device: str | None = None) -> None:
    """Write ``model``'s stand-in as a plain checkpoint folder (weights, configs, tokenizer, processor)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2_5_VLForConditionalGeneration

    from .tokenizer import load_tokenizer

    config = make_config(model, full_shape)
    torch.manual_seed(seed)
    device = device or ("cuda" if full_shape and torch.cuda.is_available() else "cpu")
    with torch.device(device):
        if model.architecture == "Qwen2_5_VLForConditionalGeneration":
            net = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
        else:
            net = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    net.generation_config = generation_config(model)
    net.save_pretrained(folder)
    del net
    tok = load_tokenizer(model.tokenizer)
    if model.processor:
        template = _vl_template()
        tok.chat_template = template
        _write_processor(folder, template)
    tok.save_pretrained(folder)
    shrunk = {} if full_shape else {**TINY, **({"vision": TINY_VISION} if model.processor else {})}
    (folder / MARKER).write_text(json.dumps({
        "stand_in_for": model.repo_id, "weights": "random (seed %d)" % seed, "full_shape": full_shape,
        "shrunk": shrunk, "built_by": "labkit.standins"}, indent=2), encoding="utf-8")


def is_standin(folder: str | Path) -> bool:
    """True when a checkpoint folder (or snapshot) is a stand-in written by this module."""
    return (Path(folder) / MARKER).is_file()


# ------------------------------------------------------------------------------ the build
def _commit(fingerprint: str, repo_id: str) -> str:
    """A 40-hex commit name for the snapshot folder, stable for one fingerprint."""
    return hashlib.sha1(f"standin:{fingerprint}:{repo_id}".encode()).hexdigest()


def fingerprint(full_shape: bool = False, seed: int = 0) -> str:
    """What a build depends on: this module, the model list and shapes, the library versions."""
    from . import architectures as A
    from .tokenizer import _fingerprint, _spec

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps([repr(m) for m in hub.COURSE_MODELS] + [full_shape, seed]).encode())
    for m in hub.COURSE_MODELS:
        h.update(json.dumps(A.spec(m.arch).config, sort_keys=True).encode())
        h.update(_fingerprint(_spec(m.tokenizer)).encode())
    for dist in ("transformers", "tokenizers", "torch", "safetensors"):
        h.update(version(dist).encode())
    return h.hexdigest()[:12]


def default_cache(full_shape: bool = False) -> Path:
    """``$QWEN_LABS_CACHE/standins/<tiny|full>-<fingerprint>``: where :func:`build` puts a shared build."""
    from .tokenizer import cache_dir

    return cache_dir() / "standins" / f"{'full' if full_shape else 'tiny'}-{fingerprint(full_shape)}"


def build(cache: str | Path | None = None, *, full_shape: bool = False, only: list[str] | None = None,
          seed: int = 0, device: str | None = None) -> Path:
    """Write the stand-ins of :data:`labkit.hub.COURSE_MODELS` (or ``only`` those) into a Hugging Face cache.

    Returns the cache folder (use it as ``HF_HUB_CACHE``).  An entry already built with the same
    fingerprint is kept; a real (non-stand-in) checkpoint in ``cache`` is never overwritten.
    """
    shared = cache is None
    cache = Path(cache) if cache is not None else default_cache(full_shape)
    fp = fingerprint(full_shape, seed)
    if shared:   # older shared builds (another fingerprint) are stale: drop them
        for old in cache.parent.glob(f"{cache.name.split('-')[0]}-*"):
            if old != cache:
                shutil.rmtree(old, ignore_errors=True)
    models = [hub.get(r) for r in only] if only else list(hub.COURSE_MODELS)
    cache.mkdir(parents=True, exist_ok=True)
    for model in models:
        commit = _commit(fp, model.repo_id)
        loc = hub.locate(model.repo_id, cache, local_folders=False)
        if loc.state == "cached" and loc.path and loc.path.name == commit:
            continue
        if loc.state == "cached" and loc.path and not is_standin(loc.path):
            raise LabError(f"{cache} holds a real {model.repo_id}: stand-ins are not written over it.",
                           "build the stand-ins into another folder (--cache DIR).")
        files = cache / f".{model.name}.files{os.getpid()}"
        shutil.rmtree(files, ignore_errors=True)
        try:
            write_files(model, files, full_shape=full_shape, seed=seed, device=device)
            hub.write_cache_entry(files, model.repo_id, cache, commit)
        finally:
            shutil.rmtree(files, ignore_errors=True)
    return cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.standins", description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="the Hugging Face cache to write into (default: a shared, "
                                               "fingerprinted build under $QWEN_LABS_CACHE/standins)")
    ap.add_argument("--full-shape", action="store_true", help="keep the real shapes (needs the real memory)")
    ap.add_argument("--only", nargs="+", metavar="ID", help="only these repository ids")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        cache = build(args.cache, full_shape=args.full_shape, only=args.only)
    except LabError as exc:
        print(f"LabError: {exc}", file=sys.stderr)
        return 2
    for m in hub.COURSE_MODELS if not args.only else [hub.get(r) for r in args.only]:
        loc = hub.locate(m.repo_id, cache, local_folders=False)
        size = sum(p.stat().st_size for p in (hub.repo_folder(m.repo_id, cache) / "blobs").iterdir())
        print(f"{m.repo_id:<36} {loc.state:<7} {size / 1e6:8.1f} MB", file=sys.stderr)
    print(f"built in {time.perf_counter() - start:.1f} s; use it with HF_HUB_OFFLINE=1 HF_HUB_CACHE={cache}",
          file=sys.stderr)
    print(cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
