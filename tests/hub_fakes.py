"""Fake Hugging Face cache entries for the tests of labkit.hub, profile and download (no torch, no model).

``fake_checkpoint`` writes the files a checkpoint folder needs (config, a valid one-tensor
safetensors file, tokenizer files) in milliseconds; ``fake_entry`` files it into a cache in
huggingface_hub's layout with :func:`labkit.hub.lookup.write_cache_entry`.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from labkit.hub import checkpoints, lookup


def safetensors_bytes(n_floats: int = 4) -> bytes:
    """A valid safetensors file with one float32 tensor ``w`` of ``n_floats`` values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * n_floats)


def fake_checkpoint(folder: Path, processor: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "qwen3"}')
    (folder / "model.safetensors").write_bytes(safetensors_bytes())
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    if processor:
        (folder / "preprocessor_config.json").write_text("{}")
    return folder


def fake_entry(cache: Path, repo_id: str = checkpoints.DEFAULT_MODEL, commit: str = "c" * 40) -> Path:
    """A complete fake entry of ``repo_id`` in ``cache``; returns its snapshot folder."""
    model = checkpoints.find(repo_id)
    files = fake_checkpoint(cache.parent / f"files-{repo_id.replace('/', '-')}", bool(model and model.processor))
    return lookup.write_cache_entry(files, repo_id, cache, commit)


def blob_of(snapshot: Path, name: str) -> Path:
    """The blob a snapshot's file links to."""
    return (snapshot / name).resolve()
