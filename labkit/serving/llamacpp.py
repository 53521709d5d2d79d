"""GGUF files for llama.cpp and Ollama, made by llama.cpp's own converter and quantizer.

* :func:`converter` finds llama.cpp's ``convert_hf_to_gguf.py`` (it is in the
  llama-cpp-python source package: the first call unpacks it from pip's copy of that
  package, ``pip download``, into ``build/engines/``).
* :func:`to_gguf` converts a Hugging Face model folder to one GGUF at ``BF16``,
  ``F32``, ``Q8_0`` (both straight from the converter) or ``Q4_K_M`` (the BF16 file
  re-quantized by llama.cpp's ``llama_model_quantize``).  The file carries the
  weights, the tokenizer and the chat template, so llama.cpp and Ollama need nothing
  else.  Results are kept under ``build/engines/gguf/`` by a hash of the model's files.  Notebook 09 runs the
  same two steps in view (the converter's command line, then ``llama_cpp.llama_model_quantize``).
* :func:`gguf_summary` reads what a GGUF file holds from its header.

The converter runs with the course's transformers: the copy vendored in
llama-cpp-python 0.3.36 asks for transformers 4.57, which cannot read Qwen3's
tokenizer config (``extra_special_tokens`` is a list there) and fails with a
misleading protobuf message.

Used in notebooks 09, 12.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

from labkit.errors import LabError

QUANTS = ("BF16", "F32", "Q8_0", "Q4_K_M")
# the converter's own --outtype for the types it writes directly
_OUTTYPE = {"BF16": "bf16", "F32": "f32", "Q8_0": "q8_0"}
# llama.h's llama_ftype for the types llama_model_quantize makes
_FTYPE = {"Q4_K_M": 15}


def engines_dir() -> Path:
    """Where the engines' files go: ``build/engines`` in the course's checkout."""
    return Path(__file__).resolve().parents[2] / "build" / "engines"


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version (raises :class:`LabError` when it is missing)."""
    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        raise LabError("llama-cpp-python is not installed.",
                       '`bash run.sh engines` (pip install -e ".[engines]": builds llama.cpp, a few minutes).') from None


def converter() -> Path:
    """``convert_hf_to_gguf.py`` of the installed llama-cpp-python's llama.cpp (unpacked on first use)."""
    version = llama_cpp_version()
    home = engines_dir() / f"llama.cpp-{version}"
    script = home / "convert_hf_to_gguf.py"
    if script.exists():
        return script
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                              "--quiet", "-d", tmp, f"llama-cpp-python=={version}"], capture_output=True, text=True)
        archives = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if got.returncode != 0 or not archives:
            raise LabError(f"could not fetch llama-cpp-python {version}'s source for its converter: "
                           f"{(got.stderr or got.stdout).strip()[-300:]}",
                           "check that pip can reach its index, then rerun.")
        part = home.with_name(f"{home.name}.partial-{os.getpid()}")
        with tarfile.open(archives[0]) as tar:
            wanted = [m for m in tar.getmembers()
                      if "/vendor/llama.cpp/" in m.name and _wanted(m.name.split("/vendor/llama.cpp/", 1)[1])]
            for m in wanted:
                m.name = m.name.split("/vendor/llama.cpp/", 1)[1]
            tar.extractall(part, members=wanted, filter="data")
        try:
            part.rename(home)
        except OSError:  # another process unpacked it first
            shutil.rmtree(part, ignore_errors=True)
    return script


def _wanted(rel: str) -> bool:
    return rel == "convert_hf_to_gguf.py" or rel.startswith(("conversion/", "gguf-py/"))


def model_digest(model_dir: str | Path) -> str:
    """A short hash of a model folder's weights, config and tokenizer files (names a converted copy)."""
    h = hashlib.sha256()
    for f in sorted(Path(model_dir).iterdir()):
        if f.suffix in (".safetensors", ".json", ".jinja") and f.is_file():
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:12]


