"""labkit.serving.onnxrt: the nano model exported by onnxruntime-genai's builder (tier `model`) generates
transformers' greedy tokens; bad input is refused."""
from __future__ import annotations

import pytest

from labkit.serving import onnxrt
from labkit.errors import LabError
from labkit.models import nano_path


def test_unknown_precision_is_refused():
    with pytest.raises(LabError, match="unknown precision 'fp8'"):
        onnxrt.export(nano_path(), "fp8")


def test_builder_command_is_the_model_builder_for_the_cpu(tmp_path):
    cmd = onnxrt.builder_command("model", tmp_path / "out", "int8")
    assert cmd[1:3] == ["-m", "onnxruntime_genai.models.builder"]
    assert cmd[3:] == ["-i", "model", "-o", str(tmp_path / "out"), "-p", "int8", "-e", "cpu"]


@pytest.mark.model
def test_fp32_export_generates_transformers_greedy_tokens():
    pytest.importorskip("onnxruntime_genai")
    from labkit import load_model
    from labkit.generation import chat

    folder = onnxrt.export(nano_path(), "fp32")  # into the shared build/engines cache (notebook 09 reuses it)
    assert (folder / "genai_config.json").exists() and not list(folder.parent.glob("*.partial*"))
    names = [name for name, _, _ in onnxrt.large_tensors(folder)]
    assert names == ["lm_head.MatMul.weight"]  # tied: one float32 matrix for embedding and output
    model, tok = load_model()
    ort = onnxrt.OnnxChat(folder, tok, threads=1)
    for q in ("What is 23 + 45?", "What is 7 × 8?", "Who are you?"):
        msgs = [{"role": "user", "content": q}]
        for thinking in (True, False):
            ref = chat(model, tok, msgs, thinking=thinking, max_new_tokens=120)
            got = ort.generate(msgs, enable_thinking=thinking, max_new_tokens=120)
            expected = ref.ids[:-1] if ref.ids and ref.ids[-1] in ort.end_ids else ref.ids
            assert got.ids == expected, (q, thinking, tok.decode(got.ids), ref.text)
    assert onnxrt.resident_mb(folder) > 20  # a fresh Python process with the model loaded
