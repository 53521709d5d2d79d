"""Fetch the course's hub checkpoints into a Hugging Face cache a lab can share.

    python -m labkit.hub.download [--cache DIR] [--source hf|modelscope] [--only ID ...] [--dry-run]
    bash run.sh download [...]            # the same

It fetches exactly :data:`labkit.hub.checkpoints.COURSE_MODELS` (or the ``--only`` ids among them) into ``--cache``
(default: the Hugging Face cache, ``$HF_HUB_CACHE`` or ``$HF_HOME/hub``), in the layout
``from_pretrained`` reads.  An instructor fills one folder on a machine with network and points every
learner at it::

    HF_HUB_OFFLINE=1 HF_HUB_CACHE=/shared/qwen-cache QWEN_LABS_PROFILE=hub jupyter lab

Before it starts it lists each model, its size (the Hub's file list when the Hub answers, else the
computed size of :data:`labkit.hub.checkpoints.SIZE_SOURCE`) and the total.  A model already complete in the cache is
reported present and not fetched.  ``huggingface_hub`` draws the progress bars and resumes an interrupted
download from its ``.incomplete`` files; a run that fails before any byte arrives leaves nothing behind.

``--source modelscope`` fetches the same ``Qwen/...`` repositories from ModelScope (for learners who
reach ModelScope but not the Hugging Face Hub) with the ``modelscope`` package (``pip install modelscope``:
it needs no torch) and files them into the same cache layout.

Exit status: 0 done (or nothing to do), 1 a problem printed as one line (no network, no disk space, a
failed download), 2 bad arguments.

Used by the command `python -m labkit.hub.download`.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit.hub import checkpoints, lookup

MODELSCOPE_URL = "https://www.modelscope.cn"
MODELSCOPE_INSTALL = "pip install \"qwen-labs[modelscope]\" (or pip install modelscope)"
SPACE_MARGIN = 1.05   # ask for 5 % more free space than the files need


@dataclass
class Row:
    model: checkpoints.HubModel
    state: str          # "present", "missing" or "broken"
    size: int           # bytes to fetch (0 when present)
    note: str = ""


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def plan(models: list[checkpoints.HubModel], cache: Path) -> list[Row]:
    """What is present in ``cache`` and what is to fetch, with computed sizes."""
    rows = []
    for m in models:
        loc = lookup.locate(m.repo_id, cache, local_folders=False)
        if loc.state == "cached":
            rows.append(Row(m, "present", 0))
        else:
            rows.append(Row(m, loc.state, m.download_bytes, loc.problem))
    return rows


def hub_sizes(rows: list[Row], cache: Path, endpoint: str) -> None:
    """Replace the computed sizes by what the Hub's file list says is left to fetch (dry run)."""
    from huggingface_hub import snapshot_download

    for row in rows:
        if row.state != "present":
            files = snapshot_download(row.model.repo_id, cache_dir=cache, allow_patterns=list(checkpoints.ALLOW_PATTERNS),
                                      endpoint=endpoint, dry_run=True)
            row.size = sum(f.file_size or 0 for f in files if f.will_download)


def print_plan(rows: list[Row], cache: Path, sizes_from: str) -> int:
    """The table shown before anything is fetched; returns the bytes to fetch."""
    print(f"The course's hub checkpoints, in the Hugging Face cache {cache}:")
    for row in rows:
        what = {"present": "present, nothing to fetch", "missing": "to fetch",
                "broken": f"incomplete, to complete ({row.note})"}[row.state]
        size = "" if row.state == "present" else _gb(row.size)
        print(f"  {row.model.repo_id:<36} {size:>9}  {what}")
    total = sum(r.size for r in rows)
    if total:
        print(f"Total to fetch: {_gb(total)} ({sizes_from}).")
    return total


def _free_bytes(path: Path) -> int:
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _snapshot_state(cache: Path) -> set[Path]:
    """Every file and folder under ``cache`` now (to remove only what a failed run added)."""
    return set(cache.rglob("*")) if cache.exists() else set()


