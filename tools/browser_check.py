"""Run notebooks in a real JupyterLab, driven by headless Chromium, and check what the browser shows.

Used by ``tests/notebooks/test_browser.py``; it can also be run by hand::

    python tools/browser_check.py notebooks/02_generation_basics.ipynb

The pieces:

* ``tools/lab_server.py`` starts JupyterLab (:class:`~lab_server.LabServer`) on a temporary
  root (:func:`~lab_server.make_root`), so the committed notebooks never get outputs.
* :func:`start_browser` starts Debian's ``chromium`` through ``chromedriver``
  (explicit paths: selenium-manager never downloads anything).
* :func:`run_in_lab` opens ``/lab/tree/<path>``, waits for an idle kernel, runs
  every cell (``notebook:run-all-cells``), waits for the end, reads the notebook
  model and the DOM, takes a screenshot, shuts the kernel down and checks that
  nothing the kernel started is left running.  :func:`problems` turns what it
  saw into one-line failure messages.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab_server import LabServer, descendants, kill_all, make_root
from run_notebooks import CELL_TIMEOUT_S  # one per-cell limit for every runner

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "browser"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
BANNER = "qwen-labs · profile: offline"
INSTALL_HINT = ("apt-get install chromium chromium-driver (Debian/Ubuntu), "
                "or run `bash run.sh test`, which installs them")
# What an output shows when a widget did not render: the text repr, or the widget renderer's messages.
WIDGET_AS_TEXT = re.compile(r"\b[A-Z]\w*\((?:value|children|options|description|layout|outputs)=|"
                            r"Loading widget|Error displaying widget|Error rendering widget|"
                            r"model not found|Failed to load model class")
WIDGET_REPR = re.compile(r"\b(?:Int|Float)?\w*(?:Slider|Box|Button|Dropdown|Text|Checkbox|Output|Tab|Accordion)"
                         r"\((?:value|children|options|description|layout|outputs)=")
def find_tools() -> tuple[str | None, str | None]:
    """Paths of Debian's ``chromium`` and ``chromedriver`` (None where missing)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.access("/usr/bin/chromedriver", os.X_OK)
                                              else None)
    return chromium, driver


def missing_tools_message() -> str | None:
    """None when chromium and chromedriver are there, else what is missing and how to install it."""
    chromium, driver = find_tools()
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if not missing:
        return None
    return f"the browser test needs {' and '.join(missing)}, not found on PATH: {INSTALL_HINT}"


