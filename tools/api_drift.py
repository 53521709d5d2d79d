"""Version-drift guard: do the keyword arguments the course passes to transformers, peft, trl and
bitsandbytes still exist in the installed versions?

    python tools/api_drift.py                 # every notebook, exercise and solution, and labkit/*.py
    python tools/api_drift.py path.ipynb ...  # just these (notebooks or .py files)

Each code cell (IPython magics and shell lines dropped) is parsed with ``ast``.  A call is checked when
its callee resolves, through the imports and simple aliases of the same notebook (or module), to an
object of one of the four libraries -- ``SFTConfig(...)``, ``transformers.BitsAndBytesConfig(...)``,
``AutoModelForCausalLM.from_pretrained(...)``, ``get_peft_model(...)`` -- or to a labkit class derived
from one (``finetune.LabelOnlySFTTrainer``).  Calls on instances (``model.generate(...)``) are out of
scope: what ``model`` is cannot be known without running the notebook.  ``**name`` is expanded when
``name`` is bound only to dict displays (``machine = dict(report_to="none", ...)``) in that notebook.

Each keyword is checked against ``inspect.signature`` (for the config dataclasses -- SFTConfig,
TrainingArguments, LoraConfig -- that is their fields).  Callables with ``**kwargs``:

* model ``from_pretrained`` (``AutoModel*`` and ``PreTrainedModel``): strict against its parameters,
  the ``kwargs.pop``/``kwargs.get`` names in its source and the generic ``PreTrainedConfig`` fields;
  anything else would be a config override -- or the ``TypeError`` of the model's ``__init__``.
* transformers' quantization configs (``BitsAndBytesConfig``): strict against the explicit
  parameters, because the ``**kwargs`` they take are dropped with an info log, so a renamed argument
  would be silently ignored.
* any other (``AutoTokenizer.from_pretrained``, ``AutoConfig.from_pretrained``, ``TextIteratorStreamer``,
  ``PeftModel.from_pretrained``, ...): a keyword that is a named parameter is checked; one that would
  land in ``**kwargs`` cannot be decided and is listed as not checked.

A call that is a statement of a ``try:`` whose handler catches ``TypeError`` is a *demonstration* of
an old API (notebook 06's ``TrainingArguments(evaluation_strategy=...)``): it must still raise, so at
least one of its keywords must still be rejected; when all are accepted it is reported as stale.
Calls nested in its arguments are ordinary calls (they run first, and their TypeError would be the
wrong one).  ``except ValueError`` does not make a demonstration (notebook 06 catches the ValueError
of a valid ``SFTConfig(output_dir=...)``); under ``except Exception`` or a bare ``except`` the intent
is unknown and the call is listed as not checked.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import functools
import importlib
import importlib.metadata
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

import run_notebooks  # noqa: E402  (tools/ is on the path: as a script, and under pytest)

LIBRARIES = ("transformers", "peft", "trl", "bitsandbytes")
RESOLVABLE = LIBRARIES + ("labkit",)  # roots worth importing to resolve a callee
BROAD = {"Exception", "BaseException"}


@dataclass
class Call:
    source: str                 # path relative to the repository
    cell: int | None            # index in the notebook's cells (None for a .py file)
    line: int                   # line within the cell (or file)
    callee: str                 # as written: "AutoModelForCausalLM.from_pretrained"
    target: str                 # resolved: "transformers.AutoModelForCausalLM.from_pretrained"
    library: str                # "transformers" | "peft" | "trl" | "bitsandbytes"
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (name, how: "" or "**machine")
    context: str = "call"       # "call" | "demonstration" | "broad"

    @property
    def where(self) -> str:
        cell = f" cell {self.cell}" if self.cell is not None else ""
        return f"{self.source}{cell} line {self.line}"


@dataclass
class Report:
    calls: list[Call] = field(default_factory=list)
    checked: list[tuple[str, int | None, str, str, str]] = field(default_factory=list)  # (source, cell, callee, kw, verdict)
    problems: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        versions = ", ".join(f"{lib} {version(lib)}" for lib in LIBRARIES)
        in_labkit = sum(1 for t in self.checked if t[0].startswith("labkit/"))
        lines = [f"api drift: {len(self.checked)} (source, call, argument) triples checked "
                 f"({len(self.checked) - in_labkit} in notebooks, {in_labkit} in labkit) in {len(self.calls)} calls "
                 f"against {versions}; {len(self.problems)} problems"]
        for title, items in (("problems", self.problems), ("not checked", self.not_checked),
                             ("notes", self.notes), ("cells not parsed", self.unparsed)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  {item}" for item in items]
        return "\n".join(lines)


def version(lib: str) -> str:
    try:
        return importlib.metadata.version(lib)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def course_sources() -> list[Path]:
    """Every notebook, exercise and solution (as ``run_notebooks`` lists them), then labkit's modules."""
    return run_notebooks.notebooks(include_all=True) + sorted((ROOT / "labkit").rglob("*.py"))


