"""Build the course website: the executed notebooks (offline profile) as a static site, with MkDocs.

    python tools/build_site.py               # build/site/ from build/executed/ (runs missing or stale copies first)
    python tools/build_site.py --no-execute  # fail, naming them, when an executed copy is missing or stale (CI)

``bash run.sh site`` runs it.  The site is MkDocs with Material and mkdocs-jupyter (the extra ``[site]``
of pyproject.toml): it builds with no network (no theme or font is fetched; Material's Google fonts
are switched off in ``site/mkdocs.yml``).  What it holds:

* the home page: the course map of README.md, rendered by ``tools/course_map.py``, and a list of every
  notebook and exercise page;
* one page per course notebook and per exercise, from its executed copy in ``build/executed/`` (what
  ``tools/run_notebooks.py --all`` or the notebook tests write), every output kept; each page starts
  with where its outputs come from (the offline profile: the nano model on a CPU, the date and the
  device from the copy's banner) and links to the notebook on GitHub and to Colab;
* under each ``# YOUR CODE HERE`` cell of an exercise, its solution (from ``solutions/``) collapsed
  behind "Show solution"; the solution notebooks themselves are not pages;
* the instructor guide, the nano model's card and the source outline.

Links between repository files are rewritten: to the page when the file is a page, else to GitHub.
An executed copy is *stale* when its cells' sources differ from the committed notebook, when it was
not run under the offline profile, or when it holds an error output; it is run again (or, with
``--no-execute``, named).  The markdown sources of the site go to ``build/site-src/``, the site to
``build/site/``, and the build's time and size to ``build/site-build.json``.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

import run_notebooks  # noqa: E402  (tools/ is on the path: as a script, and under pytest)

CONFIG = ROOT / "site" / "mkdocs.yml"          # theme, plugins, markdown extensions (the nav is generated)
CSS = ROOT / "site" / "qwen-labs.css"
SRC = ROOT / "build" / "site-src"
OUT = ROOT / "build" / "site"
REPORT = ROOT / "build" / "site-build.json"
REPO = "qwen-labs/qwen-labs"
GITHUB = f"https://github.com/{REPO}/blob/main/"
COLAB = f"https://colab.research.google.com/github/{REPO}/blob/main/"
FOLDERS = ("notebooks", "exercises")           # their executed copies become pages
MARKDOWN_PAGES = {                              # repository file -> page (README.md's course map is the home page)
    "README.md": "index.md",
    "docs/instructor_guide.md": "instructor_guide.md",
    "labkit/nano/nano_qwen3/MODEL_CARD.md": "model_card.md",
    "docs/source_outline.md": "source_outline.md",
}
PAGE_TITLES = {"instructor_guide.md": "Instructor guide", "model_card.md": "Nano model card",
               "source_outline.md": "Source outline"}
INSTALL_HINT = 'pip install -e ".[site]"  (bash run.sh site installs it)'
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
DEVICE = re.compile(r"device: ([^│\n]+?)\s*│?\s*$", re.M)


class SiteError(Exception):
    """The site cannot be built (missing or stale executed copies, a failed MkDocs build)."""


# ------------------------------------------------------------------------------ executed copies
def sources(folders: tuple[str, ...] = FOLDERS, root: Path = ROOT) -> list[Path]:
    """The notebooks that become pages, in course order."""
    return [p for folder in folders for p in sorted((root / folder).glob("*.ipynb"))]


def executed_path(path: Path, executed: Path) -> Path:
    return executed / path.parent.name / path.name


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def _text(nb) -> str:
    return "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                     for c in nb.cells for o in c.get("outputs", []))


def problem(path: Path, executed: Path) -> str | None:
    """Why the executed copy of ``path`` cannot be published (None when it can)."""
    import nbformat

    copy = executed_path(path, executed)
    if not copy.exists():
        return "missing"
    nb = nbformat.read(copy, as_version=4)
    if _cells(nb) != _cells(nbformat.read(path, as_version=4)):
        return "stale (its cells differ from the committed notebook)"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    if errors:
        return f"has an error output ({errors[0].get('ename')}: {errors[0].get('evalue', '')[:80]})"
    if "profile: offline" not in _text(nb):
        return "not run under the offline profile (no 'profile: offline' banner)"
    return None


def check_copies(paths: list[Path], executed: Path, execute: bool, root: Path = ROOT) -> dict[str, str]:
    """Make sure every page has a publishable executed copy: run the others (``execute``) or raise."""
    bad = {p: why for p in paths if (why := problem(p, executed))}
    if bad and not execute:
        lines = "\n".join(f"  {p.relative_to(root)}: {why}" for p, why in bad.items())
        raise SiteError(f"{len(bad)} executed copies cannot be published:\n{lines}\nMake them with "
                        f"`bash run.sh course --all` (or `python tools/run_notebooks.py <notebook>` for each), "
                        f"or run `bash run.sh site` without --no-execute, which runs just these.")
    ran = {}
    for path, why in bad.items():
        rel = str(path.relative_to(root))
        print(f"site: executing {rel} ({why})", flush=True)
        status, seconds, error = run_notebooks.run_notebook(path, executed, profile="offline")
        run_notebooks.record_times([{"notebook": rel, "status": status, "seconds": seconds, "profile": "offline"}])
        if problem(path, executed):
            raise SiteError(f"{rel} did not run cleanly under the offline profile: {error or problem(path, executed)}")
        ran[rel] = f"{status} in {seconds:.1f} s"
    return ran


# ------------------------------------------------------------------------------ links
def site_path(repo_path: str) -> str | None:
    """The page a repository file becomes (None when it is not part of the site)."""
    if repo_path in MARKDOWN_PAGES:
        return MARKDOWN_PAGES[repo_path]
    folder = repo_path.split("/")[0]
    return repo_path if folder in FOLDERS and repo_path.endswith(".ipynb") else None


def page_url(page: str) -> str:
    """The URL of a page, from the site's root: ``index.md`` -> ``""``, ``notebooks/a.ipynb`` -> ``notebooks/a/``."""
    stem = re.sub(r"\.(md|ipynb)$", "", page)
    return "" if stem == "index" else stem + "/"