# ---------------------------------------------------------------- the browser
def start_browser(profile_dir: Path, width: int = 1400, height: int = 1000):
    """Headless Debian chromium through Debian's chromedriver (no selenium-manager download)."""
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager, should anything reach it: no network
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = find_tools()
    if not (chromium and driver_path):
        raise RuntimeError(missing_tools_message())
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--disable-default-apps", "--disable-extensions", f"--window-size={width},{height}",
                f"--user-data-dir={profile_dir}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.set_capability("unhandledPromptBehavior", "accept")
    service = Service(executable_path=driver_path, log_output=str(profile_dir.parent / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    return driver


# ---------------------------------------------------------------- one notebook
_PANEL = """
function qlPanel(path) {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
}
"""

_STATE = _PANEL + """
const panel = qlPanel(arguments[0]);
if (!panel) return {panel: false, app: !!window.jupyterapp};
const sc = panel.sessionContext;
const kernel = sc.session && sc.session.kernel;
const prompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt')).filter(n => n.textContent.includes('[*]'));
let running = null;  // the first [*] cell: the one executing (run-all runs them in order)
const all = panel.content.widgets;
for (let i = 0; i < all.length && prompts.length; i++) {
  const p = all[i].node.querySelector('.jp-InputPrompt');
  if (p && p.textContent.includes('[*]')) {
    running = {index: i, line: all[i].model.sharedModel.getSource().trim().split('\\n')[0].slice(0, 80)};
    break;
  }
}
return {panel: true, contextReady: panel.context.isReady, sessionReady: sc.isReady,
        kernel: kernel ? kernel.status : null, kernelName: kernel ? kernel.name : null,
        kernelId: kernel ? kernel.id : null, busyPrompts: prompts.length, running: running,
        run: window.__qlRun || null, states: window.__qlStates || []};
"""

_RUN_ALL = _PANEL + """
const panel = qlPanel(arguments[0]);
window.jupyterapp.shell.activateById(panel.id);
window.__qlRun = {done: false};
window.__qlStates = [];  // every kernel status from now on (a death and restart can be quicker than a poll)
panel.sessionContext.statusChanged.connect((_, status) => { window.__qlStates.push(status); });
window.jupyterapp.commands.execute('notebook:run-all-cells').then(
  ok => { window.__qlRun = {done: true, ok: ok}; },
  err => { window.__qlRun = {done: true, ok: false, error: String(err)}; });
return true;
"""

_COLLECT = _PANEL + """
const panel = qlPanel(arguments[0]);
const WIDGET = arguments[1];
const cells = [];
const nb = panel.content;
for (let i = 0; i < nb.widgets.length; i++) {
  const cell = nb.widgets[i];
  const m = cell.model;
  if (m.type !== 'code') continue;
  const outs = m.outputs.toJSON();
  const areas = cell.outputArea ? cell.outputArea.widgets : [];
  const outputs = outs.map((o, j) => {
    const node = areas[j] ? areas[j].node : null;
    const data = o.data || {};
    const isWidget = WIDGET in data;
    let text = o.text || data['text/plain'] || '';
    if (Array.isArray(text)) text = text.join('');
    return {type: o.output_type, name: o.name || null, ename: o.ename || null, evalue: o.evalue || null,
            text: String(text).slice(0, 3000), widget: isWidget,
            modelId: isWidget ? data[WIDGET].model_id : null,
            domText: node ? node.innerText.slice(0, 3000) : null,
            domWidgets: node ? node.querySelectorAll('.jupyter-widgets[class*="widget-"]').length : 0,
            mimes: Object.keys(data)};
  });
  const timing = m.getMetadata('execution') || {};
  const t0 = Date.parse(timing['iopub.execute_input']), t1 = Date.parse(timing['shell.execute_reply']);
  cells.push({index: i, executionCount: m.executionCount, source: m.sharedModel.getSource().slice(0, 200),
              seconds: (isNaN(t0) || isNaN(t1)) ? null : (t1 - t0) / 1000,
              tags: m.getMetadata('tags') || [], outputs: outputs});
}
return {cells: cells, text: panel.content.node.innerText};
"""

_SCROLL_TO = _PANEL + """
const panel = qlPanel(arguments[0]);
const cell = panel.content.widgets[arguments[1]];
if (cell) { panel.content.activeCellIndex = arguments[1]; cell.node.scrollIntoView({block: 'start'}); }
return !!cell;
"""

_SHUTDOWN = _PANEL + """
const done = arguments[arguments.length - 1];
const panel = qlPanel(arguments[0]);
if (!panel) { done('no panel'); return; }
(async () => {
  try { await panel.sessionContext.shutdown(); } catch (e) {}
  panel.context.model.dirty = false;   // autosave is off: nothing is written back
  panel.close();
  done('ok');
})().catch(e => done(String(e)));
"""


@dataclass
class LabRun:
    """What one notebook did in JupyterLab."""

    path: str
    seconds: float = 0.0          # open + kernel start + run all + widgets rendered
    load_seconds: float = 0.0     # until the kernel was idle
    run_seconds: float = 0.0      # run all cells, until the end of the execution
    finished: bool = False        # the run ended within the timeout
    run_result: dict | None = None
    kernel_name: str | None = None
    kernel_argv0: str | None = None
    cells: list[dict] = field(default_factory=list)
    text: str = ""
    console: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)     # processes the kernel left behind
    kernel_children: list[str] = field(default_factory=list)
    kernel_states: set = field(default_factory=set)     # kernel statuses seen while the cells ran
    screenshot: str | None = None
    failure: str | None = None    # the driver itself failed (timeout, no panel...)

    @property
    def widget_views(self) -> int:
        return sum(o["widget"] for c in self.cells for o in c["outputs"])

    def slowest(self, n: int = 5) -> list[str]:
        """The ``n`` slowest cells, as recorded by JupyterLab (``recordTiming``)."""
        timed = sorted((c for c in self.cells if c.get("seconds") is not None), key=lambda c: -c["seconds"])
        return [f"cell {c['index']}: {c['seconds']:.1f} s ({c['source'].splitlines()[0][:50] if c['source'] else ''})"
                for c in timed[:n]]

    @property
    def stderr(self) -> list[str]:
        """stderr text of the outputs (shown to the learner in red; reported, not failed)."""
        return [f"cell {c['index']}: {o['text'].strip()[:300]}" for c in self.cells for o in c["outputs"]
                if o["type"] == "stream" and o["name"] == "stderr" and o["text"].strip()]


def _wait(driver, path: str, pred, timeout: float, what: str, poll: float = 0.5, seen: set | None = None) -> dict:
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(_STATE, path) or {}
        if seen is not None:
            seen.update(state.get("states") or [])
        if pred(state):
            return state
        if state.get("kernel") == "dead":
            raise RuntimeError(f"the kernel died while waiting for {what}")
        time.sleep(poll)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s (last state {state})")


class CellWatch:
    """Fails a run whose executing cell (``running`` of the page state) stays the same for more
    than ``limit`` seconds, naming the cell: the browser's counterpart of papermill's per-cell timeout."""

    def __init__(self, limit: float | None = None):
        self.limit = CELL_TIMEOUT_S if limit is None else limit
        self.cell: int | None = None
        self.since = 0.0

    def __call__(self, state: dict) -> None:
        running = state.get("running") or {}
        index = running.get("index")
        if index != self.cell:
            self.cell, self.since = index, time.monotonic()
        elif index is not None and time.monotonic() - self.since > self.limit:
            raise TimeoutError(f"cell {index} ran past the {self.limit:.0f} s limit for one cell "
                               f"(CELL_TIMEOUT_S in tools/run_notebooks.py): {running.get('line', '')}")


def _widgets_settled(cells: list[dict]) -> bool:
    for c in cells:
        for o in c["outputs"]:
            dom = o["domText"] or ""
            if o["widget"] and o["domWidgets"] == 0 and (not dom.strip() or "Loading widget" in dom):
                return False  # still loading (a definite "Error displaying widget" counts as settled)
    return True


def _focus_cell(run: LabRun) -> int | None:
    """The cell to show in the screenshot: the first error, else the first widget, else None (where run-all ended)."""
    for c in run.cells:
        if any(o["type"] == "error" for o in c["outputs"]):
            return c["index"]
    for c in run.cells:  # a cell whose value is a widget (labkit's widgets; tqdm's bars are display_data)
        if any(o["widget"] and o["type"] == "execute_result" for o in c["outputs"]):
            return c["index"]
    return None


def run_in_lab(driver, server: LabServer, path: str, timeout: float = 600, screenshot: Path | None = None) -> LabRun:
    """Open ``path`` (relative to the served root) in JupyterLab, run all cells and collect what it shows."""
    run = LabRun(path)
    start, since = time.monotonic(), time.time()
    kernel_id = None
    try:
        driver.get(server.url(path))
        state = _wait(driver, path, lambda s: s.get("panel") and s.get("sessionReady") and s.get("kernel") == "idle",
                      min(timeout, 180), "an open notebook with an idle kernel")
        run.kernel_name, kernel_id = state.get("kernelName"), state.get("kernelId")
        kp = server.kernel_process(kernel_id) if kernel_id else None
        run.kernel_argv0 = kp.cmdline()[0] if kp else None
        run.load_seconds = round(time.monotonic() - start, 1)
        driver.execute_script(_RUN_ALL, path)
        t0 = time.monotonic()
        watch = CellWatch()  # raises when one cell runs too long
        _wait(driver, path, lambda s: watch(s) or ((s.get("run") or {}).get("done") and s.get("kernel") == "idle"
              and s.get("busyPrompts") == 0), max(timeout - run.load_seconds, 10), "the end of run-all", poll=1.0,
              seen=run.kernel_states)
        run.run_seconds = round(time.monotonic() - t0, 1)
        run.finished = True
        run.run_result = driver.execute_script("return window.__qlRun")
        deadline = time.monotonic() + 30  # widget views render after the comm messages: give them a moment
        while True:
            data = driver.execute_script(_COLLECT, path, WIDGET_MIME)
            if _widgets_settled(data["cells"]) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        run.cells, run.text = data["cells"], data["text"]
        run.seconds = round(time.monotonic() - start, 1)
    except Exception as exc:  # noqa: BLE001 (reported as a failure of this notebook)
        run.seconds = round(time.monotonic() - start, 1)
        run.failure = f"{type(exc).__name__}: {exc}"[:1500]
        try:  # what there is
            data = driver.execute_script(_COLLECT, path, WIDGET_MIME)
            run.cells, run.text = data["cells"], data["text"]
        except Exception:  # noqa: BLE001
            pass
    finally:
        try:
            run.console = [f"{e.get('level')}: {e.get('message', '')[:400]}" for e in driver.get_log("browser")
                           if e.get("level") in ("SEVERE", "WARNING")]
        except Exception:  # noqa: BLE001
            pass
        if screenshot is not None:
            try:
                focus = _focus_cell(run)
                if focus is not None:
                    driver.execute_script(_SCROLL_TO, path, focus)
                    time.sleep(0.3)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(screenshot))
                run.screenshot = str(screenshot)
            except Exception:  # noqa: BLE001
                pass
        _shutdown(driver, server, path, kernel_id, run, since)
    return run