# ------------------------------------------------------------------ parsing
MAGIC = re.compile(r"^(\s*)[%!]")


PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}  # cell magics whose body is Python


def strip_magics(src: str) -> str:
    """IPython magics (``%pip``, ``%%time``) and shell lines (``!ls``) become ``pass``, indentation kept;
    a cell under a non-Python cell magic (``%%bash``, ``%%writefile``) becomes empty."""
    first = src.lstrip().split(None, 1)[0] if src.strip() else ""
    if first.startswith("%%") and first[2:] not in PYTHON_CELL_MAGICS:
        return ""
    return "\n".join(MAGIC.sub(r"\1pass  # ", line) if MAGIC.match(line) else line for line in src.splitlines())


def code_cells(path: Path) -> list[tuple[int | None, str]]:
    if path.suffix == ".py":
        return [(None, path.read_text())]
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def parse(src: str) -> ast.Module:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # notebook 08 awaits at top level
    return compile(strip_magics(src), "<cell>", "exec", flags=flags, dont_inherit=True)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def walk(tree: ast.AST):
    """``ast.walk`` that also yields the ids of the functions enclosing each node (innermost last)."""
    todo = [(tree, ())]
    while todo:
        node, funcs = todo.pop()
        yield node, funcs
        inner = funcs + (id(node),) if isinstance(node, FUNCTIONS) else funcs
        todo += [(child, inner) for child in ast.iter_child_nodes(node)]


