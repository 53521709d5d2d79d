"""Stand-in checkpoints: a random checkpoint of the real architecture for every course hub model.

transformers tests its models on tiny random checkpoints of the real classes; the course does the
same for its hub profile.  :func:`build` writes, for every id of :data:`labkit.COURSE_MODELS`,
a checkpoint that loads exactly as the real one does::

    HF_HUB_OFFLINE=1 HF_HUB_CACHE=<dir> python -c \\
        'from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained("Qwen/Qwen3-0.6B")'

Each has

* the real class (``Qwen3ForCausalLM``, ``Qwen2ForCausalLM``, ``Qwen2_5_VLForConditionalGeneration``)
  and the real ``config.json`` fields of :mod:`labkit.family.architectures` (the VL vision tower: the shapes
  :mod:`labkit.family.selection` counts), with only the shape fields of :data:`TINY` shrunk (the vocabulary
  keeps its 151,936 rows, so every real token id works); fields the course has no source for are
  transformers' defaults.  ``full_shape=True`` keeps every shape (for a GPU machine: the real memory
  and speed, random weights);
* the real special-token ids (bos 151643, eos 151645, pad 151643; the VL image/video token ids);
* the real tokenizer and chat template, rebuilt offline by :func:`labkit.tokenizer.load_tokenizer`;
  the VL model also gets its processor files: ``preprocessor_config.json`` (transformers'
  ``Qwen2VLImageProcessor`` defaults: Qwen2.5-VL's patch, merge and normalisation; its pixel budget may
  be smaller than the real file's) and ``chat_template.jinja`` (the original
  Qwen2.5-VL template that TRL ships as ``trl/chat_templates/qwen2_5_vl.jinja``);
* a ``standin.json`` that says it is a stand-in (random weights: what it says means nothing).

They are written in the Hugging Face cache layout (``models--Qwen--X/{blobs,refs/main,snapshots/<commit>}``).
With no ``cache`` argument the build goes to ``$QWEN_LABS_CACHE/standins/<fingerprint>`` and is reused
while its fingerprint (this module, the model list, the shapes, the library versions) is unchanged.

    python -m labkit.hub.standins [--cache DIR] [--full-shape] [--only ID ...]   # prints the cache folder

Used by the command `python -m labkit.hub.standins`.
"""
from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from labkit import tokenizer
from labkit.errors import LabError
from labkit.family import architectures as A
from labkit.family.facts import SAMPLING
from labkit.hub import lookup
from labkit.hub.checkpoints import COURSE_MODELS, HubModel, get
from labkit.hub.lookup import MODELS_DIR_VAR, locate, repo_folder, write_cache_entry
from labkit.tokenizer import write_processor_files

# The shape fields a tiny stand-in shrinks (everything else stays as in the real config).
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=32)  # 32: the smallest head size vLLM's CPU attention runs
TINY_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=[1])
TINY_MROPE = [2, 3, 3]     # mrope_section sums to head_dim / 2 (the real [16, 24, 24] for head_dim 128)
# Qwen3.5's hybrid layers, shrunk: the linear-attention (Gated DeltaNet) heads, one linear and one full layer,
# and the M-RoPE sections of a 32-wide head's 8 rotary dimensions (partial_rotary_factor 0.25)
TINY_LINEAR = dict(linear_key_head_dim=32, linear_value_head_dim=32, linear_num_key_heads=4, linear_num_value_heads=4,
                   layer_types=["linear_attention", "full_attention"])
TINY_MROPE_35 = [2, 1, 1]
TINY_VISION_35 = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, num_position_embeddings=256)
# labkit.tokenizer.write_processor_files' kind for each image-text class
PROCESSOR_KIND = {"Qwen2_5_VLForConditionalGeneration": "qwen2.5-vl", "Qwen3_5ForConditionalGeneration": "qwen3.5"}
# Qwen2.5-VL's vision tower: labkit.family.selection._vl_vision_params counts these shapes.
VL_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                 fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14,
                 spatial_merge_size=2, temporal_patch_size=2)
