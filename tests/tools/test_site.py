"""The course website (tools/build_site.py): built from executed notebooks, then read in headless Chromium.

The browser check (:func:`check_site`) opens every page of a built site, served on localhost, and finds:
internal links to a page or an anchor that does not exist; a notebook page whose images are missing or
did not load; an error output (a traceback, a LabError) on any page; a home page that does not link
every notebook and exercise page.  Screenshots go next to the results.

Two builds: a small one from executed notebooks made here (fast; it also shows that each check can
fail), and the course's own from build/executed/ -- in CI the notebook tests (tests/notebooks/test_notebooks.py,
which pytest runs before this file) have just written every copy, so nothing runs twice; elsewhere
the test is skipped until `bash run.sh course --all` has made them.  Its screenshots go to
build/site-screenshots/.  Uses Debian's chromium like tests/notebooks/test_browser.py (same helpers).
"""
from __future__ import annotations

import base64
import json
import os
import re
import struct
import threading
import time
import urllib.parse
import zlib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import browser_check
import build_site
import run_notebooks
from test_browser import require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "site-screenshots"
ERROR_OUTPUT = re.compile(r"Traceback \(most recent call last\)|An Exception was encountered|"
                          r"^\s*(LabError|[A-Z]\w*(Error|Exception))\b", re.M)


