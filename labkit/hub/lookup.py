"""Where a checkpoint is: the Hub's address, a local folder, the Hugging Face cache, and what a copy lacks.

A model is found, in this order, in

1. a local folder ``$QWEN_LABS_MODELS_DIR/<repo id>`` (e.g. ``models/Qwen/Qwen3-0.6B``), or
2. the Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``),
   the layout ``huggingface_hub`` writes and ``from_pretrained`` reads, or
3. the Hub itself (:func:`hub_endpoint`: ``$HF_ENDPOINT`` or huggingface.co), when it answers.

:func:`locate` says which, and whether the copy is complete (config, every weight file at its full
length, tokenizer, processor files); :func:`unavailable_error` is the one-line :class:`LabError` for a
model that is missing or broken.  Nothing here downloads; :func:`hub_reachable` only opens a TCP connection.

Used by :mod:`labkit.profile` and :mod:`labkit.models` (every notebook), the download command and the stand-ins.

Used by labkit.hub.download, labkit.hub.standins, labkit.models, labkit.profile, labkit.serving.serve, labkit.serving.servers.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from labkit.errors import LabError
from labkit.hub.checkpoints import DOWNLOAD_COMMAND, HubModel, find, size_text

MODELS_DIR_VAR = "QWEN_LABS_MODELS_DIR"    # optional folder of <org>/<name>/ model folders
HUB_HOST = "huggingface.co"


def hub_endpoint() -> str:
    """The Hub's address: ``$HF_ENDPOINT`` (a mirror) or ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or f"https://{HUB_HOST}").rstrip("/")


def hub_host() -> str:
    """The host name of :func:`hub_endpoint`, e.g. ``huggingface.co``."""
    return urlparse(hub_endpoint()).hostname or HUB_HOST


def can_connect(url: str, timeout: float = 1.5) -> bool:
    """True when a TCP connection to ``url``'s host and port opens within ``timeout`` s."""
    parsed = urlparse(url)
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except (OSError, UnicodeError):
        return False


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 1.5) -> bool:
    """True when a TCP connection to the Hub (:func:`hub_endpoint`) opens within ``timeout`` s.

    Honors ``HF_HUB_OFFLINE=1`` (then always False) and is cached for the session.
    """
    if offline_env():
        return False
    return can_connect(hub_endpoint(), timeout)


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
    """The command that fetches ``repo_id`` into ``cache`` (labkit.hub.download for the course's models)."""
    default = cache is None or Path(cache) == cache_dir()
    where = "" if default else f" --cache {cache}"
    if find(repo_id):
        return f"{DOWNLOAD_COMMAND} --only {repo_id}{where}"
    return f"hf download {repo_id}" + ("" if default else f" --cache-dir {cache}")


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