VL_MROPE = [16, 24, 24]
MARKER = "standin.json"    # written into every stand-in checkpoint: what it stands in for, its seed, its shapes
# Random weights never emit end-of-sequence, so every generate() would run to its limit: on a stand-in,
# generate() writes at most this many new tokens (see cap_standin_generation).
STANDIN_MAX_NEW_TOKENS = 16
STANDIN_LABEL = ("(random-weight stand-in: the model outputs and scores above are noise; only real weights "
                 "give them meaning)")


def _text_kwargs(model: HubModel, full_shape: bool) -> dict[str, Any]:

    kw = A.spec(model.arch).kwargs()
    if not full_shape:
        kw.update(TINY)
    if A.spec(model.arch).model_type == "qwen2":   # head_dim is implicit in Qwen2 configs
        kw["head_dim"] = kw["hidden_size"] // kw["num_attention_heads"]
    return kw


def make_config(model: HubModel, full_shape: bool = False) -> Any:
    """The config of ``model``'s stand-in: the real fields, shape fields shrunk unless ``full_shape``."""
    from transformers import Qwen2_5_VLConfig, Qwen2Config, Qwen3_5Config, Qwen3Config

    kw = _text_kwargs(model, full_shape)
    ids = special_ids(model)
    if model.architecture == "Qwen2_5_VLForConditionalGeneration":
        kw.pop("head_dim")
        kw["rope_parameters"] = {**kw["rope_parameters"], "mrope_section": VL_MROPE if full_shape else TINY_MROPE}
        vision = {**VL_VISION, **({} if full_shape else TINY_VISION), "out_hidden_size": kw["hidden_size"]}
        tie = kw.pop("tie_word_embeddings")
        config = Qwen2_5_VLConfig(text_config={**kw, **ids["text"]}, vision_config=vision, tie_word_embeddings=tie,
                                  **ids["vision"])
    elif model.architecture == "Qwen3_5ForConditionalGeneration":
        if not full_shape:
            kw.update(TINY_LINEAR)
            kw["rope_parameters"] = {**kw["rope_parameters"], "mrope_section": TINY_MROPE_35}
        vision = {**A.VISION[model.arch], **({} if full_shape else TINY_VISION_35), "out_hidden_size": kw["hidden_size"]}
        tie = kw.pop("tie_word_embeddings")
        config = Qwen3_5Config(text_config={**kw, **ids["text"]}, vision_config=vision, tie_word_embeddings=tie,
                               **ids["vision"])
    else:
        cls = {"Qwen3ForCausalLM": Qwen3Config, "Qwen2ForCausalLM": Qwen2Config}[model.architecture]
        config = cls(**kw, **ids["text"])
    config.architectures = [model.architecture]
    config.dtype = "bfloat16"
    return config


@lru_cache(maxsize=None)
def _token_ids(family: str) -> dict[str, int]:
    tok = tokenizer.load_tokenizer(family)
    names = ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    return dict(zip(names, tok.convert_tokens_to_ids(list(names))))


def special_ids(model: HubModel) -> dict[str, dict[str, int]]:
    """The real special-token ids of ``model``'s config, read from its tokenizer: ``text`` (bos, eos) and, for an
    image-text model, ``vision`` (image, video, vision start and end)."""
    ids = _token_ids(model.tokenizer)
    vision = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    return {"text": dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"]),
            "vision": vision if model.processor else {}}


def generation_config(model: HubModel) -> Any:
    """Token ids as the real ``generation_config.json``; Qwen3's default sampling (labkit.family.facts.SAMPLING)."""
    from transformers import GenerationConfig


    ids = special_ids(model)["text"]
    bos, eos = ids["bos_token_id"], ids["eos_token_id"]
    kw: dict[str, Any] = dict(bos_token_id=bos, eos_token_id=[eos, bos], pad_token_id=bos)
    if model.tokenizer == "qwen3":
        s = SAMPLING["thinking"]   # "the default setting in generation_config.json" (its source)
        kw.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
    return GenerationConfig(**kw)


