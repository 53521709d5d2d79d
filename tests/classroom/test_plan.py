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
                 "singleuser:", "python -m labkit.classroom check"):
        assert flag in out, flag
    c = plan.capacity("Qwen/Qwen3-8B", "H100", 30)
    config = yaml.safe_load(plan.litellm_config(c))
    assert config["model_list"][0]["litellm_params"]["model"] == "hosted_vllm/Qwen/Qwen3-8B"
    z2jh = plan.jupyterhub_config(c, "10.0.0.5").split("# Zero to JupyterHub (Kubernetes), in values.yaml:\n")[1]
    values = yaml.safe_load(z2jh)
    assert values["singleuser"]["extraEnv"]["QWEN_LABS_PROFILE"] == "class"
    assert values["singleuser"]["extraEnv"]["OPENAI_BASE_URL"] == "http://10.0.0.5:4000/v1"
    tljh = plan.jupyterhub_config(c, "10.0.0.5").split("# /opt/tljh/config/jupyterhub_config.d/50-qwen-labs.py:\n")[1]
    code = tljh.split("sudo tljh-config reload hub")[0]
    compile(code, "50-qwen-labs.py", "exec")             # the file the instructor writes is valid Python
    bad = subprocess.run([sys.executable, "-m", "labkit.classroom", "plan", "--learners", "3", "--gpu", "T4",
                          "--model", "Qwen/Qwen3-32B"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no room" in bad.stdout