def _orphans(server: LabServer, since: float) -> list:
    """Processes started since ``since`` whose working folder is in the served root, outside the server.

    A notebook's subprocesses (``transformers serve``, uvicorn...) start in the notebook's folder;
    once the kernel is gone, any such process still alive was left behind.
    """
    import psutil

    root = str(server.root.resolve())
    mine = {server.proc.pid} | {p.pid for p in descendants(server.proc.pid)} if server.proc else set()
    found = []
    for p in psutil.process_iter(["pid", "create_time"]):
        try:
            if p.pid in mine or p.info["create_time"] < since - 1:
                continue
            cwd = p.cwd()
            if cwd == root or cwd.startswith(root + os.sep):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _shutdown(driver, server: LabServer, path: str, kernel_id: str | None, run: LabRun, since: float) -> None:
    """Shut the kernel down (through the page, else the REST API) and check nothing it started survives."""
    import psutil

    kp = server.kernel_process(kernel_id) if kernel_id else None
    children = descendants(kp.pid) if kp else []
    for p in children:
        try:
            run.kernel_children.append(" ".join(p.cmdline())[:200])
        except psutil.Error:
            pass
    try:
        driver.execute_async_script(_SHUTDOWN, path)
    except Exception:  # noqa: BLE001
        pass
    try:  # whatever session is left (e.g. the page broke): delete it
        for s in server.api("sessions") or []:
            server.api(f"sessions/{s['id']}", method="DELETE")
    except Exception:  # noqa: BLE001
        pass
    if kp is not None:
        try:
            kp.wait(timeout=30)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=5)  # the kernel has exited: its group is gone already
    alive += [p for p in _orphans(server, since) if p not in alive]
    for p in alive:
        try:
            run.leaked.append(f"pid {p.pid}: {' '.join(p.cmdline())[:200]}")
        except psutil.Error:
            pass
    kill_all(alive, grace=5)


