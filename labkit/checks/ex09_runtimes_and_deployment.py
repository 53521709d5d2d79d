"""Answer keys of exercise 09 (runtimes and deployment): its check functions and the data they check against.

The expected answers are computed from the active profile's model, so the same solution passes offline
(the nano model) and under the hub profile (Qwen3-0.6B, or its stand-in).

Used in notebook 09.
"""
from __future__ import annotations

from labkit.checks.grader import exercise
from labkit.serving.llamacpp import gguf_summary, to_gguf
from labkit.serving.serve import model_folder

# scenario -> the engine notebook 09's table recommends (a name of labkit.serving.servers.ENGINES, or "onnxruntime")
_ENGINE_FOR_08 = {
    "a chat service for 200 colleagues on one GPU server": "vllm",
    "an assistant on a laptop with no network, from one file": "llamacpp",
    "a Windows desktop app that must not ship Python": "onnxruntime",
    "trying a Qwen checkpoint released this morning, in a notebook": "transformers",
}
SCENARIOS_08 = list(_ENGINE_FOR_08)
ENGINE_NAMES_08 = ["vllm", "llamacpp", "onnxruntime", "transformers"]


def _q4_fallbacks_08() -> int:
    types = gguf_summary(to_gguf(model_folder(None), "Q4_K_M"))["tensor types"]
    return sum(n for t, n in types.items() if t not in ("Q4_K", "F32"))


def _modelfile_ok_08(text) -> bool:
    if not isinstance(text, str):
        return False
    lines = [line.strip() for line in text.strip().splitlines()]
    params = {tuple(line.split()[1:3]) for line in lines if line.startswith("PARAMETER ")}
    return (bool(lines) and lines[0].startswith("FROM ") and lines[0].endswith("-Q8_0.gguf")
            and {("temperature", "0.7"), ("top_p", "0.8"), ("top_k", "20")} <= params)


check_q4_fallbacks = exercise(
    "q4_fallbacks", _q4_fallbacks_08,
    expects="an int: how many tensors of the Q4_K_M file of the course model are stored in a type other than "
            "Q4_K, not counting the F32 ones",
    hint="llamacpp.gguf_summary(llamacpp.to_gguf(MODEL_DIR, 'Q4_K_M'))['tensor types'] counts tensors by type; "
         "add up every type except Q4_K and F32",
    where="notebook 09, section 3 'llama.cpp: one GGUF file'")
check_modelfile = exercise(
    "modelfile", predicate=_modelfile_ok_08,
    expects="the text of an Ollama Modelfile: FROM the Q8_0 GGUF, then PARAMETER lines for temperature 0.7, "
            "top_p 0.8 and top_k 20 (Qwen3's settings for thinking off)",
    hint="llamacpp.modelfile(llamacpp.to_gguf(MODEL_DIR, 'Q8_0'), temperature=0.7, top_p=0.8, top_k=20)",
    where="notebook 09, section 4 'Ollama: the same GGUF'")
check_engine_choice = exercise(
    "engine_choice", _ENGINE_FOR_08,
    expects="a dict: each scenario of SCENARIOS_08 -> 'vllm', 'llamacpp', 'onnxruntime' or 'transformers'",
    hint="the table 'Which one when' at the end of section 7: many users on a GPU, one file on a laptop, "
         "inside an app, the newest checkpoint first",
    where="notebook 09, section 7 'Side by side'")
