"""Answer keys of exercise 09 (runtimes and deployment): its check functions and the data they check against.

The expected answers are computed from the active profile's model, so the same solution passes offline
(the nano model) and under the hub profile (Qwen3-0.6B, or its stand-in).  The checks run what the learner
wrote where they can: the GGUF file is read, the server's command line is parsed by llama-cpp-python's own
parser, and the generated tokens are compared with the same loop run here.

Used in notebook 09.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from functools import lru_cache
from pathlib import Path

from labkit.checks.grader import course_model, exercise
from labkit.serving.llamacpp import gguf_summary, to_gguf
from labkit.serving.serve import model_folder

# scenario -> the engine notebook 09's table recommends (a name of labkit.serving.servers.ENGINES, or "onnxruntime")
_ENGINE_FOR_09 = {
    "a chat service for 200 colleagues on one GPU server": "vllm",
    "an assistant on a laptop with no network, from one file": "llamacpp",
    "a Windows desktop app that must not ship Python": "onnxruntime",
    "trying a Qwen checkpoint released this morning, in a notebook": "transformers",
}
SCENARIOS_09 = list(_ENGINE_FOR_09)
ENGINE_NAMES_09 = ["vllm", "llamacpp", "onnxruntime", "transformers"]
SERVER_MODULES = ("llama_cpp.server", "labkit.serving.llamacpp_server")   # the same command line
OG_QUESTION = [{"role": "user", "content": "What is 23 + 45?"}]
OG_MAX_NEW_TOKENS = 64


# --------------------------------------------------------------------------- a GGUF made by the learner
def _types(path) -> dict[str, int]:
    return gguf_summary(path)["tensor types"]


def _is_gguf(path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def _q4_gguf_ok(path) -> bool:
    """A Q4_K_M GGUF of the course model: a GGUF with the tokenizer and template inside, whose tensors have the
    types llama.cpp gives the course model at Q4_K_M (from a BF16, F16 or F32 file alike)."""
    path = Path(path)
    if not (path.is_file() and _is_gguf(path)):
        return False
    info = gguf_summary(path)
    return (info["tokenizer inside"] and info["chat template inside"]
            and info["tensor types"] == _types(to_gguf(model_folder(None), "Q4_K_M")))


def _q4_fallbacks_09() -> int:
    types = _types(to_gguf(model_folder(None), "Q4_K_M"))
    return sum(n for t, n in types.items() if t not in ("Q4_K", "F32"))


# --------------------------------------------------------------------------- the server's command line
def parse_server_command(cmd) -> tuple[dict, dict]:
    """``(server settings, model settings)`` of a ``python -m llama_cpp.server ...`` command (a list or a string),
    parsed by llama-cpp-python's own command-line parser; raises ValueError when it is not one."""
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    args = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
    where = [i for i in range(len(args) - 1) if args[i] == "-m" and args[i + 1] in SERVER_MODULES]
    if not where:
        raise ValueError("it does not run `python -m llama_cpp.server`")
    parser = argparse.ArgumentParser(prog="python -m llama_cpp.server", exit_on_error=False)
    add_args_from_model(parser, Settings)
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            parsed = parser.parse_args(args[where[0] + 2:])
    except (SystemExit, argparse.ArgumentError) as exc:
        said_last = "".join(said.getvalue().strip().splitlines()[-1:])
        why = str(exc) if isinstance(exc, argparse.ArgumentError) else said_last
        raise ValueError(f"llama_cpp.server's own parser refuses it: {why}") from None
    server = parse_model_from_args(ServerSettings, parsed)
    model = parse_model_from_args(ModelSettings, parsed)
    return server.model_dump(), model.model_dump()


def _server_command_ok(cmd) -> bool:
    server, model = parse_server_command(cmd)
    return (model["n_ctx"] == 4096 and server["port"] == 8080 and server["interrupt_requests"] is False
            and _q4_gguf_ok(model["model"]))


# --------------------------------------------------------------------------- the og.Generator loop
@lru_cache(maxsize=1)
def _og_expected() -> tuple[int, ...]:
    from labkit.serving.onnxrt import OnnxChat, export

    _, tok = course_model()
    chat = OnnxChat(export(model_folder(None), "fp32"), tok, threads=1)
    return tuple(chat.generate(OG_QUESTION, enable_thinking=True, max_new_tokens=OG_MAX_NEW_TOKENS).ids)