def rewrite_link(target: str, source: str, page: str) -> str:
    """``target`` as written in repository file ``source``, as a link from site page ``page``.

    A markdown page links to the target page's file (MkDocs turns it into its URL and checks it); a
    notebook page's HTML comes from nbconvert as it is, so it links to the target page's URL.
    """
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target, re.I):
        return target  # absolute URL, mailto:, anchor, site-absolute
    path, _, anchor = target.partition("#")
    anchor = f"#{anchor}" if anchor else ""
    repo_path = os.path.normpath(os.path.join(os.path.dirname(source), path)).replace(os.sep, "/")
    if repo_path.startswith(".."):
        return target
    new = site_path(repo_path)
    if new is None:
        return GITHUB + repo_path + anchor
    if page.endswith(".md"):
        return os.path.relpath(new, os.path.dirname(page) or ".").replace(os.sep, "/") + anchor
    rel = os.path.relpath(page_url(new) or ".", page_url(page)).replace(os.sep, "/")
    return ("" if rel == "." else rel + "/") + anchor


def rewrite_links(text: str, source: str, page: str) -> str:
    return LINK.sub(lambda m: m.group(1) + rewrite_link(m.group(2), source, page) + m.group(3), text)


# ------------------------------------------------------------------------------ pages
@dataclass
class Page:
    path: str       # in the site's docs folder
    title: str


def provenance(nb, rel: str, root: Path = ROOT) -> str:
    """The HTML note at the top of a notebook page: where its outputs come from, and its links."""
    when = str(nb.metadata.get("papermill", {}).get("end_time") or "")
    date = f"{when[:10]} {when[11:16]} UTC" if len(when) >= 16 else "on an unrecorded date"
    m = DEVICE.search(_text(nb))
    device = m.group(1).strip() if m else "unrecorded device"
    times = {}
    try:
        times = json.loads((root / "build" / "notebook_times.json").read_text())["notebooks"].get(rel, {})
    except (OSError, ValueError, KeyError):
        pass
    system = times.get("machine", "").rpartition(", ")[2] or f"{platform.system()} {platform.machine()}"
    return (f'<div class="qwen-provenance"><p><strong>Outputs on this page</strong> come from the '
            f"<strong>offline profile</strong>: the nano Qwen3 model on a CPU, executed {html.escape(date)} on "
            f"{html.escape(device)} ({html.escape(system)}). With a GPU and the Hub (the hub profile) the same "
            f'cells run the real Qwen checkpoints and print other numbers.</p><p>'
            f'<a href="{GITHUB}{rel}">Notebook on GitHub</a> · <a href="{COLAB}{rel}">Open in Colab</a></p></div>')