def clean_after_failure(cache: Path, before: set[Path], cache_existed: bool) -> int:
    """Remove what a failed run added that holds no data: empty ``.incomplete`` files, locks, a repository
    folder with no blob, empty folders.  Data already fetched (blobs, partial ``.incomplete`` files)
    stays, so the same command resumes from it.  Returns the bytes kept."""
    for path in _snapshot_state(cache) - before:
        if path.is_file() and not path.is_symlink() and (
                path.name.endswith(".lock") or (path.name.endswith(".incomplete") and path.stat().st_size == 0)):
            path.unlink()
    for folder in [p for p in cache.glob("models--*") if p not in before]:
        blobs = folder / "blobs"
        if not (blobs.is_dir() and any(blobs.iterdir())):
            shutil.rmtree(folder, ignore_errors=True)
    added = _snapshot_state(cache) - before
    for path in sorted(added, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
    if not cache_existed and cache.is_dir() and not any(cache.iterdir()):
        cache.rmdir()
    return sum(p.stat().st_size for p in _snapshot_state(cache) - before if p.is_file() and not p.is_symlink())


def fetch_hf(model: checkpoints.HubModel, cache: Path, endpoint: str) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(model.repo_id, cache_dir=cache, allow_patterns=list(checkpoints.ALLOW_PATTERNS), endpoint=endpoint)


def fetch_modelscope(model: checkpoints.HubModel, cache: Path) -> None:
    """Download from ModelScope into a side folder, then file it into the Hugging Face cache layout."""
    from modelscope import snapshot_download

    side = cache / f".modelscope-{model.name}"
    snapshot_download(model.repo_id, local_dir=str(side), allow_patterns=list(checkpoints.ALLOW_PATTERNS))
    for extra in [p for p in side.iterdir() if p.name.startswith(".")]:   # modelscope's own bookkeeping
        shutil.rmtree(extra, ignore_errors=True) if extra.is_dir() else extra.unlink()
    commit = hashlib.sha1(f"modelscope:{model.repo_id}".encode()).hexdigest()
    lookup.write_cache_entry(side, model.repo_id, cache, commit)
    shutil.rmtree(side, ignore_errors=True)


def check_source(source: str) -> str:
    """'' when ``source`` can be reached, else the one-line reason."""
    if source == "modelscope":
        try:
            import modelscope  # noqa: F401
        except ImportError:
            return f"--source modelscope needs the modelscope package: {MODELSCOPE_INSTALL}, then run this again"
        url = os.environ.get("MODELSCOPE_DOMAIN", MODELSCOPE_URL)
        url = url if "://" in url else f"https://{url}"
        if not lookup.can_connect(url):
            return f"cannot reach ModelScope ({url}): nothing was fetched; run this on a machine with network"
        return ""
    if lookup.offline_env():
        return "HF_HUB_OFFLINE=1 is set, so nothing can be fetched: unset it, or fetch on a machine with network"
    if not lookup.can_connect(lookup.hub_endpoint()):
        return (f"cannot reach {lookup.hub_endpoint()}: nothing was fetched; run this on a machine with network "
                "(or --source modelscope where ModelScope answers)")
    return ""


def run(cache: Path, source: str = "hf", only: list[str] | None = None, dry_run: bool = False) -> int:
    """The command without its argument parsing; returns the exit status."""
    models = [checkpoints.get(r) for r in only] if only else list(checkpoints.COURSE_MODELS)
    rows = plan(models, cache)
    todo = [r for r in rows if r.state != "present"]
    if not todo:
        print_plan(rows, cache, checkpoints.SIZE_SOURCE)
        print("Nothing to fetch: every checkpoint is complete in the cache.")
        return 0
    problem = check_source(source)
    if problem and not dry_run:
        print(problem)
        return 1
    sizes_from = checkpoints.SIZE_SOURCE
    if source == "hf" and not problem:
        try:
            hub_sizes(rows, cache, lookup.hub_endpoint())
            sizes_from = f"sizes from {lookup.hub_host()}'s file list"
        except Exception as exc:  # noqa: BLE001 (any failure here: keep the computed sizes)
            sizes_from += f"; the Hub's file list could not be read: {type(exc).__name__}"
    total = print_plan(rows, cache, sizes_from)
    if dry_run:
        print("Dry run: nothing was fetched.")
        return 0
    free = _free_bytes(cache)
    if free < total * SPACE_MARGIN:
        print(f"not enough disk space in {cache}: {_gb(free)} free, {_gb(total)} needed; free some space or "
              "choose another --cache")
        return 1
    cache_existed = cache.exists()
    before = _snapshot_state(cache)
    for row in todo:
        print(f"Fetching {row.model.repo_id} from {'ModelScope' if source == 'modelscope' else lookup.hub_host()}")
        try:
            fetch_modelscope(row.model, cache) if source == "modelscope" else fetch_hf(row.model, cache,
                                                                                       lookup.hub_endpoint())
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 (network, disk, server: one line each)
            kept = clean_after_failure(cache, before, cache_existed)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            resume = (f"; {_gb(kept)} already fetched is kept and the same command resumes it" if kept
                      else "; nothing half-written was left")
            print(f"fetching {row.model.repo_id} stopped: {type(exc).__name__}: {first[:200]}{resume}")
            return 130 if isinstance(exc, KeyboardInterrupt) else 1
        loc = lookup.locate(row.model.repo_id, cache, local_folders=False)
        if loc.state != "cached":
            print(f"{row.model.repo_id} arrived incomplete: {loc.problem}; run the same command again")
            return 1
    print(f"Done. Use it with: HF_HUB_CACHE={cache} HF_HUB_OFFLINE=1 QWEN_LABS_PROFILE=hub")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.hub.download",
                                 description="Fetch the checkpoints the course loads under the hub profile.")
    ap.add_argument("--cache", type=Path, default=None,
                    help="the Hugging Face cache to fill (default: $HF_HUB_CACHE or $HF_HOME/hub)")
    ap.add_argument("--source", choices=("hf", "modelscope"), default="hf",
                    help="hf: the Hugging Face Hub ($HF_ENDPOINT); modelscope: ModelScope (needs the modelscope package)")
    ap.add_argument("--only", nargs="+", metavar="ID", choices=[m.repo_id for m in checkpoints.COURSE_MODELS],
                    help="only these repository ids")
    ap.add_argument("--dry-run", action="store_true", help="show what would be fetched, and the sizes; fetch nothing")
    args = ap.parse_args(argv)
    cache = (args.cache or lookup.cache_dir()).expanduser().resolve()
    return run(cache, args.source, args.only, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
