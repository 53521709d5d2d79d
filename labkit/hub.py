"""The checkpoints the course loads under the hub profile, and where they are on this machine.

:data:`COURSE_MODELS` is the one list of the ``Qwen/...`` repositories the notebooks load under the
hub profile.  ``python -m labkit.download`` fetches exactly these, ``tools/course_map.py`` sizes
their GPU memory from them, and :mod:`labkit.standins` builds a tiny random checkpoint of each for
the tests.

A model is found, in this order, in

1. a local folder ``$QWEN_LABS_MODELS_DIR/<repo id>`` (e.g. ``models/Qwen/Qwen3-0.6B``), or
2. the Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``),
   the layout ``huggingface_hub`` writes and ``from_pretrained`` reads.

:func:`locate` says which, and whether the copy is complete (config, every weight file at its full
length, tokenizer, processor files); :func:`unavailable_error` is the one-line :class:`LabError` for a
model that is missing or broken.  Nothing here touches the network.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import LabError

DEFAULT_MODEL = "Qwen/Qwen3-0.6B"          # what labkit.load_model() loads under the hub profile
MODELS_DIR_VAR = "QWEN_LABS_MODELS_DIR"    # optional folder of <org>/<name>/ model folders
# The files a course checkpoint needs (weights, configs, tokenizer, processor, template, licence).
ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.jinja", "merges.txt", "LICENSE", "README.md")
SIZE_SOURCE = ("computed: parameters counted by labkit.architectures.count_params (the vision tower by "
               "labkit.selection) x 2 bytes (bf16, the checkpoints' dtype); tokenizer files not counted")
DOWNLOAD_COMMAND = "python -m labkit.download"
STANDIN_MARKER = "standin.json"            # written by labkit.standins into every stand-in checkpoint
# Random weights never emit end-of-sequence, so every generate() would run to its limit: on a stand-in,
# generate() writes at most this many new tokens (see cap_standin_generation).
STANDIN_MAX_NEW_TOKENS = 16
STANDIN_LABEL = "random-weight stand-in: what it says and scores is noise, only real weights give meaning"


@dataclass(frozen=True)
class HubModel:
    """One checkpoint the course loads under the hub profile."""

    repo_id: str
    notebooks: tuple[str, ...]   # the course notebooks that load it ("02"), solutions included
    loaded_by: str               # how those notebooks load it
    architecture: str            # the transformers class config.json names
    arch: str                    # key of labkit.architectures.CONFIGS with its language model's shapes
    tokenizer: str               # labkit.tokenizer family of its tokenizer
    params: int                  # all parameters, vision tower included (SIZE_SOURCE)
    vision_params: int = 0       # of which in the vision tower (labkit.selection)
    processor: bool = False      # ships an image processor (preprocessor_config.json)
    note: str = ""

    @property
    def name(self) -> str:
        """The repository name without ``Qwen/``."""
        return self.repo_id.split("/", 1)[-1]

    @property
    def download_bytes(self) -> int:
        """Bytes of its bf16 weights (SIZE_SOURCE): what a download moves, give or take the tokenizer."""
        return 2 * self.params

    @property
    def download_gb(self) -> float:
        return self.download_bytes / 1e9


COURSE_MODELS: tuple[HubModel, ...] = (
    HubModel(DEFAULT_MODEL, ("00", "02", "03", "04", "05", "06", "07", "08", "09"),
             "labkit.load_model() and labkit.resolve_model_id() with no id; 00 loads its tokenizer only; 07 also "
             "serves it (transformers serve, llama.cpp, vLLM); 08 serves and exports it with every engine",
             "Qwen3ForCausalLM", "Qwen3-0.6B", "qwen3", 596_049_920),
    HubModel("Qwen/Qwen2.5-Coder-1.5B-Instruct", ("02",), "AutoModelForCausalLM in 02's hub_chat",
             "Qwen2ForCausalLM", "Qwen2.5-1.5B", "qwen2.5", 1_543_714_304,
             note="sized as Qwen2.5-1.5B (its card: same parameters, layers and heads)"),
    HubModel("Qwen/Qwen2.5-Math-1.5B-Instruct", ("02",), "AutoModelForCausalLM in 02's hub_chat",
             "Qwen2ForCausalLM", "Qwen2.5-1.5B", "qwen2.5", 1_543_714_304,
             note="sized as Qwen2.5-1.5B (its card: 'deployed in the same way as Qwen2.5'); its own chat "
                  "template's default system prompt is not reproduced by the stand-in"),
    HubModel("Qwen/Qwen2.5-VL-3B-Instruct", ("02",), "AutoModelForImageTextToText and AutoProcessor in 02 §10",
             "Qwen2_5_VLForConditionalGeneration", "Qwen2.5-3B", "qwen2.5", 3_085_938_688 + 668_684_288,
             vision_params=668_684_288, processor=True,
             note="sized as Qwen2.5-3B + its vision tower (labkit.selection)"),
)


def get(repo_id: str) -> HubModel:
    """The :class:`HubModel` of ``repo_id``, or a :class:`LabError` listing the course's models."""
    for model in COURSE_MODELS:
        if model.repo_id == repo_id:
            return model
    raise LabError(f"{repo_id!r} is not one of the course's hub models.",
                   f"use one of: {', '.join(m.repo_id for m in COURSE_MODELS)}.")