def _png(width: int = 4, height: int = 3) -> str:
    """A small grey PNG, base64 (as a notebook stores an image output)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))  # filter 0, one grey byte per pixel
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


PNG = _png()

_LOADED = "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete);"
_PAGE = """
return {
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  images: Array.from(document.images).map(i => ({src: (i.currentSrc || i.src).slice(0, 120),
      ok: i.complete && i.naturalWidth > 0, notebook: !!i.closest('.jupyter-wrapper')})),
  stderr: Array.from(document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
      .map(e => e.innerText),
  title: document.title,
};
"""


# ---------------------------------------------------------------- serving and checking a site
class Served:
    """A built site on a free localhost port (a thread of this process)."""

    def __init__(self, site: Path):
        handler = partial(_Quiet, directory=str(site))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Served":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def site_pages(site: Path) -> list[str]:
    """Every page of a built site, as its path from the root ('' for the home page)."""
    pages = [p.relative_to(site).parent.as_posix() + "/" for p in sorted(site.rglob("index.html"))]
    return ["" if p == "./" else p for p in pages]


def _target(site: Path, path: str) -> Path:
    local = site / urllib.parse.unquote(path).lstrip("/")
    return local / "index.html" if path.endswith("/") or local.is_dir() else local


def link_problems(site: Path, base: str, page: str, links: list[str]) -> list[str]:
    """Internal links of ``page`` to a file or an anchor that does not exist."""
    out = []
    for href in links:
        if not href.startswith(base):
            continue  # GitHub, Colab: outside the site
        parts = urllib.parse.urlsplit(href)
        target = _target(site, parts.path)
        if not target.is_file():
            out.append(f"/{page}: broken link {href[len(base) - 1:]} (no {target.relative_to(site)})")
        elif parts.fragment and target.suffix == ".html":
            anchor = urllib.parse.unquote(parts.fragment)
            if not re.search(rf'\b(id|name)="{re.escape(anchor)}"', target.read_text(encoding="utf-8")):
                out.append(f"/{page}: broken anchor {href[len(base) - 1:]} (no id {anchor!r} in that page)")
    return out


def check_site(driver, site: Path, notebooks: dict[str, int], shots: Path) -> list[str]:
    """Open every page of ``site``; return one line per problem.  ``notebooks``: each notebook page's
    path (``notebooks/00_x/``) -> the number of image outputs its notebook has."""
    problems = []
    shots.mkdir(parents=True, exist_ok=True)
    with Served(site) as served:
        seen = {}
        for page in site_pages(site):
            driver.get(served.url + page)
            deadline = time.monotonic() + 30  # every image decoded (or failed) before the page is read
            while time.monotonic() < deadline and not driver.execute_script(_LOADED):
                time.sleep(0.2)
            got = driver.execute_script(_PAGE)
            seen[page] = got
            name = page.strip("/").replace("/", "__") or "index"
            driver.save_screenshot(str(shots / f"{name}.png"))
            problems += link_problems(site, served.url, page, got["links"])
            for text in got["stderr"]:
                m = ERROR_OUTPUT.search(text)
                if m:
                    problems.append(f"/{page}: shows an error output: {text.strip().splitlines()[0][:150]}")
        for page, expected in notebooks.items():
            if page not in seen:
                problems.append(f"/{page}: the notebook has no page")
                continue
            images = [i for i in seen[page]["images"]  # the badge's image is on Colab's server: not checked
                      if i["notebook"] and (not i["src"].startswith("http") or i["src"].startswith(served.url))]
            broken = [i["src"] for i in images if not i["ok"]]
            problems += [f"/{page}: image {src} did not load" for src in broken]
            if len(images) - len(broken) < expected:
                problems.append(f"/{page}: shows {len(images) - len(broken)} images, its notebook has {expected}")
        home = {urllib.parse.urlsplit(h).path.lstrip("/") for h in seen.get("", {}).get("links", [])}
        problems += [f"the home page does not link /{page}" for page in notebooks if page not in home]
    return problems


def expected_images(src_docs: Path) -> dict[str, int]:
    """Each notebook page of the generated sources -> how many image outputs its notebook has."""
    out = {}
    for nb_path in sorted(src_docs.rglob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        n = sum(any(k.startswith("image/") for k in o.get("data", {})) for c in nb.cells for o in c.get("outputs", []))
        out[build_site.page_url(nb_path.relative_to(src_docs).as_posix())] = n
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    require_browser()
    d = browser_check.start_browser(tmp_path_factory.mktemp("chromium-site"))
    try:
        yield d
    finally:
        d.quit()


# ---------------------------------------------------------------- a small course, executed here
BANNER = ("╭──╮\n│ qwen-labs · profile: offline (QWEN_LABS_PROFILE=offline was requested) │\n"
          "│ device: CPU (2 cores) · torch 2.13.0+cpu · transformers 5.23.0         │\n╰──╯\n")


def _notebook(folder: str, name: str, cells: list, outputs: dict[int, list] | None = None):
    badge = f"(https://colab.research.google.com/github/qwen-labs/qwen-labs/blob/main/{folder}/{name}.ipynb)"
    nb = new_notebook(cells=[new_markdown_cell(f"# {name} · A title\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]{badge}"),
                             new_code_cell("import labkit\nlabkit.banner(profile)"), *cells])
    nb.metadata["papermill"] = {"end_time": "2026-11-29T18:10:50.869257+00:00"}
    for i, outs in (outputs or {}).items():
        nb.cells[i].outputs = outs
    return nb


def make_course(root: Path) -> Path:
    """A course of two notebooks and one exercise, its solution and docs, and executed copies; returns
    the executed copies' folder."""
    link = new_markdown_cell("See the [guide](../docs/instructor_guide.md#timetable), the [exercise]"
                             "(../exercises/00_a_exercise.ipynb) and [labkit](../labkit/generation.py).")
    plot = new_code_cell("plot()")
    task = new_code_cell("# YOUR CODE HERE\nanswer = None")
    answer = new_code_cell("# YOUR CODE HERE\nanswer = None\n### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION")
    banner = [new_output("stream", name="stdout", text=BANNER)]
    image = [new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    hint = [new_output("stream", name="stdout", text="check_answer: not answered yet\n")]
    sources = {"notebooks/00_a": _notebook("notebooks", "00_a", [link, plot]),
               "notebooks/01_b": _notebook("notebooks", "01_b", [plot]),
               "exercises/00_a_exercise": _notebook("exercises", "00_a_exercise", [task]),
               "solutions/00_a_solution": _notebook("solutions", "00_a_solution", [answer])}
    executed = {"notebooks/00_a": {1: banner, 3: image}, "notebooks/01_b": {1: banner, 2: image},
                "exercises/00_a_exercise": {1: banner, 2: hint}}
    for rel, nb in sources.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, root / f"{rel}.ipynb")
        if rel in executed:
            for i, outs in executed[rel].items():
                nb.cells[i].outputs = outs
            (root / "executed" / rel).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / "executed" / f"{rel}.ipynb")
    for rel, text in {"docs/instructor_guide.md": "# Guide\n\n## Timetable\n\nBack to the [map](../README.md).\n",
                      "docs/source_outline.md": "# Outline\n",
                      "labkit/nano/nano_qwen3/MODEL_CARD.md": "# Nano\n\nSee [nano.py](../nano.py).\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "executed"


COURSE_MAP = "| # | notebook |\n|---|---|\n| 00 | [A title](notebooks/00_a.ipynb) |\n| 01 | [B](notebooks/01_b.ipynb) |"


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    executed = make_course(root)
    report = build_site.build(executed, root / "site", root / "src", execute=False, course_map=COURSE_MAP, root=root)
    return root, report


def test_a_missing_stale_or_failed_copy_is_named(tmp_path):
    executed = make_course(tmp_path)
    paths = build_site.sources(root=tmp_path)
    assert [build_site.problem(p, executed) for p in paths] == [None, None, None]
    (executed / "notebooks" / "01_b.ipynb").unlink()
    nb = nbformat.read(tmp_path / "notebooks" / "00_a.ipynb", as_version=4)
    nb.cells[-1].source = "plot(2)"
    nbformat.write(nb, tmp_path / "notebooks" / "00_a.ipynb")
    failed = nbformat.read(executed / "exercises" / "00_a_exercise.ipynb", as_version=4)
    failed.cells[2].outputs = [new_output("error", ename="LabError", evalue="no model", traceback=[])]
    nbformat.write(failed, executed / "exercises" / "00_a_exercise.ipynb")
    with pytest.raises(build_site.SiteError) as err:
        build_site.check_copies(paths, executed, execute=False, root=tmp_path)
    text = str(err.value)
    assert "notebooks/00_a.ipynb: stale" in text and "notebooks/01_b.ipynb: missing" in text
    assert "exercises/00_a_exercise.ipynb: has an error output (LabError: no model)" in text
    assert "bash run.sh course --all" in text


def test_links_point_at_pages_or_github():
    # a notebook page links to URLs (nbconvert's HTML is not rewritten by MkDocs), a markdown page to files
    assert build_site.rewrite_link("../docs/instructor_guide.md#x", "notebooks/a.ipynb", "notebooks/a.ipynb") == \
        "../../instructor_guide/#x"
    assert build_site.rewrite_link("../exercises/00_a_exercise.ipynb", "notebooks/a.ipynb", "notebooks/a.ipynb") == \
        "../../exercises/00_a_exercise/"
    assert build_site.rewrite_link("../README.md", "notebooks/a.ipynb", "notebooks/a.ipynb") == "../../"
    assert build_site.rewrite_link("notebooks/00_a.ipynb", "README.md", "index.md") == "notebooks/00_a.ipynb"
    assert build_site.rewrite_link("../README.md#course-map", "docs/instructor_guide.md", "instructor_guide.md") \
        == "index.md#course-map"
    assert build_site.rewrite_link("../solutions/00_a_solution.ipynb", "exercises/x.ipynb", "exercises/x.ipynb") \
        == build_site.GITHUB + "solutions/00_a_solution.ipynb"
    assert build_site.rewrite_link("https://qwen.ai", "README.md", "index.md") == "https://qwen.ai"


def test_the_small_site_has_every_page_its_notes_and_hidden_solutions(small_site):
    root, report = small_site
    site = root / "site"
    assert report["pages"] == 7 and report["bytes"] > 0
    assert set(site_pages(site)) >= {"", "notebooks/00_a/", "notebooks/01_b/", "exercises/00_a_exercise/",
                                     "instructor_guide/", "model_card/", "source_outline/"}
    assert not (site / "solutions").exists()
    page = (site / "notebooks" / "00_a" / "index.html").read_text()
    assert "offline profile</strong>: the nano Qwen3 model on a CPU, executed 2026-11-29 18:10 UTC on CPU (2 cores)" \
        in page
    assert build_site.GITHUB + "notebooks/00_a.ipynb" in page and build_site.COLAB + "notebooks/00_a.ipynb" in page
    exercise = (site / "exercises" / "00_a_exercise" / "index.html").read_text()
    assert re.search(r'<details class="qwen-solution"><summary>Show solution</summary>.*6.*7', exercise, re.S)
    assert "BEGIN SOLUTION" not in exercise


def test_the_browser_check_passes_the_small_site(small_site, driver, tmp_path):
    root, _ = small_site
    expected = expected_images(root / "src" / "docs")
    assert expected == {"notebooks/00_a/": 1, "notebooks/01_b/": 1, "exercises/00_a_exercise/": 0}
    problems = check_site(driver, root / "site", expected, tmp_path / "shots")
    assert problems == [], "\n".join(problems)
    assert (tmp_path / "shots" / "notebooks__00_a.png").stat().st_size > 0


def test_the_browser_check_can_fail(small_site, driver, tmp_path):
    root, _ = small_site
    site = tmp_path / "site"
    import shutil

    shutil.copytree(root / "site", site)
    home = site / "index.html"
    home.write_text(home.read_text().replace('href="notebooks/01_b/"', 'href="notebooks/09_gone/"'))
    page = site / "notebooks" / "00_a" / "index.html"
    text = re.sub(r'src="data:image/png;base64,[^"]+"', 'src="missing.png"', page.read_text())
    text = text.replace("check_answer", "x").replace(
        "</body>", '<div data-mime-type="application/vnd.jupyter.stderr">LabError: no model. FIX: x</div></body>')
    page.write_text(text.replace("#timetable", "#no-such-anchor"))
    bad = "\n".join(check_site(driver, site, expected_images(root / "src" / "docs"), tmp_path / "shots"))
    assert "/: broken link /notebooks/09_gone/" in bad, bad
    assert "the home page does not link /notebooks/01_b/" in bad, bad
    assert "/notebooks/00_a/: image" in bad and "did not load" in bad, bad
    assert "/notebooks/00_a/: shows 0 images, its notebook has 1" in bad, bad
    assert "/notebooks/00_a/: shows an error output: LabError: no model" in bad, bad
    assert "broken anchor /instructor_guide/#no-such-anchor" in bad, bad


# ---------------------------------------------------------------- the course's own site
def test_the_course_site(driver):
    """The site of the course, from build/executed/ (what the notebook tests just wrote, in CI)."""
    executed = run_notebooks.EXECUTED
    bad = {str(p.relative_to(ROOT)): why for p in build_site.sources() if (why := build_site.problem(p, executed))}
    if bad:
        message = (f"{len(bad)} executed copies are missing or stale ({', '.join(sorted(bad)[:4])}...): "
                   "run `bash run.sh course --all` (or the notebook tests) first")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    report = build_site.build(execute=False)
    build_site.REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"site: {report['pages']} pages, {report['bytes'] / 1e6:.1f} MB, built in {report['seconds']:.1f} s")
    expected = expected_images(build_site.SRC / "docs")
    assert len(expected) == len(build_site.sources())
    problems = check_site(driver, build_site.OUT, expected, SHOTS)
    assert not problems, "\n".join(problems) + f"\nscreenshots: {SHOTS}"