def solution_html(source: str) -> str:
    """A solution cell's answer (between nbgrader's markers), collapsed behind "Show solution"."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    m = re.search(r"### BEGIN SOLUTION\n(.*?)\n?### END SOLUTION", source, re.S)
    code = m.group(1) if m else source
    return ('<details class="qwen-solution"><summary>Show solution</summary>'
            + highlight(code, PythonLexer(), HtmlFormatter(cssclass="highlight")) + "</details>")


def notebook_page(path: Path, executed: Path, src: Path, root: Path = ROOT) -> Page:
    """Write the page of ``path`` (its executed copy, annotated) into ``src``."""
    import nbformat
    from nbformat.v4 import new_markdown_cell

    rel = path.relative_to(root).as_posix()
    nb = nbformat.read(executed_path(path, executed), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, rel, rel)
    if path.parent.name == "exercises":
        solution = root / "solutions" / path.name.replace("_exercise", "_solution")
        answers = nbformat.read(solution, as_version=4).cells
        for i in reversed(range(len(nb.cells))):
            if nb.cells[i].cell_type == "code" and nb.cells[i].source.startswith("# YOUR CODE HERE"):
                nb.cells.insert(i + 1, new_markdown_cell(solution_html(answers[i].source)))
    nb.cells.insert(1, new_markdown_cell(provenance(nb, rel, root)))
    out = src / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    first = nb.cells[0].source.splitlines()[0] if nb.cells else path.stem
    return Page(rel, first.lstrip("# ").strip())


def home_page(pages: list[Page], course_map: str) -> str:
    """The home page: the course map (tools/course_map.py) and every notebook and exercise page."""
    body = re.sub(r"<!--.*?-->\n*", "", course_map, flags=re.S)
    lists = []
    for folder, heading in (("notebooks", "Notebooks"), ("exercises", "Exercises")):
        items = [f"- [{p.title}]({p.path})" for p in pages if p.path.startswith(folder + "/")]
        lists += [f"### {heading}", "", *items, ""]
    return "\n".join([
        "# qwen-labs", "",
        "A hands-on Jupyter course on the Qwen LLM family: tokenizers, chat templates, thinking mode, "
        "quantization, LoRA/QLoRA fine-tuning, monitoring and production serving.", "",
        "Every page shows the outputs of one run of its notebook under the **offline profile**: the nano "
        "Qwen3 model that ships with the course, on a CPU. Each page says when and where it ran, and links to "
        "the notebook on GitHub and to Colab, where you can run it yourself (with a GPU, on the real Qwen "
        "checkpoints). Each exercise keeps its solutions behind **Show solution**.", "",
        "## Course map", "", rewrite_links(body, "README.md", "index.md"), "",
        "## Every page", "", *lists])


def write_sources(executed: Path, src: Path, course_map: str, root: Path = ROOT) -> list[Page]:
    """The site's docs folder: notebook and exercise pages, the markdown pages, the home page."""
    import yaml

    if src.exists():
        shutil.rmtree(src)
    docs = src / "docs"
    docs.mkdir(parents=True)
    pages = [notebook_page(p, executed, docs, root) for p in sources(root=root)]
    for repo_path, page in MARKDOWN_PAGES.items():
        if page != "index.md":
            text = (root / repo_path).read_text(encoding="utf-8")
            (docs / page).write_text(rewrite_links(text, repo_path, page), encoding="utf-8")
    (docs / "index.md").write_text(home_page(pages, course_map), encoding="utf-8")
    shutil.copy(CSS, docs / CSS.name)
    nav = [{"Course map": "index.md"}]
    for folder in FOLDERS:
        nav.append({folder.capitalize(): [{p.title: p.path} for p in pages if p.path.startswith(folder + "/")]})
    nav += [{PAGE_TITLES[p]: p} for p in MARKDOWN_PAGES.values() if p in PAGE_TITLES]
    config = {"INHERIT": str(CONFIG), "docs_dir": str(docs), "nav": nav}
    (src / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return pages


def mkdocs_build(src: Path, out: Path) -> None:
    """``mkdocs build --strict`` of ``src/mkdocs.yml`` into ``out`` (a warning, e.g. a broken link, fails it)."""
    try:
        import mkdocs  # noqa: F401
        import mkdocs_jupyter  # noqa: F401
        import material  # noqa: F401
    except ImportError as exc:
        raise SiteError(f"the site tool is not installed ({exc.name}): {INSTALL_HINT}") from None
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-q",
                           "-f", str(src / "mkdocs.yml"), "-d", str(out)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SiteError(f"mkdocs build failed ({done.returncode}):\n{done.stdout}{done.stderr}".rstrip())


def _secondary_toc(page: str) -> str:
    """The first table of contents of a Material page (``md-nav--secondary``, with its nested navs)."""
    start = page.find('<nav class="md-nav md-nav--secondary"')
    if start < 0:
        return ""
    depth = 0
    for m in re.finditer(r"<nav\b|</nav>", page[start:]):
        depth += 1 if m.group() == "<nav" else -1
        if depth == 0:
            return page[start:start + m.end()]
    return ""


def fix_toc_anchors(page: str) -> str:
    """A notebook page with its table of contents pointing at its headings.

    mkdocs-jupyter 0.26 slugs the table of contents without a heading's code spans
    (``#3-transformers-5-returns-a``) but the heading itself with them
    (``id="3-transformers-5-apply_chat_template-returns-a-batchencoding"``): the links go nowhere.
    The entries are the page's headings below its title, in order, so each is pointed at its heading;
    a page whose counts differ is left alone (the site test then reports its broken anchors).
    """
    toc = re.findall(r'href="#([^"]+)"', _secondary_toc(page))
    ids = [i for level, i in re.findall(r'<h([1-6]) id="([^"]+)"', page) if level != "1"]
    if len(toc) != len(ids):
        return page
    for old, new in zip(toc, ids):
        if old != new:
            page = page.replace(f'href="#{old}"', f'href="#{new}"')
    return page


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(executed: Path = run_notebooks.EXECUTED, out: Path = OUT, src: Path = SRC, execute: bool = True,
          course_map: str | None = None, root: Path = ROOT) -> dict:
    """Build the site; return what :data:`REPORT` records (pages, seconds, bytes, notebooks executed)."""
    start = time.perf_counter()
    ran = check_copies(sources(root=root), executed, execute, root)
    if course_map is None:
        import course_map as cm

        course_map = cm.render_readme()
    pages = write_sources(executed, src, course_map, root)
    mkdocs_build(src, out)
    for page in pages:
        html_path = out / page_url(page.path) / "index.html"
        html_path.write_text(fix_toc_anchors(html_path.read_text(encoding="utf-8")), encoding="utf-8")
    return {"site": str(out), "pages": len(pages) + len(MARKDOWN_PAGES), "executed_first": ran,
            "seconds": round(time.perf_counter() - start, 1), "bytes": size_bytes(out),
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-execute", action="store_true",
                    help="fail when an executed copy is missing or stale instead of running it (CI)")
    ap.add_argument("--executed", type=Path, default=run_notebooks.EXECUTED, help="the executed copies' folder")
    ap.add_argument("--out", type=Path, default=OUT, help="where the site goes (default build/site)")
    args = ap.parse_args(argv)
    try:
        report = build(args.executed, args.out, execute=not args.no_execute)
    except SiteError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"site: {report['pages']} pages in {report['site']} ({report['bytes'] / 1e6:.1f} MB), built in "
          f"{report['seconds']:.1f} s; open {Path(report['site']) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