class Scope:
    """What the names of one notebook (all its cells) or one module are bound to.

    Imports count wherever they are (labkit imports inside its functions); ``name = value``
    assignments belong to the innermost function, or to the notebook/module when outside any.
    """

    def __init__(self, module: str | None = None):
        self.module = module                      # "labkit.lessons.quantization", for relative imports
        self.names: dict[str, set[str]] = {}      # name -> dotted targets ("trl.SFTConfig")
        self.values: dict[tuple, list[ast.AST]] = {}  # (function id or None, name) -> values assigned
        self.keys_set: dict[tuple, list[str]] = {}    # (function id or None, name) -> name["key"] = ...
        self.local: set[tuple] = set()            # (function id or None, name) bound in that scope

    def bind(self, name: str, target: str) -> None:
        self.names.setdefault(name, set()).add(target)

    def collect(self, tree: ast.AST) -> None:
        for node, funcs in walk(tree):
            fid = funcs[-1] if funcs else None
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.bind(a.asname, a.name)
                    else:
                        self.bind(a.name.split(".")[0], a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node)
                if base:
                    for a in node.names:
                        if a.name != "*":
                            self.bind(a.asname or a.name, f"{base}.{a.name}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Name):
                        self.values.setdefault((fid, t.id), []).append(node.value)
                    elif (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                          and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str)):
                        self.keys_set.setdefault((fid, t.value.id), []).append(t.slice.value)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.local.add((fid, node.id))
            elif isinstance(node, FUNCTIONS):
                a = node.args
                for arg in a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]:
                    self.local.add((id(node), arg.arg))

    def _absolute(self, node: ast.ImportFrom) -> str | None:
        if not node.level:
            return node.module
        if not self.module:
            return None
        package = self.module.split(".")[: -node.level]
        return ".".join(package + ([node.module] if node.module else [])) or None

    def resolve_aliases(self) -> None:
        """``LoraTrainer = finetune.LabelOnlySFTTrainer`` (outside functions): the alias gets its target."""
        for _ in range(3):  # aliases of aliases
            for (fid, name), values in self.values.items():
                if fid is None and len(values) == 1 and dotted(values[0]) and name not in self.names:
                    target = self.target(dotted(values[0]))
                    if target:
                        self.bind(name, target)

    def target(self, chain: str) -> str | None:
        head, _, rest = chain.partition(".")
        bound = self.names.get(head)
        if not bound or len(bound) != 1:
            return None
        (base,) = bound
        return f"{base}.{rest}" if rest else base

    def _owner(self, name: str, funcs: tuple) -> tuple:
        for fid in reversed(funcs):
            if (fid, name) in self.local:
                return (fid, name)
        return (None, name)

    def dict_keys(self, name: str, funcs: tuple = (), seen: frozenset = frozenset()) -> list[str] | None:
        """The keys of ``**name`` seen from inside ``funcs``, when every value assigned to ``name``
        in its scope is a dict display (plus ``name["key"] = ...`` items); else None."""
        owner = self._owner(name, funcs)
        values = self.values.get(owner)
        if not values or owner in seen:
            return None
        keys: list[str] = []
        for v in values:
            scope_funcs = funcs[: funcs.index(owner[0]) + 1] if owner[0] is not None else ()
            got = self._display_keys(v, scope_funcs, seen | {owner})
            if got is None:
                return None
            keys += got
        keys += self.keys_set.get(owner, [])
        return list(dict.fromkeys(keys))

    def _display_keys(self, node: ast.AST, funcs: tuple, seen: frozenset) -> list[str] | None:
        pairs: list[tuple[ast.AST | None, ast.AST]]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            pairs = [(ast.Constant(kw.arg) if kw.arg else None, kw.value) for kw in node.keywords]
        elif isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values))
        else:
            return None
        keys: list[str] = []
        for k, v in pairs:
            if k is None:  # **other
                inner = self.dict_keys(v.id, funcs, seen) if isinstance(v, ast.Name) else None
                if inner is None:
                    return None
                keys += inner
            elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                keys.append(k.value)
            else:
                return None
        return keys


# ------------------------------------------------------------------ resolving
def resolve_object(target: str):
    """Import the longest module prefix of ``target`` and getattr the rest; None when that fails."""
    parts = target.split(".")
    if parts[0] not in RESOLVABLE:
        return None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001 (not a module, or not importable here)
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except Exception:  # noqa: BLE001
            return None
        return obj
    return None


def _top(module: str | None) -> str:
    return (module or "").split(".")[0]


def library_of(obj) -> str | None:
    """Which of the four libraries ``obj`` comes from (a class: any class of its MRO)."""
    func = getattr(obj, "__func__", obj)
    top = _top(getattr(func, "__module__", None))
    if top in LIBRARIES:
        return top
    if inspect.isclass(obj):
        for base in obj.__mro__:
            if _top(base.__module__) in LIBRARIES:
                return _top(base.__module__)
    return None


_POPPED = re.compile(r"""kwargs\.(?:pop|get)\(\s*["'](\w+)["']""")