def find(repo_id: str) -> HubModel | None:
    """The :class:`HubModel` of ``repo_id``, or None for a model the course does not list."""
    return next((m for m in COURSE_MODELS if m.repo_id == repo_id), None)


# ------------------------------------------------------------------------------ where models are
def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def offline_env() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids the network."""
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def go_offline() -> None:
    """Put this process, and the processes it starts, in huggingface_hub's offline mode.

    What ``HF_HUB_OFFLINE=1`` at start-up does: transformers then reads the cache only, instead of
    asking an unreachable Hub for every file (with retries that take tens of seconds per load).
    Used when the Hub cannot be reached and the cache holds the model; restart to go online again.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True   # read at import; transformers' is_offline_mode() reads it at each call


def cache_dir() -> Path:
    """The Hugging Face cache, read from the environment now (as huggingface_hub resolves it at import)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def models_dir() -> Path | None:
    """``$QWEN_LABS_MODELS_DIR`` (folders ``<org>/<name>/`` with the files of each repository), if set."""
    value = os.environ.get(MODELS_DIR_VAR, "").strip()
    return Path(value).expanduser() if value else None


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    """``<cache>/models--Qwen--Qwen3-0.6B``: the cache folder of one repository."""
    return Path(cache or cache_dir()) / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True)
class Location:
    """Where ``repo_id`` is on this machine: ``local`` / ``cached`` (complete), ``missing`` or ``broken``."""

    repo_id: str
    state: str
    path: Path | None = None     # the folder with its files (a snapshot, or the local folder)
    cache: Path | None = None
    problem: str = ""            # for ``broken``: what is wrong

    @property
    def ok(self) -> bool:
        return self.state in ("local", "cached")


def _safetensors_problem(path: Path) -> str:
    """'' when a .safetensors file is as long as its own header says, else what is wrong."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or 8 + n > size:
                return f"{path.name} is truncated ({size:,} bytes, not even its header)"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as exc:
        return f"{path.name} cannot be read ({type(exc).__name__})"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        return f"{path.name} is truncated ({size:,} of {8 + n + end:,} bytes)"
    return ""


