"""labkit.serving.llamacpp: GGUF files by llama.cpp's own converter (tier `model`: converts the nano model), the
header reader, and the errors for bad input."""
from __future__ import annotations

import pytest

from labkit.serving import llamacpp
from labkit.errors import LabError
from labkit.models import nano_path


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(LabError, match="unknown GGUF type 'Q3'"):
        llamacpp.to_gguf(nano_path(), "Q3")
    with pytest.raises(LabError, match="not a model folder"):
        llamacpp.to_gguf(tmp_path, "Q8_0")


def test_model_digest_follows_the_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"a")
    first = llamacpp.model_digest(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"b")
    assert llamacpp.model_digest(tmp_path) != first and len(first) == 12


def test_gguf_summary_reads_a_file_written_by_gguf(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "t.gguf"
    w = gguf.GGUFWriter(str(path), "qwen3")
    w.add_string("tokenizer.chat_template", "{{ messages }}")
    w.add_token_list(["a", "bb", "ccc"])
    w.add_tensor("w1", np.zeros((4, 32), dtype=np.float32))
    w.add_tensor("w2", np.zeros((2, 32), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = llamacpp.gguf_summary(path)
    assert info["tensor types"] == {"F32": 1, "F16": 1}
    assert info["chat template inside"] and info["tokenizer inside"]


@pytest.mark.model
def test_nano_converts_at_every_type_with_template_and_tokenizer_inside():
    """Into the shared build/engines cache (notebooks 08 and 09 then reuse the files)."""
    pytest.importorskip("llama_cpp")
    sizes = {}
    for quant in ("BF16", "Q8_0", "Q4_K_M"):
        path = llamacpp.to_gguf(nano_path(), quant)
        info = llamacpp.gguf_summary(path)
        assert info["chat template inside"] and info["tokenizer inside"], info
        sizes[quant] = info["MB"]
        types = info["tensor types"]
        assert {"BF16": "BF16", "Q8_0": "Q8_0"}.get(quant, "Q4_K") in types, types
    assert sizes["Q4_K_M"] <= sizes["Q8_0"] < sizes["BF16"]
    again = llamacpp.to_gguf(nano_path(), "Q8_0")  # reused, not converted again
    assert again.name == "nano_qwen3-Q8_0.gguf" and again.parent.parent == llamacpp.engines_dir() / "gguf"
    assert not list(again.parent.glob("*.partial*"))


@pytest.mark.model
def test_llama_cpp_gives_transformers_greedy_answer():
    llama_cpp = pytest.importorskip("llama_cpp")
    from labkit import load_model
    from labkit.generation import chat

    path = llamacpp.to_gguf(nano_path(), "BF16")
    llm = llama_cpp.Llama(str(path), n_ctx=512, n_threads=1, verbose=False)
    msgs = [{"role": "user", "content": "What is 23 + 45?"}]
    out = llm.create_chat_completion(msgs, max_tokens=120, temperature=0)["choices"][0]["message"]["content"]
    model, tok = load_model()
    ref = chat(model, tok, msgs, thinking=True, max_new_tokens=120)
    assert out.split("</think>")[-1].strip() == ref.answer.strip() and "68" in ref.answer
