"""python -m labkit.classroom plan: the capacity is the course's memory calculator's, the commands carry it."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
import yaml

from labkit.classroom import plan
from labkit.errors import LabError
from labkit.family import architectures as arch


def test_capacity_is_the_memory_calculator():
    c = plan.capacity("Qwen/Qwen3-8B", "H100", 30)
    free = 80 * 0.9 - arch.weight_memory_gb("Qwen3-8B", "bf16") - plan.OVERHEAD_GB
    assert c.sequences == math.floor(free / arch.kv_cache_gb("Qwen3-8B", 4096)) == 90
    assert c.per_learner == 3 and c.demand <= c.sequences
    small = plan.capacity("Qwen/Qwen3-8B", "L4", 30)          # 24 GB: a handful of sequences for 30 learners
    assert small.per_learner == 1 and small.demand > small.sequences
    assert plan.capacity("Qwen/Qwen3-32B", "H100", 10, gpus=2).sequences > 0
    with pytest.raises(LabError, match="no room"):
        plan.capacity("Qwen/Qwen3-32B", "T4", 10)
    with pytest.raises(LabError, match="no architecture data"):
        plan.capacity("Qwen/Qwen9-1B", "H100", 10)


def test_the_plan_prints_the_commands_with_the_capacity():
    run = subprocess.run([sys.executable, "-m", "labkit.classroom", "plan", "--learners", "30", "--gpu", "H100",
                          "--model", "Qwen/Qwen3-8B", "--host", "10.0.0.5"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for flag in ("--api-key", "--reasoning-parser qwen3", "--tool-call-parser hermes", "--max-num-seqs 90",
                 "--gpu-memory-utilization 0.90", "--host 127.0.0.1", "hf download Qwen/Qwen3-8B --cache-dir",
                 '\\"max_parallel_requests\\": 3', "tljh-config set limits.memory", "c.Spawner.environment",
                 "singleuser:", "python -m labkit.classroom check", "curl -sf http://10.0.0.5:4000/key/generate",
                 "sudo mkdir -p /srv/class", "QWEN_LABS_MAX_PARALLEL=3 python -m labkit.classroom simulate"):
        assert flag in out, flag
    assert "127.0.0.1:4000" not in out                   # the proxy listens on the class network's address
    c = plan.capacity("Qwen/Qwen3-8B", "H100", 30)
    config = yaml.safe_load(plan.litellm_config(c))
    assert config["model_list"][0]["litellm_params"]["model"] == "hosted_vllm/Qwen/Qwen3-8B"
    values = yaml.safe_load(plan.z2jh_values(c, "10.0.0.5"))
    assert values["singleuser"]["extraEnv"]["QWEN_LABS_PROFILE"] == "class"
    assert values["singleuser"]["extraEnv"]["OPENAI_BASE_URL"] == "http://10.0.0.5:4000/v1"
    compile(values["hub"]["extraConfig"]["50-qwen-labs"], "extraConfig", "exec")
    assert plan.tljh_file(c, "10.0.0.5") in out          # the file the instructor writes, whole, in the heredoc
    bad = subprocess.run([sys.executable, "-m", "labkit.classroom", "plan", "--learners", "3", "--gpu", "T4",
                          "--model", "Qwen/Qwen3-32B"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no room" in bad.stdout


def test_the_jupyterhub_file_gives_each_user_their_key_and_survives_a_missing_keys_file(tmp_path):
    c = plan.capacity("Qwen/Qwen3-0.6B", "L4", 2)

    class Config:                                        # what JupyterHub's config loader hands the file as `c`
        class Spawner:
            environment: dict = {}

    keys = tmp_path / "keys.txt"
    for content in (None, "alice key-a\nbob key-b\n"):
        if content:
            keys.write_text(content)
        Config.Spawner.environment = {}
        exec(plan.tljh_file(c, "10.0.0.5", str(keys)), {"c": Config})
        env = Config.Spawner.environment
        user = type("Spawner", (), {"user": type("User", (), {"name": "alice"})})
        assert env["QWEN_LABS_PROFILE"] == "class"
        assert env["OPENAI_API_KEY"](user) == ("key-a" if content else "")