def folder_problems(folder: Path, model: HubModel | None = None) -> list[str]:
    """What a checkpoint folder lacks to load: config, every weight shard at full length, tokenizer."""
    have = lambda name: (folder / name).is_file()  # noqa: E731  (is_file: a dangling blob link is missing)
    problems = [] if have("config.json") else ["config.json is missing"]
    if have("model.safetensors.index.json"):
        try:
            shards = sorted(set(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError):
            return problems + ["model.safetensors.index.json cannot be read"]
    elif have("model.safetensors"):
        shards = ["model.safetensors"]
    else:
        return problems + ["model.safetensors is missing"]
    for shard in shards:
        problem = _safetensors_problem(folder / shard) if have(shard) else f"{shard} is missing"
        if problem:
            problems.append(problem)
    if not have("tokenizer.json") and not (have("vocab.json") and have("merges.txt")):
        problems.append("tokenizer.json is missing")
    if not have("tokenizer_config.json"):
        problems.append("tokenizer_config.json is missing")
    if model is not None and model.processor and not have("preprocessor_config.json"):
        problems.append("preprocessor_config.json is missing")
    return problems


def incomplete_blobs(repo_id: str, cache: Path | None = None) -> list[Path]:
    """The ``blobs/*.incomplete`` files an interrupted download left (huggingface_hub resumes from them)."""
    return sorted((repo_folder(repo_id, cache) / "blobs").glob("*.incomplete"))


def locate(repo_id: str, cache: Path | None = None, *, local_folders: bool = True) -> Location:
    """Find ``repo_id`` in ``$QWEN_LABS_MODELS_DIR`` (unless ``local_folders`` is False) or the Hugging
    Face cache, and check that the copy is complete."""
    model = find(repo_id)
    cache = Path(cache or cache_dir())
    local = models_dir() if local_folders else None
    if local is not None and (local / repo_id).is_dir():
        problems = folder_problems(local / repo_id, model)
        return Location(repo_id, "broken" if problems else "local", local / repo_id, cache, "; ".join(problems))
    folder = repo_folder(repo_id, cache)
    if not folder.is_dir():
        return Location(repo_id, "missing", None, cache)
    from huggingface_hub import try_to_load_from_cache

    partial = incomplete_blobs(repo_id, cache)
    config = try_to_load_from_cache(repo_id, "config.json", cache_dir=str(cache))
    snapshot = Path(config).parent if isinstance(config, str) else None
    problems = [f"an interrupted download left {len(partial)} .incomplete file(s) in {folder / 'blobs'}"] if partial else []
    if snapshot is None:
        refs = folder / "refs" / "main"
        problems.append("no complete snapshot (config.json missing)" if refs.is_file() else "refs/main is missing")
    else:
        problems += folder_problems(snapshot, model)
    return Location(repo_id, "broken" if problems else "cached", snapshot or folder, cache, "; ".join(problems))


def download_command(repo_id: str, cache: Path | None = None) -> str:
    """The command that fetches ``repo_id`` into ``cache`` (labkit.download for the course's models)."""
    default = cache is None or Path(cache) == cache_dir()
    where = "" if default else f" --cache {cache}"
    if find(repo_id):
        return f"{DOWNLOAD_COMMAND} --only {repo_id}{where}"
    return f"hf download {repo_id}" + ("" if default else f" --cache-dir {cache}")


def size_text(repo_id: str) -> str:
    """``"1.19 GB"`` for a course model (computed, SIZE_SOURCE), ``"size unknown"`` for another."""
    model = find(repo_id)
    return f"{model.download_gb:.2f} GB" if model else "size unknown"


def unavailable_error(loc: Location, host: str, offline: bool) -> LabError:
    """The one-line error for a model that cannot be loaded here: missing (and no Hub) or broken."""
    fallback = "or run with QWEN_LABS_PROFILE=offline (the nano model needs no network)"
    cache = loc.cache or cache_dir()
    if loc.state == "broken":
        where = f"{loc.repo_id} in {loc.path}" if loc.path else loc.repo_id
        return LabError(f"the copy of {where} is incomplete: {loc.problem}.",
                        f"complete it with `{download_command(loc.repo_id, cache)}` (it resumes; needs network), "
                        f"or delete {repo_folder(loc.repo_id, cache)} and download again; {fallback}.")
    why = "HF_HUB_OFFLINE=1 is set" if offline else f"{host} cannot be reached"
    also = " (all the course's models: `bash run.sh download`)" if find(loc.repo_id) else ""
    return LabError(f"{loc.repo_id} ({size_text(loc.repo_id)}) is not in the Hugging Face cache {cache} and {why}.",
                    f"fetch it on a machine with network: `{download_command(loc.repo_id, cache)}`{also}, "
                    f"then point HF_HUB_CACHE at that cache; {fallback}.")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def write_cache_entry(files: Path, repo_id: str, cache: Path, commit: str) -> Path:
    """Move a checkpoint folder's files into ``cache`` the way huggingface_hub lays out a download.

    Each file becomes ``blobs/<sha256>``, linked from ``snapshots/<commit>/<name>``; ``refs/main``
    names the commit.  Built beside the target and renamed into place (replacing what was there),
    so a reader never sees half an entry.  Returns the snapshot folder.
    """
    target = repo_folder(repo_id, cache)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    snapshot = tmp / "snapshots" / commit
    for path in sorted(p for p in Path(files).rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(files)
        digest = _sha256(path)
        blob = tmp / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.move(str(path), blob)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(target / "blobs" / digest, target / "snapshots" / commit / rel.parent))
    (tmp / "refs").mkdir(parents=True)
    (tmp / "refs" / "main").write_text(commit)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target / "snapshots" / commit


# ------------------------------------------------------------------------------ stand-ins
def standin_folder(model_or_id) -> Path | None:
    """The folder of a stand-in checkpoint (:mod:`labkit.standins`) that ``model_or_id`` was loaded
    from, or None for a real checkpoint.  Takes a model, a tokenizer, a processor, a repo id or a path."""
    name = model_or_id if isinstance(model_or_id, (str, Path)) else getattr(model_or_id, "name_or_path", None)
    if not name:
        return None
    return _standin_folder(str(name), str(cache_dir()), os.environ.get(MODELS_DIR_VAR, ""))


@lru_cache(maxsize=64)
def _standin_folder(name: str, cache: str, models: str) -> Path | None:
    folder = Path(name)
    if not folder.is_dir():
        if "/" not in name or name.startswith(("/", ".")):
            return None
        folder = locate(name, Path(cache)).path
    return folder if folder is not None and (folder / STANDIN_MARKER).is_file() else None


def is_standin(model_or_id) -> bool:
    """True when ``model_or_id`` (a model, tokenizer, repo id or path) is a random-weight stand-in."""
    return standin_folder(model_or_id) is not None


def standin_note(model_or_id, what: str = "") -> str:
    """``""`` for a real checkpoint; for a stand-in one line to print beside a number or an output that
    only real weights give meaning, e.g. ``standin_note(model, "accuracy")``."""
    if not is_standin(model_or_id):
        return ""
    return f"({what + ': ' if what else ''}{STANDIN_LABEL})"


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


def note(model_or_id, what: str = "") -> None:
    """Print :func:`standin_note` under a number only real weights give meaning; nothing for a real model."""
    text = standin_note(model_or_id, what)
    if text:
        print(text)