def _tiny_extras(model: HubModel) -> dict[str, Any]:
    if model.architecture == "Qwen3_5ForConditionalGeneration":
        return {**TINY_LINEAR, "vision": TINY_VISION_35}
    return {"vision": TINY_VISION} if model.processor else {}


def write_files(model: HubModel, folder: Path, *, full_shape: bool = False, seed: int = 0,
                device: str | None = None) -> None:
    """Write ``model``'s stand-in as a plain checkpoint folder (weights, configs, tokenizer, processor)."""
    import torch
    import transformers


    config = make_config(model, full_shape)
    torch.manual_seed(seed)
    device = device or ("cuda" if full_shape and torch.cuda.is_available() else "cpu")
    with torch.device(device):
        if model.processor:
            net = getattr(transformers, model.architecture)._from_config(config, dtype=torch.bfloat16)
        else:
            net = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    net.generation_config = generation_config(model)
    net.save_pretrained(folder)
    del net
    if model.processor:
        write_processor_files(folder, PROCESSOR_KIND[model.architecture])   # image processor, template, tokenizer
    else:
        tokenizer.load_tokenizer(model.tokenizer).save_pretrained(folder)
    shrunk = {} if full_shape else {**TINY, **_tiny_extras(model)}
    (folder / MARKER).write_text(json.dumps({
        "stand_in_for": model.repo_id, "weights": "random (seed %d)" % seed, "full_shape": full_shape,
        "shrunk": shrunk, "built_by": "labkit.hub.standins"}, indent=2), encoding="utf-8")


# ------------------------------------------------------------------------------ the build
def _commit(fingerprint: str, repo_id: str) -> str:
    """A 40-hex commit name for the snapshot folder, stable for one fingerprint."""
    return hashlib.sha1(f"standin:{fingerprint}:{repo_id}".encode()).hexdigest()


def fingerprint(full_shape: bool = False, seed: int = 0) -> str:
    """What a build depends on: this module, the model list and shapes, the library versions."""

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps([repr(m) for m in COURSE_MODELS] + [full_shape, seed]).encode())
    for m in COURSE_MODELS:
        h.update(json.dumps(A.spec(m.arch).config, sort_keys=True).encode())
        h.update(tokenizer._fingerprint(tokenizer._spec(m.tokenizer)).encode())
    for dist in ("transformers", "tokenizers", "torch", "safetensors"):
        h.update(version(dist).encode())
    return h.hexdigest()[:12]


def default_cache(full_shape: bool = False) -> Path:
    """``$QWEN_LABS_CACHE/standins/<tiny|full>-<fingerprint>``: where :func:`build` puts a shared build."""
    return tokenizer.cache_dir() / "standins" / f"{'full' if full_shape else 'tiny'}-{fingerprint(full_shape)}"


