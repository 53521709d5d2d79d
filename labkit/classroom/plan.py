"""The instructor's plan for a class on one GPU server: ``python -m labkit.classroom plan``.

    python -m labkit.classroom plan --learners 30 --gpu H100 --model Qwen/Qwen3-8B

prints, and runs nothing: the capacity estimate (the course's own memory calculator,
:mod:`labkit.family.architectures`: weights + KV cache per sequence against the GPU's memory share), the vLLM
command, a LiteLLM proxy config with per-learner keys and limits, the JupyterHub settings (The Littlest JupyterHub
and Zero to JupyterHub) that give every learner the class profile and a key, and the shared read-only model cache,
filled once.  Where each setting comes from is in :data:`SOURCES`.

Used by the command `python -m labkit.classroom`.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.family import architectures as arch

SOURCES = {
    "vllm": "vLLM docs: serving/openai_compatible_server.md, features/reasoning_outputs.md (qwen3), "
            "features/tool_calling.md (hermes for Qwen2.5/Qwen3), usage/security.md (--api-key covers /v1, /v2, "
            "/inference only)",
    "litellm": "LiteLLM docs: providers/vllm (hosted_vllm/), proxy/virtual_keys.md (/key/generate: models, duration, "
               "max_parallel_requests, rpm_limit, tpm_limit; needs a Postgres database_url)",
    "tljh": "The Littlest JupyterHub docs: topic/tljh-config.md (limits.memory, limits.cpu, reload), "
            "topic/escape-hatch.md (jupyterhub_config.d); JupyterHub Spawner.environment (a value may be a callable)",
    "z2jh": "Zero to JupyterHub: values.schema.yaml (singleuser.extraEnv, memory, cpu), hub.extraConfig",
    "hf": "huggingface_hub docs: guides/cli.md (hf download --cache-dir), environment_variables.md (HF_HUB_CACHE)",
}
PROXY_PORT, VLLM_PORT = 4000, 8000


@dataclass(frozen=True)
class Capacity:
    model: str
    gpu: str
    gpus: int
    context: int
    utilization: float
    weights_gb: float
    kv_per_sequence_gb: float
    sequences: int              # sequences of `context` tokens the KV cache holds at once
    learners: int
    per_learner: int            # requests in flight per learner the plan allows

    @property
    def demand(self) -> int:
        return self.learners * self.per_learner

    def lines(self) -> list[str]:
        memory = arch.GPUS[self.gpu].memory_gb * self.gpus
        return [f"model {self.model}, bf16 weights {self.weights_gb:.1f} GB; KV cache {self.kv_per_sequence_gb:.3f} GB "
                f"per sequence of {self.context:,} tokens",
                f"GPU {self.gpus} x {self.gpu} ({memory:.0f} GB) x {self.utilization:.2f} memory share "
                f"- weights - {OVERHEAD_GB:.0f} GB allowance = {self.sequences} sequences at once",
                f"{self.learners} learners x {self.per_learner} requests in flight = {self.demand} "
                f"({'fits' if self.demand <= self.sequences else 'more than fit: the rest queue in vLLM'})"]


OVERHEAD_GB = 1.0   # arch.memory_needed_gb's allowance for activations, the CUDA context and allocator slack


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _arch_name(model: str) -> str:
    name = model.split("/")[-1].removesuffix("-Instruct")
    if name not in arch.CONFIGS:
        raise LabError(f"no architecture data for {model!r}.",
                       f"use one of: {', '.join('Qwen/' + n for n in arch.CONFIGS)}")
    return name


def capacity(model: str, gpu: str, learners: int, *, context: int = 4096, utilization: float = 0.9,
             per_learner: int | None = None, gpus: int = 1) -> Capacity:
    """How many sequences of ``context`` tokens fit beside ``model``'s bf16 weights on ``gpus`` x ``gpu`` at
    ``utilization``, and how many requests in flight each of ``learners`` may keep (at most
    :data:`labkit.classroom.endpoint.DEFAULT_MAX_PARALLEL`)."""
    if learners < 1 or context < 1 or gpus < 1 or not 0 < utilization <= 1 or (per_learner is not None
                                                                              and per_learner < 1):
        raise LabError("learners, context, gpus and per_learner must be positive, utilization in (0, 1].",
                       "e.g. --learners 30 --context 4096 --gpus 1 --utilization 0.9")
    name = _arch_name(model)
    if gpu not in arch.GPUS or gpu == "laptop":
        raise LabError(f"unknown GPU {gpu!r}.", f"use one of: {', '.join(g for g in arch.GPUS if g != 'laptop')}")
    weights = arch.weight_memory_gb(name, "bf16")
    kv = arch.kv_cache_gb(name, context, 1)
    free = arch.GPUS[gpu].memory_gb * gpus * utilization - weights - OVERHEAD_GB
    sequences = max(0, math.floor(free / kv))
    if sequences < 1:
        raise LabError(f"{model} in bf16 ({weights:.1f} GB) leaves no room for a {context:,}-token cache on "
                       f"{gpus} x {gpu} at {utilization:.2f}.",
                       "choose a smaller model, a bigger GPU, or more GPUs (--gpus N: vLLM's tensor parallel).")
    per = per_learner or max(1, min(endpoint.DEFAULT_MAX_PARALLEL, sequences // learners))
    return Capacity(model, gpu, gpus, context, utilization, weights, kv, sequences, learners, per)


def vllm_command(c: Capacity) -> str:
    args = [f"vllm serve {c.model}", "--host 127.0.0.1", f"--port {VLLM_PORT}", '--api-key "$VLLM_API_KEY"',
            "--reasoning-parser qwen3", "--enable-auto-tool-choice --tool-call-parser hermes",
            f"--max-model-len {c.context}", f"--max-num-seqs {min(c.sequences, 256)}",
            f"--gpu-memory-utilization {c.utilization:.2f}"]
    if c.gpus > 1:
        args.append(f"--tensor-parallel-size {c.gpus}")
    return " \\\n    ".join(args)


def litellm_config(c: Capacity) -> str:
    """The proxy's ``litellm.yaml``: the model at vLLM's address, the master key, the database of the keys."""
    return f"""model_list:
  - model_name: {c.model}
    litellm_params:
      model: hosted_vllm/{c.model}
      api_base: http://127.0.0.1:{VLLM_PORT}/v1
      api_key: os.environ/VLLM_API_KEY
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY   # starts with sk-
  database_url: os.environ/DATABASE_URL       # virtual keys need Postgres"""


