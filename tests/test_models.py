"""labkit.models: the model id per profile."""
from __future__ import annotations

import pytest

import labkit
from labkit import models


def test_offline_profile_resolves_to_the_nano_model():
    assert models.resolve_model_id() == str(models.nano_path())
    assert models.resolve_model_id(models.NANO_ID) == str(models.nano_path())
    with pytest.raises(labkit.LabError):
        models.resolve_model_id("Qwen/Qwen3-8B")


@pytest.mark.model
def test_a_fresh_machine_with_an_empty_home_runs_the_course(tmp_path):
    """No ~/.cache at all (a fresh Colab runtime or laptop): the banner, the tokenizer and the model load."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "QWEN_LABS_CACHE")}
    code = ("import labkit; labkit.banner('offline'); tok = labkit.load_tokenizer('qwen3'); "
            "model, t = labkit.load_model(); r = labkit.chat(model, t, [{'role': 'user', 'content': 'Hi'}], "
            "max_new_tokens=8); print('ok', len(tok), r.new_tokens)")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("ok 151669")
    assert (home / ".cache" / "qwen-labs").is_dir()   # the tokenizer cache was made where it belongs


@pytest.mark.parametrize("major, expected", [(7, "float16"), (8, "auto"), (9, "auto")], ids=["T4", "A100", "H100"])
def test_a_gpu_without_native_bf16_loads_in_float16(monkeypatch, major, expected):
    """The T4 (compute capability 7.5) emulates bfloat16 slowly: every loader and server of the course uses float16."""
    import types

    import torch

    from labkit import env
    from labkit.serving import servers

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(major=major, minor=5, name="GPU", total_memory=16 * 2**30))
    want = torch.float16 if expected == "float16" else "auto"
    assert models.default_dtype(is_nano=False) == want and models.default_dtype(is_nano=True) == want
    assert env.gpu_dtype() == (torch.float16 if major < 8 else torch.bfloat16)
    serve_cmd = servers.TransformersServe().command("m", 8000)
    assert serve_cmd[serve_cmd.index("--dtype") + 1] == expected
    vllm_cmd = servers.VLLM(python="python").command("m", 8000)
    assert ("--dtype" in vllm_cmd) == (major < 8) and (major >= 8 or vllm_cmd[vllm_cmd.index("--dtype") + 1] == "half")
    line = labkit.notebook.device_summary()
    assert ("float16" in line and "no native bfloat16" in line) if major < 8 else line.endswith("· bfloat16")


def test_a_cpu_loads_the_nano_model_in_float32():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the CPU rule is checked on CPU machines (and in CI)")
    assert models.default_dtype(is_nano=True) == torch.float32 and models.default_dtype(is_nano=False) == "auto"