# ---------------------------------------------------------------- the verdict
def problems(run: LabRun, *, expect_banner: bool = True, expect_widgets: bool = False) -> list[str]:
    """One line per thing that is wrong, naming the notebook and the cell."""
    name = run.path
    out: list[str] = []
    if run.failure:
        out.append(f"{name}: {run.failure}")
    died = run.kernel_states & {"dead", "restarting", "autorestarting"}
    if died:
        out.append(f"{name}: the kernel died or restarted while the cells ran (status {', '.join(sorted(died))})")
    if run.run_result and run.run_result.get("done") and not run.run_result.get("ok"):
        out.append(f"{name}: run-all reported a failure {run.run_result.get('error') or ''}".rstrip())
    for c in run.cells:
        where = f"{name} cell {c['index']} ({c['source'].splitlines()[0][:60] if c['source'] else ''!r})"
        for o in c["outputs"]:
            if o["type"] == "error":
                out.append(f"{where}: error output {o['ename']}: {o['evalue']}")
            elif "Traceback (most recent call last)" in (o["domText"] or ""):
                out.append(f"{where}: the page shows a traceback: {o['domText'].strip()[-300:]}")
            if o["widget"]:
                dom = o["domText"] or ""
                bad = WIDGET_AS_TEXT.search(dom)
                if o["domWidgets"] == 0 or bad:
                    shown = " ".join(dom.split())[:160] or "nothing"
                    out.append(f"{where}: widget {o['modelId']} did not render as a widget "
                               f"({o['domWidgets']} widget elements; the page shows {shown!r})")
            elif WIDGET_REPR.search(o["domText"] or ""):  # a widget's repr as text: no widget manager at all
                out.append(f"{where}: a widget is shown as text: {' '.join(o['domText'].split())[:160]!r}")
        if run.finished and c["executionCount"] is None and c["source"].strip() and not run.failure:
            out.append(f"{where}: not executed (run-all stopped before it)")
    if run.finished and not run.failure:
        if expect_banner and BANNER not in run.text:
            out.append(f"{name}: the banner {BANNER!r} is not in the rendered outputs")
        if expect_widgets and run.widget_views == 0:
            out.append(f"{name}: the notebook builds ipywidgets but no widget view was displayed")
    if run.leaked:
        out.append(f"{name}: processes started by the kernel survived its shutdown: {run.leaked}")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    msg = missing_tools_message()
    if msg:
        print(msg)
        return 1
    paths = [p.resolve() for p in args.paths]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="qwen-labs-browser-") as tmp:
        tmp = Path(tmp)
        root = make_root(tmp, paths)
        with LabServer(root, tmp) as server:
            driver = start_browser(tmp / "chromium")
            try:
                for p in paths:
                    rel = f"{p.parent.name}/{p.name}"
                    run = run_in_lab(driver, server, rel, args.timeout, OUT / f"{p.stem}.png")
                    bad = problems(run)
                    failed += bool(bad)
                    print(f"{rel}: {'ok' if not bad else 'FAILED'} in {run.seconds:.1f} s "
                          f"(load {run.load_seconds:.1f} s, run {run.run_seconds:.1f} s, "
                          f"{run.widget_views} widget views)")
                    for line in bad + run.stderr + run.console:
                        print("   ", line)
            finally:
                driver.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