def _model_from_pretrained_extra() -> set[str]:
    """What a model's ``from_pretrained(**kwargs)`` reads besides its parameters."""
    from transformers import PreTrainedConfig, PreTrainedModel
    from transformers.models.auto.auto_factory import _BaseAutoModelClass

    names = set(inspect.signature(PreTrainedModel.from_pretrained).parameters)
    for func in (PreTrainedModel.from_pretrained, _BaseAutoModelClass.from_pretrained):
        names |= set(_POPPED.findall(inspect.getsource(func)))
    names |= set(inspect.signature(PreTrainedConfig).parameters)  # generic config overrides
    return {n for n in names if not n.startswith("_")}


def accepted(obj) -> tuple[set[str] | None, bool, str]:
    """``(names, strict, how)``: the keywords ``obj`` accepts; strict when nothing else is accepted."""
    try:
        sig = inspect.signature(obj)
        outer = inspect.signature(obj, follow_wrapped=False)  # a wrapper may take **kwargs (model configs do)
    except (TypeError, ValueError):
        return None, False, "no signature"
    params = {n for n, p in sig.parameters.items()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for s in (sig, outer) for p in s.parameters.values()):
        return params, True, "signature"
    owner = getattr(obj, "__self__", None)
    if getattr(obj, "__name__", "") == "from_pretrained" and inspect.isclass(owner):
        from transformers import PreTrainedModel
        from transformers.models.auto.auto_factory import _BaseAutoModelClass

        if issubclass(owner, (PreTrainedModel, _BaseAutoModelClass)):
            return params | _model_from_pretrained_extra(), True, "from_pretrained parameters and the kwargs it reads"
    if inspect.isclass(obj):
        try:
            from transformers.utils.quantization_config import QuantizationConfigMixin
        except ImportError:  # pragma: no cover
            QuantizationConfigMixin = ()  # noqa: N806
        if QuantizationConfigMixin and issubclass(obj, QuantizationConfigMixin):
            return params, True, "explicit parameters (its **kwargs are ignored)"
    return params, False, "**kwargs"


@functools.lru_cache(maxsize=None)
def _module_source(module: str) -> str:
    try:
        return inspect.getsource(importlib.import_module(module))
    except Exception:  # noqa: BLE001
        return ""


def deprecated(obj, name: str) -> str | None:
    """What the library says when keyword ``name`` is deprecated: a dataclass field's help that starts
    with "Deprecated", or a "`name` is deprecated" message in the callable's module (for a model's
    ``from_pretrained``, also in modeling_utils and configuration_utils, which handle its kwargs)."""
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name == name:
                text = str(f.metadata.get("help", ""))
                if re.match(r"\W*deprecated\b", text, re.I):
                    return " ".join(text.split())[:160]
    func = getattr(obj, "__func__", obj)
    modules = [getattr(func, "__module__", None) or ""]
    if getattr(obj, "__name__", "") == "from_pretrained":
        modules += ["transformers.modeling_utils", "transformers.configuration_utils"]
    pattern = re.compile(rf"""[`'"]{re.escape(name)}[`'"] (?:is|are|has been) deprecated[^"'\n]*""", re.I)
    for module in modules:
        m = pattern.search(_module_source(module)) if module.split(".")[0] in LIBRARIES else None
        if m:
            return m.group(0)
    return None


# ------------------------------------------------------------------ collecting calls
def _demo_kind(handlers: list[ast.ExceptHandler]) -> str | None:
    kinds = set()
    for h in handlers:
        if h.type is None:
            kinds.add("broad")
            continue
        names = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        for n in names:
            text = (dotted(n) or "").split(".")[-1]
            kinds.add("demonstration" if text == "TypeError" else "broad" if text in BROAD else "other")
    if "demonstration" in kinds:
        return "demonstration"
    if "broad" in kinds:
        return "broad"
    return None


def _outer_calls(stmt: ast.stmt) -> set[int]:
    """ids of the calls of ``stmt`` not nested in another call's arguments (nor in a nested def)."""
    found: set[int] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            found.add(id(node))
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(stmt)
    return found