def build(cache: str | Path | None = None, *, full_shape: bool = False, only: list[str] | None = None,
          seed: int = 0, device: str | None = None) -> Path:
    """Write the stand-ins of :data:`labkit.COURSE_MODELS` (or ``only`` those) into a Hugging Face cache.

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
    models = [get(r) for r in only] if only else list(COURSE_MODELS)
    cache.mkdir(parents=True, exist_ok=True)
    for model in models:
        commit = _commit(fp, model.repo_id)
        loc = locate(model.repo_id, cache, local_folders=False)
        if loc.state == "cached" and loc.path and loc.path.name == commit:
            continue
        if loc.state == "cached" and loc.path and not is_standin(loc.path):
            raise LabError(f"{cache} holds a real {model.repo_id}: stand-ins are not written over it.",
                           "build the stand-ins into another folder (--cache DIR).")
        files = cache / f".{model.name}.files{os.getpid()}"
        shutil.rmtree(files, ignore_errors=True)
        try:
            write_files(model, files, full_shape=full_shape, seed=seed, device=device)
            write_cache_entry(files, model.repo_id, cache, commit)
        finally:
            shutil.rmtree(files, ignore_errors=True)
    return cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.hub.standins", description=__doc__.splitlines()[0])
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
    for m in COURSE_MODELS if not args.only else [get(r) for r in args.only]:
        loc = locate(m.repo_id, cache, local_folders=False)
        size = sum(p.stat().st_size for p in (repo_folder(m.repo_id, cache) / "blobs").iterdir())
        print(f"{m.repo_id:<36} {loc.state:<7} {size / 1e6:8.1f} MB", file=sys.stderr)
    print(f"built in {time.perf_counter() - start:.1f} s; use it with HF_HUB_OFFLINE=1 HF_HUB_CACHE={cache}",
          file=sys.stderr)
    print(cache)
    return 0



# ------------------------------------------------------------------------------ in a notebook
def standin_folder(model_or_id) -> Path | None:
    """The folder of a stand-in checkpoint (:mod:`labkit.hub.standins`) that ``model_or_id`` was loaded
    from, or None for a real checkpoint.  Takes a model, a tokenizer, a processor, a repo id or a path."""
    name = model_or_id if isinstance(model_or_id, (str, Path)) else getattr(model_or_id, "name_or_path", None)
    if not name:
        return None
    return _standin_folder(str(name), str(lookup.cache_dir()), os.environ.get(MODELS_DIR_VAR, ""))


@lru_cache(maxsize=64)
def _standin_folder(name: str, cache: str, models: str) -> Path | None:
    folder = Path(name)
    if not folder.is_dir():
        if "/" not in name or name.startswith(("/", ".")):
            return None
        folder = locate(name, Path(cache)).path
    return folder if folder is not None and (folder / MARKER).is_file() else None


def is_standin(model_or_id) -> bool:
    """True when ``model_or_id`` (a model, tokenizer, repo id or path) is a random-weight stand-in."""
    return standin_folder(model_or_id) is not None



def cap_standin_generation(limit: int = STANDIN_MAX_NEW_TOKENS) -> bool:
    """Make ``generate()`` of any stand-in write at most ``limit`` new tokens; True the first time.

    ``min_new_tokens`` above the cap is lowered to it too (a forced length that cannot be met would
    make timings count tokens never generated).  Installed by :func:`labkit.banner` when the hub profile runs on stand-ins (nowhere else): random
    weights never emit end-of-sequence, so the chapter's ``max_new_tokens=512`` would run to its end on
    every call.  A real checkpoint's ``generate()`` is left exactly as it is.
    """
    from transformers.generation.utils import GenerationMixin

    if getattr(GenerationMixin.generate, "_standin_cap", None) is not None:
        GenerationMixin.generate._standin_cap[0] = limit
        return False
    original = GenerationMixin.generate
    cap = [limit]

    @functools.wraps(original)
    def generate(self, *args, **kwargs):
        if is_standin(self):
            config = kwargs.get("generation_config")
            if config is not None and (config.max_new_tokens or 0) > cap[0]:
                kwargs["generation_config"] = config = copy.deepcopy(config)
                config.max_new_tokens = cap[0]
            if "max_new_tokens" in kwargs or config is None or not config.max_new_tokens:
                kwargs["max_new_tokens"] = min(kwargs.get("max_new_tokens") or cap[0], cap[0])
            kwargs.pop("max_length", None)
            if (kwargs.get("min_new_tokens") or 0) > cap[0]:  # a forced length beyond the cap cannot be met
                kwargs["min_new_tokens"] = cap[0]
        return original(self, *args, **kwargs)

    generate._standin_cap = cap
    GenerationMixin.generate = generate
    return True


# The request field that limits new tokens, per OpenAI-compatible route.
LIMIT_FIELDS = {"/chat/completions": "max_tokens", "/completions": "max_tokens", "/responses": "max_output_tokens"}
_REQUEST_HOOKS: list = []   # functions (options) -> options, run on every request the openai client sends


def _on_openai_request(hook) -> None:
    """Run ``hook(options) -> options`` on every request the ``openai`` client sends.

    ``options`` is the client's ``FinalRequestOptions`` (``method``, ``url``, ``json_data``: the body,
    ``extra_json``: the request's ``extra_body``).  The clients' ``request`` is wrapped once (it is looked up
    at each call, so clients made before the hook are covered too); the hooks are read at each call.
    """
    from openai import _base_client

    if not _REQUEST_HOOKS:
        for cls in (_base_client.SyncAPIClient, _base_client.AsyncAPIClient):
            def request(self, cast_to, options, *args, _original=cls.request, **kwargs):
                for run in _REQUEST_HOOKS:
                    options = run(options)
                return _original(self, cast_to, options, *args, **kwargs)

            cls.request = functools.wraps(cls.request)(request)
    _REQUEST_HOOKS.append(hook)


def capped_request(path: str, body: Any, limit: int, *, set_missing: bool = True) -> Any:
    """``body`` of a request to ``path`` with its new-token limit at most ``limit`` (set when absent)."""
    field = next((f for route, f in LIMIT_FIELDS.items() if path.endswith(route)), None)
    if field is None or not isinstance(body, dict):
        return body
    body = dict(body)
    if "max_completion_tokens" in body:
        field = "max_completion_tokens"
    if field in body or set_missing:
        body[field] = min(body.get(field) or limit, limit)
    if (body.get("min_tokens") or 0) > limit:    # vLLM's forced length: one beyond the cap cannot be met
        body["min_tokens"] = limit
    return body


def cap_standin_requests(limit: int = STANDIN_MAX_NEW_TOKENS) -> bool:
    """Cap the new tokens of every request the ``openai`` client sends to at most ``limit``; True the first time.

    The servers of a notebook run on stand-ins serve the same random weights, which never stop by
    themselves: what :func:`cap_standin_generation` does to ``generate()`` in the kernel, this does to
    the requests (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``).  Installed by
    :func:`labkit.banner` only when the hub profile runs on stand-ins; it applies to every request of the
    kernel from then on.
    """
    if any(getattr(h, "_standin_cap", False) for h in _REQUEST_HOOKS):
        return False

    def cap(options):
        if options.method != "post":
            return options
        return options.model_copy(update={   # extra_body: vLLM's min_tokens, or a limit sent that way
            "json_data": capped_request(options.url, options.json_data, limit),
            "extra_json": capped_request(options.url, options.extra_json, limit, set_missing=False)})

    cap._standin_cap = True
    _on_openai_request(cap)
    return True


def label_standin_outputs() -> bool:
    """After every cell in which a stand-in model ran, print :data:`STANDIN_LABEL`; True the first time.

    A stand-in "ran" when one of its modules was called in this kernel (a global forward pre-hook
    of torch) or when the cell sent a request to a model server through the ``openai`` client (the
    course's servers then serve the same stand-ins); a cell that draws a figure after a stand-in ran
    is labelled too (its data came from the stand-in).  Installed once by :func:`labkit.banner` when the
    hub profile runs on stand-ins, so no lesson cell has to label its own output; a real checkpoint's
    cells print nothing extra.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "_qwen_labs_standin_label", False):
        return False
    import torch

    ran = {"cell": False, "kernel": False}   # a stand-in ran in this cell / in this kernel so far

    def on_forward(module, _args):
        if not ran["cell"] and getattr(module, "name_or_path", None) and is_standin(module):
            ran["cell"] = ran["kernel"] = True

    def on_request(options):
        if options.method == "post":
            ran["cell"] = ran["kernel"] = True
        return options

    def on_figures(*_):   # post_execute runs before the inline backend shows (and closes) the cell's figures
        plt = sys.modules.get("matplotlib.pyplot")
        if ran["kernel"] and plt is not None and plt.get_fignums():
            ran["cell"] = True   # a figure drawn after a stand-in ran: its data is a stand-in's

    torch.nn.modules.module.register_module_forward_pre_hook(on_forward)
    _on_openai_request(on_request)
    shell.events.register("pre_run_cell", lambda *_: ran.__setitem__("cell", False))
    shell.events.register("post_execute", on_figures)

    def after(*_):
        if ran["cell"]:
            print(STANDIN_LABEL)

    shell.events.register("post_run_cell", after)
    shell._qwen_labs_standin_label = True
    return True


if __name__ == "__main__":
    sys.exit(main())