def to_gguf(model_dir: str | Path, quant: str = "Q8_0", out_dir: str | Path | None = None,
            *, verbose: bool = False) -> Path:
    """The GGUF of ``model_dir`` at ``quant`` (one of :data:`QUANTS`), converted once and reused.

    Raises :class:`LabError` with the end of the converter's output when it fails.
    """
    quant = quant.upper()
    if quant not in QUANTS:
        raise LabError(f"unknown GGUF type {quant!r}.", f"use one of {', '.join(QUANTS)}.")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise LabError(f"{model_dir} is not a model folder (no config.json).",
                       "pass the folder of a Hugging Face checkpoint (labkit.nano_path(), or hub.locate(id).path).")
    out_dir = Path(out_dir) if out_dir else engines_dir() / "gguf" / f"{model_dir.name}-{model_digest(model_dir)}"
    out = out_dir / f"{model_dir.name}-{quant}.gguf"
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    part = Path(f"{out}.partial-{os.getpid()}")  # per process: two runs may convert the same model at once
    if quant in _FTYPE:
        source = to_gguf(model_dir, "BF16", out_dir, verbose=verbose)
        _run([sys.executable, "-c", _QUANTIZE, str(source), str(part), str(_FTYPE[quant])],
             f"llama_model_quantize to {quant}", verbose)
    else:
        _run([sys.executable, str(converter()), str(model_dir), "--outtype", _OUTTYPE[quant],
              "--outfile", str(part), *_model_args(model_dir)], "convert_hf_to_gguf.py", verbose)
    part.rename(out)  # atomic: a reader sees no file or a whole one
    return out


def _model_args(model_dir: Path) -> list[str]:
    """Qwen3.5 checkpoints carry a multi-token-prediction (MTP) layer that llama-cpp-python does not use, and the
    converter requires it unless told to leave it out (``--no-mtp``; a model without one, like the nano Qwen3.5,
    does not convert otherwise)."""
    model_type = json.loads((model_dir / "config.json").read_text()).get("model_type")
    return ["--no-mtp"] if model_type in ("qwen3_5", "qwen3_5_text", "qwen3_5_moe") else []


# Runs in a child process: a crash in llama.cpp's C code must not take the notebook's kernel with it.
_QUANTIZE = """import sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = int(sys.argv[3])
params.nthread = 0
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), params)
sys.exit(rc)
"""


def _run(cmd: list[str], what: str, verbose: bool) -> None:
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if verbose or done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
        if done.returncode != 0:
            raise LabError(f"{what} failed (exit code {done.returncode}):\n{tail}",
                           "read the lines above; the converter needs the course's transformers and gguf.")
        print(tail)
    if verbose:
        print(f"{what}: {time.perf_counter() - began:.1f} s")


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def gguf_summary(path: str | Path) -> dict:
    """What a GGUF file holds: its size, its tensor types (by count), and whether the tokenizer and
    the chat template are inside.

    Reads only the header (``gguf.GGUFReader`` also parses every one of the 151,669
    token strings, which takes seconds): keys, then the tensor infos, per the GGUF spec.
    """

    import gguf

    sizes = {gguf.GGUFValueType.UINT8: 1, gguf.GGUFValueType.INT8: 1, gguf.GGUFValueType.UINT16: 2,
             gguf.GGUFValueType.INT16: 2, gguf.GGUFValueType.UINT32: 4, gguf.GGUFValueType.INT32: 4,
             gguf.GGUFValueType.FLOAT32: 4, gguf.GGUFValueType.BOOL: 1, gguf.GGUFValueType.UINT64: 8,
             gguf.GGUFValueType.INT64: 8, gguf.GGUFValueType.FLOAT64: 8}
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the header of a small model; tensor data follows it
    pos = 4 + 4  # magic, version

    def u64() -> int:
        nonlocal pos
        pos += 8
        return struct.unpack_from("<Q", data, pos - 8)[0]

    def skip_value(vtype: int) -> None:
        nonlocal pos
        if vtype == gguf.GGUFValueType.STRING:
            length = u64()
            pos += length
        elif vtype == gguf.GGUFValueType.ARRAY:
            etype = struct.unpack_from("<I", data, pos)[0]
            pos += 4
            count = u64()
            if etype in sizes:
                pos += sizes[etype] * count
            else:
                for _ in range(count):
                    skip_value(etype)
        else:
            pos += sizes[vtype]

    n_tensors, n_kv = u64(), u64()
    keys = set()
    for _ in range(n_kv):
        key = data[pos + 8:pos + 8 + struct.unpack_from("<Q", data, pos)[0]].decode()
        pos += 8 + len(key.encode())
        keys.add(key)
        vtype = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        skip_value(vtype)
    types: Counter = Counter()
    for _ in range(n_tensors):
        length = u64()  # the name
        pos += length
        n_dims = struct.unpack_from("<I", data, pos)[0]
        pos += 4 + 8 * n_dims
        types[gguf.GGMLQuantizationType(struct.unpack_from("<I", data, pos)[0]).name] += 1
        pos += 4 + 8  # type, offset
    return {"file": Path(path).name, "MB": round(Path(path).stat().st_size / 1e6, 2),
            "tensor types": dict(types.most_common()),
            "chat template inside": "tokenizer.chat_template" in keys,
            "tokenizer inside": "tokenizer.ggml.tokens" in keys}