def calls_in(tree: ast.AST) -> list[tuple[ast.Call, str, tuple]]:
    """Every call of ``tree``, with its context ("call", "demonstration" or "broad") and enclosing functions."""
    context: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) or (hasattr(ast, "TryStar") and isinstance(node, ast.TryStar)):
            kind = _demo_kind(node.handlers)
            if not kind:
                continue
            for stmt in node.body:
                outer = _outer_calls(stmt) if kind == "demonstration" else set()
                for sub in ast.walk(stmt):
                    if isinstance(sub, ast.Call) and (kind == "broad" or id(sub) in outer):
                        context[id(sub)] = kind
    found = [(n, context.get(id(n), "call"), funcs) for n, funcs in walk(tree) if isinstance(n, ast.Call)]
    return sorted(found, key=lambda item: (item[0].lineno, item[0].col_offset))


def _module_name(path: Path, root: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        return None
    return ".".join(rel.with_suffix("").parts) if path.suffix == ".py" else None


def check(paths: list[Path] | None = None, root: Path = ROOT) -> Report:
    report = Report()
    paths = course_sources() if paths is None else [Path(p) for p in paths]
    for path in paths:
        rel = str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)
        scope = Scope(_module_name(path, root))
        trees = []
        for cell, src in code_cells(path):
            try:
                tree = parse(src)
            except SyntaxError as exc:
                report.unparsed.append(f"{rel}{'' if cell is None else f' cell {cell}'}: {exc.msg} (line {exc.lineno})")
                continue
            scope.collect(tree)
            trees.append((cell, tree))
        scope.resolve_aliases()
        for cell, tree in trees:
            for node, ctx, funcs in calls_in(tree):
                _check_call(report, scope, rel, cell, node, ctx, funcs)
    return report


