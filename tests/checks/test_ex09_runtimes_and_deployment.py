"""labkit.checks.ex09_runtimes_and_deployment: every right answer passes, wrong ones fail with a hint, nothing raises.

The GGUF and ONNX answers need llama.cpp's converter and onnxruntime-genai (tier `model`: they convert or export
the nano model into build/engines, which notebook 09 and its exercise reuse)."""
from __future__ import annotations

import sys

import pytest

from labkit import checks
from labkit.checks import ex09_runtimes_and_deployment as ex09


def test_the_checks_are_registered():
    for name in ("q4_gguf", "server_command", "og_loop", "q4_fallbacks", "modelfile", "engine_choice"):
        assert name in checks.REGISTRY and hasattr(checks, f"check_{name}")


@pytest.mark.parametrize("text", [
    "FROM /m/model-Q8_0.gguf\nPARAMETER temperature 0.7\nPARAMETER top_p 0.8\nPARAMETER top_k 20\n",
    "# thinking off\nfrom ./nano-q8_0.gguf\nparameter temperature 0.70\nPARAMETER top_k 20\nPARAMETER top_p .8\n"
    'PARAMETER stop "<|im_end|>"\nPARAMETER num_ctx 4096',
    'FROM "/m/Model-Q8_0.GGUF"\nPARAMETER top_p 0.8\nPARAMETER temperature 0.7\nPARAMETER top_k 20',
])
def test_every_right_modelfile_passes(text, capsys):
    assert checks.check_modelfile(text) is True


@pytest.mark.parametrize("text", [
    "FROM /m/model-Q8_0.gguf\nPARAMETER temperature 0.6\nPARAMETER top_p 0.95\nPARAMETER top_k 20",   # thinking on
    "FROM /m/model-Q4_K_M.gguf\nPARAMETER temperature 0.7\nPARAMETER top_p 0.8\nPARAMETER top_k 20",  # not Q8_0
    "PARAMETER temperature 0.7\nPARAMETER top_p 0.8\nPARAMETER top_k 20",                              # no FROM
    "FROM Qwen/Qwen3-0.6B\nPARAMETER temperature 0.7\nPARAMETER top_p 0.8\nPARAMETER top_k 20", 42,
])
def test_wrong_modelfiles_fail_without_raising(text, capsys):
    assert checks.check_modelfile(text) is False
    assert "Hint:" in capsys.readouterr().out


def test_engine_choice():
    assert checks.check_engine_choice(dict(zip(checks.SCENARIOS_09, checks.ENGINE_NAMES_09))) is True
    assert checks.check_engine_choice(dict(zip(checks.SCENARIOS_09, ["llamacpp"] * 4))) is False


def test_the_server_command_is_parsed_as_llama_cpp_server_parses_it():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    server, model = ex09.parse_server_command(
        "python3 -m llama_cpp.server --model /m.gguf --n_ctx 4096 --port 8080 --interrupt_requests false")
    assert model["model"] == "/m.gguf" and model["n_ctx"] == 4096
    assert server["port"] == 8080 and server["interrupt_requests"] is False
    _, model = ex09.parse_server_command([sys.executable, "-m", "labkit.serving.llamacpp_server", "--model", "x"])
    assert model["model"] == "x"
    for wrong in ("python -m llama_cpp --model m.gguf", "python -m llama_cpp.server --model m --nctx 4096",
                  "python -m llama_cpp.server --model m --interrupt_requests maybe"):
        with pytest.raises(ValueError):
            ex09.parse_server_command(wrong)


def test_a_missing_file_or_a_wrong_command_fails_with_a_hint(tmp_path, capsys):
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    assert checks.check_q4_gguf(tmp_path / "missing.gguf") is False
    (tmp_path / "not.gguf").write_bytes(b"not a gguf")
    assert checks.check_q4_gguf(tmp_path / "not.gguf") is False
    assert checks.check_server_command(["python", "-m", "llama_cpp.server", "--n_ctx", "4096"]) is False
    assert checks.check_og_loop(None) is False
    assert capsys.readouterr().out.count("Hint:") == 4


@pytest.mark.model
def test_the_gguf_answers():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    from labkit.models import nano_path
    from labkit.serving.llamacpp import to_gguf

    q4, q8 = to_gguf(nano_path(), "Q4_K_M"), to_gguf(nano_path(), "Q8_0")
    assert checks.check_q4_gguf(q4) is True and checks.check_q4_gguf(str(q4)) is True
    assert checks.check_q4_gguf(q8) is False                        # a GGUF, but not Q4_K_M
    right = [sys.executable, "-m", "llama_cpp.server", "--model", str(q4), "--port", "8080", "--n_ctx", "4096",
             "--n_threads", "2", "--interrupt_requests", "false"]
    assert checks.check_server_command(right) is True
    assert checks.check_server_command(f"python -m llama_cpp.server --interrupt_requests=0 --n_ctx=4096 "
                                       f"--port 8080 --model {q4}") is True
    assert checks.check_server_command(right[:-2]) is False          # the default interrupts running streams
    assert checks.check_server_command([*right[:4], str(q8), *right[5:]]) is False
    assert checks.check_modelfile(f"FROM {q8}\nPARAMETER temperature 0.7\nPARAMETER top_p 0.8\n"
                                  f"PARAMETER top_k 20") is True   # "-Q8_0" in the name, or Q8_0 inside
    fallbacks = sum(n for t, n in ex09.gguf_summary(q4)["tensor types"].items() if t not in ("Q4_K", "F32"))
    assert checks.check_q4_fallbacks(fallbacks) is True and checks.check_q4_fallbacks(fallbacks + 1) is False


@pytest.mark.model
def test_the_og_loop_answer_with_or_without_its_end_token():
    pytest.importorskip("onnxruntime_genai")
    from labkit.checks.grader import course_model

    ids = list(ex09._og_expected())
    _, tok = course_model()
    assert checks.check_og_loop(ids) is True
    assert checks.check_og_loop([*ids, tok.convert_tokens_to_ids("<|im_end|>")]) is True
    assert checks.check_og_loop(ids[:-1]) is False
    assert tok.decode(ids).count("</think>") == 1                  # a whole reply within the budget