KEYS_FILE = "/srv/class/keys.txt"
SECRETS_FILE = "/srv/class/secrets.env"
MODELS_DIR = "/srv/models"


def key_commands(c: Capacity, hours: int, host: str, keys_file: str = KEYS_FILE, users_file: str | None = None) -> str:
    """One LiteLLM key per learner, written as ``USER KEY`` lines: the JupyterHub user names of ``users_file``
    (one per line), else learner-01 ... learner-N."""
    body = (f'{{"models": ["{c.model}"], "duration": "{hours}h", "key_alias": "$user", "user_id": "$user", '
            f'"max_parallel_requests": {c.per_learner}, "rpm_limit": {60 * c.per_learner}}}')
    loop = ("while read -r user; do" if users_file else
            f"for user in $(seq -f 'learner-%02g' 1 {c.learners}); do")
    done = f"done < {users_file} > {keys_file}" if users_file else f"done > {keys_file}"
    return (f"{loop}\n"
            f"  curl -sf http://{host}:{PROXY_PORT}/key/generate -H \"Authorization: Bearer $LITELLM_MASTER_KEY\" \\\n"
            f"    -H 'content-type: application/json' -d \"{body.replace(chr(34), chr(92) + chr(34))}\" \\\n"
            f"    | python3 -c \"import json,sys; print('$user', json.load(sys.stdin)['key'])\"\n"
            f"{done}   # one line per learner: USER KEY\n"
            f"wc -l {keys_file}   # one line per learner, else read the proxy's log")