def _check_call(report: Report, scope: Scope, rel: str, cell: int | None, node: ast.Call, ctx: str,
                funcs: tuple) -> None:
    chain = dotted(node.func)
    target = scope.target(chain) if chain else None
    if not target or target.split(".")[0] not in RESOLVABLE:
        return
    obj = resolve_object(target)
    lib = library_of(obj) if obj is not None else None
    if lib is None or not callable(obj):
        return
    call = Call(rel, cell, node.lineno, chain, target, lib, context=ctx)
    unresolved = []
    for kw in node.keywords:
        keys = scope.dict_keys(kw.value.id, funcs) if kw.arg is None and isinstance(kw.value, ast.Name) else None
        if kw.arg:
            call.keywords.append((kw.arg, ""))
        elif keys is not None:
            call.keywords += [(k, f"**{kw.value.id}") for k in keys]
        else:
            unresolved.append(f"**{ast.unparse(kw.value)}")
    report.calls.append(call)
    label = f"{chain}() [{lib} {version(lib)}]"
    if unresolved:
        report.not_checked.append(f"{call.where}: {label}: {', '.join(unresolved)} is not a dict display here")
    if ctx == "broad":
        if call.keywords:
            report.not_checked.append(f"{call.where}: {label} is inside try/except Exception: whether it "
                                      "demonstrates an old API is unknown")
        return
    names, strict, how = accepted(obj)
    if names is None:
        report.not_checked.append(f"{call.where}: {label}: {how}")
        return
    verdicts = {kw: "accepted" if kw in names else "rejected" if strict else "unknown" for kw, _ in call.keywords}
    report.checked += [(rel, cell, chain, kw, v) for kw, v in verdicts.items() if v != "unknown"]
    unknown = [kw for kw, v in verdicts.items() if v == "unknown"]
    if unknown:
        report.not_checked.append(f"{call.where}: {label}: {', '.join(unknown)} would go to its **kwargs, "
                                  "which the signature cannot vouch for")
    demo = " (in a demonstration of the old API)" if ctx == "demonstration" else ""
    for kw, via in call.keywords:
        note = deprecated(obj, kw) if verdicts[kw] == "accepted" else None
        if note:
            report.notes.append(f"{call.where}: {label}: {kw} is deprecated{demo}: {note}")
    if ctx == "demonstration":
        if "rejected" in verdicts.values():
            return
        if unknown:
            report.not_checked.append(f"{call.where}: {label} is in try/except TypeError: whether it still "
                                      "raises cannot be decided from the signature")
        else:
            report.problems.append(
                f"{call.where}: {label} sits in try/except TypeError to show an old API, but {lib} {version(lib)} "
                f"accepts every keyword it passes ({', '.join(verdicts) or 'none'}): the demonstration no longer "
                "raises TypeError (a stale demonstration); update the cell and the text around it")
        return
    for kw, via in call.keywords:
        if verdicts[kw] == "rejected":
            close = difflib.get_close_matches(kw, sorted(names), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            source = f" (a key of {via})" if via else ""
            report.problems.append(f"{call.where}: {label} has no argument {kw!r}{source}; checked against "
                                   f"{how}{hint}")


def override_problems(classes: list[type] | None = None) -> list[str]:
    """labkit classes that subclass a class of the four libraries and replace some of its methods
    (``LabelOnlySFTTrainer.compute_loss``, ``CompactGRPOTrainer._get_per_token_logps_and_entropies``): each
    method marked ``@typing_extensions.override`` must still exist in the library's class (a renamed private
    method would leave the override dead, silently), and every method the library's class also has must accept
    every parameter the library's version has (the library calls it with them).
    ``classes`` defaults to every such class in labkit's modules."""
    if classes is None:
        classes = []
        for path in sorted((ROOT / "labkit").rglob("*.py")):
            module = _module_name(path, ROOT)
            try:   # not __main__ (a command line: importing it runs it); a module needing a missing engine: none
                mod = importlib.import_module(module) if path.name != "__main__.py" else None
            except Exception:  # noqa: BLE001
                mod = None
            if mod is None:
                continue
            classes += [c for c in vars(mod).values() if inspect.isclass(c) and c.__module__ == module
                        and any(library_of(b) for b in c.__mro__[1:])]
    problems = []
    for cls in classes:
        parent = next(b for b in cls.__mro__[1:] if library_of(b))
        where = f"{parent.__module__}.{parent.__name__} ({library_of(parent)} {version(library_of(parent))})"
        for name, ours in vars(cls).items():
            theirs = getattr(parent, name, None)
            if not inspect.isfunction(ours) or (name.startswith("__") and name.endswith("__")):
                continue
            if theirs is None:   # a helper of our own, unless marked @override
                problems += [f"{cls.__module__}.{cls.__name__}.{name} overrides nothing in {where}"] * bool(
                    getattr(ours, "__override__", False))
                continue
            mine = inspect.signature(ours).parameters
            missing = [p for p, v in inspect.signature(theirs).parameters.items() if p not in mine and v.kind not in
                       (v.VAR_POSITIONAL, v.VAR_KEYWORD) and all(m.kind is not m.VAR_KEYWORD for m in mine.values())]
            problems += [f"{cls.__module__}.{cls.__name__}.{name} lacks parameters {missing} of {where}"] * bool(missing)
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, help="notebooks or .py files (default: the course and labkit)")
    ap.add_argument("--list", action="store_true", help="also list every (source, call, argument) checked")
    args = ap.parse_args(argv)
    report = check(args.paths or None)
    if args.list:
        for source, cell, callee, kw, verdict in report.checked:
            print(f"{source}{'' if cell is None else f' cell {cell}'}: {callee}({kw}=...) {verdict}")
    print(report.summary())
    overrides = [] if args.paths else override_problems()
    for problem in overrides:
        print("override:", problem)
    return 1 if report.problems or overrides else 0


if __name__ == "__main__":
    sys.exit(main())