def _og_ids_ok(ids) -> bool:
    got = [int(t) for t in ids]
    want = list(_og_expected())
    _, tok = course_model()
    ends = {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    while got and got[-1] in ends:   # with or without the end-of-turn token the loop stopped on
        got.pop()
    return got == want


# --------------------------------------------------------------------------- the Modelfile
def _modelfile_ok_09(text) -> bool:
    """FROM a Q8_0 GGUF, and Qwen3's non-thinking sampling; Ollama's instructions are case-insensitive."""
    if not isinstance(text, str):
        return False
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith("#")]
    if not lines or lines[0].split(maxsplit=1)[0].upper() != "FROM" or len(lines[0].split(maxsplit=1)) < 2:
        return False
    source = Path(lines[0].split(maxsplit=1)[1].strip().strip('"'))
    is_q8 = "q8_0" in source.name.lower() or (source.is_file() and _is_gguf(source)
                                               and max(((n, t) for t, n in _types(source).items()
                                                        if t != "F32"), default=(0, ""))[1] == "Q8_0")
    params = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[0].upper() == "PARAMETER":
            try:
                params[parts[1].lower()] = float(parts[2])
            except ValueError:
                pass
    return (source.suffix.lower() == ".gguf" and is_q8 and params.get("temperature") == 0.7
            and params.get("top_p") == 0.8 and params.get("top_k") == 20)


check_q4_gguf = exercise(
    "q4_gguf", predicate=_q4_gguf_ok,
    expects="the path of a Q4_K_M GGUF of the course model that you made: llama.cpp's converter to BF16, then "
            "llama_cpp.llama_model_quantize with LLAMA_FTYPE_MOSTLY_Q4_K_M",
    hint="subprocess.run([sys.executable, str(llamacpp.converter()), str(MODEL_DIR), '--outtype', 'bf16', "
         "'--outfile', str(bf16_path)], check=True); then params = llama_cpp.llama_model_quantize_default_params(); "
         "params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M; llama_cpp.llama_model_quantize(src.encode(), "
         "dst.encode(), params) returns 0",
    where="notebook 09, section 3 'llama.cpp: one GGUF file'")
check_server_command = exercise(
    "server_command", predicate=_server_command_ok,
    expects="a command line (list or string) `python -m llama_cpp.server` that serves your Q4_K_M file on port "
            "8080 with a context of 4096 tokens and --interrupt_requests false",
    hint="[sys.executable, '-m', 'llama_cpp.server', '--model', str(q4_path), '--n_ctx', '4096', '--port', "
         "'8080', '--interrupt_requests', 'false']; labkit.checks.parse_server_command(cmd) shows how it parses",
    where="notebook 09, section 4 'llama.cpp as a server'")
check_og_loop = exercise(
    "og_loop", predicate=_og_ids_ok,
    expects=f"the token ids your og.Generator loop generates greedily for {OG_QUESTION[0]['content']!r} with "
            f"thinking on, at most {OG_MAX_NEW_TOKENS} new tokens, with the fp32 export (the same as transformers')",
    hint="og.GeneratorParams(model); params.set_search_options(do_sample=False, max_length=len(ids) + 64); "
         "generator = og.Generator(model, params); generator.append_tokens(ids); while not generator.is_done(): "
         "generator.generate_next_token(); new.append(generator.get_next_tokens()[0]); the prompt ids from "
         "tok.apply_chat_template(..., tokenize=False) encoded by og.Tokenizer",
    where="notebook 09, section 6 'ONNX Runtime GenAI'")
check_q4_fallbacks = exercise(
    "q4_fallbacks", _q4_fallbacks_09,
    expects="an int: how many tensors of the Q4_K_M file of the course model are stored in a type other than "
            "Q4_K, not counting the F32 ones",
    hint="llamacpp.gguf_summary(q4_path)['tensor types'] counts tensors by type; add up every type except Q4_K "
         "and F32",
    where="notebook 09, section 3 'llama.cpp: one GGUF file'")
check_modelfile = exercise(
    "modelfile", predicate=_modelfile_ok_09,
    expects="the text of an Ollama Modelfile: FROM a Q8_0 GGUF, then PARAMETER lines for temperature 0.7, "
            "top_p 0.8 and top_k 20 (Qwen3's settings for thinking off)",
    hint="FROM /path/to/model-Q8_0.gguf, then one `PARAMETER name value` line each; "
         "labkit.family.facts.SAMPLING['non_thinking'] holds the values",
    where="notebook 09, section 5 'Ollama: the same GGUF'")
check_engine_choice = exercise(
    "engine_choice", _ENGINE_FOR_09,
    expects="a dict: each scenario of SCENARIOS_09 -> 'vllm', 'llamacpp', 'onnxruntime' or 'transformers'",
    hint="the table 'Which one when' at the end of section 8: many users on a GPU, one file on a laptop, "
         "inside an app, the newest checkpoint first",
    where="notebook 09, section 8 'Side by side'")