def learner_env(c: Capacity, host: str) -> dict[str, str]:
    return {"QWEN_LABS_PROFILE": "class", endpoint.URL_VAR: f"http://{host}:{PROXY_PORT}/v1",
            endpoint.MODEL_VAR: c.model, endpoint.PARALLEL_VAR: str(c.per_learner),
            "HF_HUB_CACHE": MODELS_DIR, "HF_HUB_OFFLINE": "1"}


def tljh_file(c: Capacity, host: str, keys_file: str = KEYS_FILE) -> str:
    """The Python file for ``/opt/tljh/config/jupyterhub_config.d/``: the class profile and each learner's key."""
    env = ",\n    ".join(f'"{k}": "{v}"' for k, v in learner_env(c, host).items())
    return f"""import os

KEYS_FILE = {keys_file!r}   # USER KEY lines; read when the hub starts (tljh-config reload hub)
KEYS = dict(line.split() for line in open(KEYS_FILE) if line.strip()) if os.path.exists(KEYS_FILE) else {{}}
c.Spawner.environment.update({{
    {env},
    "OPENAI_API_KEY": lambda spawner: KEYS.get(spawner.user.name, ""),   # each learner's own key
}})
"""


def z2jh_values(c: Capacity, host: str, keys_file: str = KEYS_FILE) -> str:
    """Zero to JupyterHub's ``values.yaml`` part: the environment, limits, and the per-user key."""
    env = "\n    ".join(f'{k}: "{v}"' for k, v in learner_env(c, host).items())
    return f"""singleuser:
  memory: {{limit: 4G, guarantee: 2G}}
  cpu: {{limit: 1}}
  extraEnv:
    {env}
  # and {MODELS_DIR} mounted read-only: singleuser.storage.extraVolumes / extraVolumeMounts
hub:
  # {keys_file} mounted from a Secret: hub.extraVolumes / hub.extraVolumeMounts
  extraConfig:
    50-qwen-labs: |
      import os
      KEYS = dict(l.split() for l in open({keys_file!r}) if l.strip()) if os.path.exists({keys_file!r}) else {{}}
      c.KubeSpawner.environment.update({{"OPENAI_API_KEY": lambda spawner: KEYS.get(spawner.user.name, "")}})"""


