"""ONNX Runtime: export a Qwen checkpoint with onnxruntime-genai's model builder and generate with it.

* :func:`export` runs :func:`builder_command`, ``python -m onnxruntime_genai.models.builder -i MODEL -o OUT
  -p fp32|int8 -e cpu`` (offline; the result is kept under ``build/engines/onnx/`` by a hash of the model's files).
* :class:`OnnxChat` is the generation loop notebook 09 writes out (``og.GeneratorParams``, ``og.Generator``,
  ``append_tokens``, ``generate_next_token`` until ``is_done()``), as a class: greedy, token by token.
  The prompt is rendered by the model's own tokenizer and chat template (genai's
  ``apply_chat_template`` fails on Qwen3's template: its Jinja engine cannot run
  ``messages|reverse``), so it is the very prompt transformers sees.

No server: ONNX Runtime is the engine inside an application (phones, Windows,
the browser), so the course calls it in-process.

Used in notebook 09.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.errors import LabError
from labkit.serving.llamacpp import engines_dir, model_digest

PRECISIONS = ("fp32", "int8")


def export(model_dir: str | Path, precision: str = "fp32", out_dir: str | Path | None = None) -> Path:
    """The ONNX Runtime GenAI export of ``model_dir`` at ``precision`` (``fp32`` or ``int8``), made once."""
    if precision not in PRECISIONS:
        raise LabError(f"unknown precision {precision!r}.", f"use one of {', '.join(PRECISIONS)}.")
    _require()
    model_dir = Path(model_dir)
    out = Path(out_dir) if out_dir else (engines_dir() / "onnx" /
                                         f"{model_dir.name}-{model_digest(model_dir)}-{precision}")
    if (out / "genai_config.json").exists():
        return out
    part = out.with_name(f"{out.name}.partial-{os.getpid()}")  # per process: two runs may export at once
    cache = out.with_name(f"{out.name}.cache-{os.getpid()}")
    cmd = builder_command(model_dir, part, precision) + ["-c", str(cache)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
        raise LabError(f"onnxruntime-genai's model builder failed (exit code {done.returncode}):\n{tail}",
                       "read the lines above.")
    shutil.rmtree(cache, ignore_errors=True)
    try:
        part.rename(out)
    except OSError:  # another process finished the same export first
        shutil.rmtree(part, ignore_errors=True)
    return out


def builder_command(model_dir: str | Path, out_dir: str | Path, precision: str = "fp32") -> list[str]:
    """onnxruntime-genai's model builder on a Hugging Face folder, for the CPU: the command :func:`export` runs."""
    return [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir), "-o", str(out_dir),
            "-p", precision, "-e", "cpu"]


def _require() -> None:
    try:
        import onnxruntime_genai  # noqa: F401
    except ImportError:
        raise LabError("onnxruntime-genai is not installed.", '`bash run.sh engines` (pip install -e ".[engines]").') from None


def folder_mb(path: str | Path) -> float:
    """The size of the files in a folder, in MB."""
    return round(sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file()) / 1e6, 2)


def large_tensors(onnx_dir: str | Path, min_values: int = 1_000_000) -> list[tuple[str, list[int], str]]:
    """The export's weight tensors with at least ``min_values`` values: (name, shape, data type)."""
    import onnx

    graph = onnx.load(str(Path(onnx_dir) / "model.onnx"), load_external_data=False).graph
    out = []
    for t in graph.initializer:
        if math.prod(t.dims) >= min_values:
            out.append((t.name, list(t.dims), onnx.TensorProto.DataType.Name(t.data_type)))
    return out


_RESIDENT = """import sys, psutil, onnxruntime_genai as og
config = og.Config(sys.argv[1])
model = og.Model(config)
params = og.GeneratorParams(model)
params.set_search_options(max_length=8)
gen = og.Generator(model, params)
gen.append_tokens([[151644, 872]])
gen.generate_next_token()
print(psutil.Process().memory_info().rss)
"""


def resident_mb(onnx_dir: str | Path) -> float:
    """Resident memory (MB) of a fresh Python process that loaded the export and generated one token
    (comparable with a server's process: interpreter and libraries included)."""
    done = subprocess.run([sys.executable, "-c", _RESIDENT, str(onnx_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"loading {onnx_dir} failed:\n{done.stderr[-600:]}", "read the lines above.")
    return int(done.stdout.split()[-1]) / 1e6


@dataclass
class OnnxReply:
    """One greedy generation: the new token ids, their text, time to first token and decode speed."""

    ids: list[int]
    text: str
    ttft_s: float
    decode_tokens_per_s: float


class OnnxChat:
    """Greedy chat generation with an ONNX Runtime GenAI export; the prompt comes from ``tokenizer``'s template."""

    def __init__(self, onnx_dir: str | Path, tokenizer: Any, *, threads: int | None = None):
        _require()
        import onnxruntime_genai as og

        self.og, self.tokenizer = og, tokenizer
        began = time.perf_counter()
        config = og.Config(str(onnx_dir))
        if threads:  # ONNX Runtime's own thread pool size (genai_config.json's session_options)

            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
        self.model = og.Model(config)
        self.load_s = time.perf_counter() - began
        self.end_ids = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}

    def prompt_ids(self, messages: list[dict], *, enable_thinking: bool = True) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  enable_thinking=enable_thinking)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, messages: list[dict], *, enable_thinking: bool = True, max_new_tokens: int = 256) -> OnnxReply:
        """Greedy decoding until ``<|im_end|>`` or ``max_new_tokens``; the end token is not in ``ids``."""
        og = self.og
        ids = self.prompt_ids(messages, enable_thinking=enable_thinking)
        params = og.GeneratorParams(self.model)
        params.set_search_options(do_sample=False, max_length=len(ids) + max_new_tokens)
        gen = og.Generator(self.model, params)
        began = time.perf_counter()
        gen.append_tokens([ids])
        out: list[int] = []
        first = None
        while not gen.is_done() and len(out) < max_new_tokens:
            gen.generate_next_token()
            tok = int(gen.get_next_tokens()[0])
            if first is None:
                first = time.perf_counter()
            if tok in self.end_ids:
                break
            out.append(tok)
        end = time.perf_counter()
        first = first or end
        rate = (len(out) - 1) / (end - first) if len(out) > 1 and end > first else float("nan")
        return OnnxReply(out, self.tokenizer.decode(out), first - began, rate)