def render(c: Capacity, host: str = "PRIVATE_IP", hours: int = 8, keys_file: str = KEYS_FILE,
           users_file: str | None = None) -> str:
    folder = keys_file.rsplit("/", 1)[0] or "/"
    first_key = f"$(head -n1 {keys_file} | cut -d' ' -f2)"
    learner = (f"{endpoint.URL_VAR}=http://{host}:{PROXY_PORT}/v1 {endpoint.KEY_VAR}={first_key} "
               f"{endpoint.PARALLEL_VAR}={c.per_learner}")
    sections = [
        ("Capacity (an estimate from the course's memory calculator; measure with the check and a rehearsal)",
         "\n".join(c.lines())),
        ("1. Secrets and the model, once (the model in a shared read-only cache)",
         f"sudo mkdir -p {folder} {MODELS_DIR} && sudo chown \"$USER\" {folder} {MODELS_DIR}\n"
         f"cat > {SECRETS_FILE} <<EOF\n"
         "VLLM_API_KEY=$(openssl rand -hex 24)\nLITELLM_MASTER_KEY=sk-$(openssl rand -hex 24)\n"
         "DATABASE_URL=postgresql://litellm:CHANGE-ME@127.0.0.1:5432/litellm   # a Postgres database you create\n"
         f"EOF\nchmod 600 {SECRETS_FILE}\n"
         f"hf download {c.model} --cache-dir {MODELS_DIR}\n"
         f"chmod -R a+rX {MODELS_DIR}   # learners read it (HF_HUB_CACHE={MODELS_DIR} HF_HUB_OFFLINE=1)"),
        ("2. vLLM, bound to this machine only (its --api-key covers /v1 routes, not all of them); in a shell of its own",
         f"set -a; . {SECRETS_FILE}; set +a; export HF_HUB_CACHE={MODELS_DIR} HF_HUB_OFFLINE=1\n{vllm_command(c)}"),
        (f"3. LiteLLM's proxy on {host}:{PROXY_PORT}, per-learner keys with limits; in a shell of its own",
         f"cat > litellm.yaml <<'EOF'\n{litellm_config(c)}\nEOF\n"
         f"set -a; . {SECRETS_FILE}; set +a\n"
         f"litellm --config litellm.yaml --host {host} --port {PROXY_PORT}"),
        (f"4. The learners' keys (they expire after {hours} h: before each class, again, then step 5's reload)",
         f"set -a; . {SECRETS_FILE}; set +a\n"
         f"until curl -sf http://127.0.0.1:{VLLM_PORT}/health >/dev/null; do sleep 5; done   # vLLM has loaded the model\n"
         f"until curl -sf http://{host}:{PROXY_PORT}/v1/models -H \"Authorization: Bearer $LITELLM_MASTER_KEY\" "
         f">/dev/null; do sleep 5; done   # the proxy answers\n"
         f"{key_commands(c, hours, host, keys_file, users_file)}"),
        ("5. JupyterHub: the class profile and a key in every learner's kernel",
         "# The Littlest JupyterHub (one machine):\n"
         "sudo tljh-config set limits.memory 4G\nsudo tljh-config set limits.cpu 1\n"
         "sudo tee /opt/tljh/config/jupyterhub_config.d/50-qwen-labs.py >/dev/null <<'EOF'\n"
         f"{tljh_file(c, host, keys_file)}EOF\n"
         "sudo tljh-config reload hub   # after new keys too; learners restart their servers (File > Hub Control Panel)\n\n"
         "# Zero to JupyterHub (Kubernetes), in values.yaml:\n" + z2jh_values(c, host, keys_file)),
        ("6. Check and pre-run before the class, as a learner would (one learner's key)",
         f"{learner} python -m labkit.classroom check\n"
         f"{learner} python -m labkit.classroom simulate --learners {c.learners} --keys-file {keys_file}\n"
         f"{learner} python tools/run_notebooks.py --profile class "
         "notebooks/08_production_patterns.ipynb notebooks/10_tools_and_structured_output.ipynb   # in the course's folder"),
    ]
    return "\n\n".join(f"## {title}\n{body}" for title, body in sections)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--learners", type=positive, required=True)
    ap.add_argument("--gpu", required=True, help=f"one of: {', '.join(g for g in arch.GPUS if g != 'laptop')}")
    ap.add_argument("--model", required=True, help="a Hub id, e.g. Qwen/Qwen3-8B")
    ap.add_argument("--gpus", type=positive, default=1, help="GPUs in the server (vLLM's tensor parallel), default 1")
    ap.add_argument("--context", type=positive, default=4096, help="tokens per sequence (vLLM --max-model-len)")
    ap.add_argument("--utilization", type=float, default=0.9, help="vLLM --gpu-memory-utilization")
    ap.add_argument("--per-learner", type=positive, default=None, help="requests in flight per learner")
    ap.add_argument("--host", default="PRIVATE_IP", help="the private address learners' kernels reach")
    ap.add_argument("--hours", type=positive, default=8, help="how long learner keys live")
    ap.add_argument("--users", default=None, help="a file of JupyterHub user names, one per line: their keys")
    ap.add_argument("--keys-file", default=KEYS_FILE, help="where the learners' keys go: one 'USER KEY' line each")


def main(args: argparse.Namespace) -> int:
    try:
        c = capacity(args.model, args.gpu, args.learners, context=args.context, utilization=args.utilization,
                     per_learner=args.per_learner, gpus=args.gpus)
    except LabError as exc:
        print(f"error: {exc}")
        return 1
    print(render(c, args.host, args.hours, args.keys_file, args.users))
    return 0
