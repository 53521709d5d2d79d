"""The grader of the exercise notebooks: a verdict and a hint, never a traceback.

Each exercise task has one function ``check_<name>(answer) -> bool`` that prints

* ``✅ name: correct``,
* ``❌ name: not answered yet ...`` when the answer is still ``None``, or
* ``❌ name: expected <...>, got <...>. Hint: ... (see notebook NN, section ...)``.

An answer key makes a task's check with :func:`exercise` (one line)::

    check_think_end_id = exercise("think_end_id", 151668, hint="...", where="notebook 00, section 3")

``expected`` may be a zero-argument function (computed when the check runs), and
``predicate`` replaces the equality test (describe what it wants in ``expects``).
Every check is kept in :data:`REGISTRY`; :func:`summary` counts the passes.

Used by labkit.checks.ex00_setup, labkit.checks.ex01_qwen_family, labkit.checks.ex02_generation_basics, labkit.checks.ex03_conversations, labkit.checks.ex04_thinking_mode, labkit.checks.ex05_quantized_loading, labkit.checks.ex06_lora_and_qlora, labkit.checks.ex07_monitoring_and_performance, labkit.checks.ex08_production_patterns, labkit.checks.ex09_runtimes_and_deployment, labkit.checks.ex10_tools_and_structured_output, labkit.checks.ex11_reinforcement_learning, labkit.checks.ex12_current_generation.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from labkit.models import load_model
from labkit.tokenizer import load_tokenizer

REGISTRY: dict[str, Callable[[Any], bool]] = {}
_results: dict[str, bool] = {}  # latest verdict of each check run in this session


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(hint: str, where: str) -> str:
    text = f" Hint: {hint}" if hint else ""
    return text + (f" (see {where})" if where else "")


def check(name: str, answer: Any, expected: Any = None, *, predicate: Callable[[Any], bool] | None = None,
          expects: str | None = None, hint: str = "", where: str = "") -> bool:
    """Compare ``answer`` with ``expected`` (or test it with ``predicate``), print the verdict, return it.

    ``expected`` may be a zero-argument callable.  ``expects`` describes the
    wanted answer in the message (default: the expected value).  Errors raised
    while checking are reported as a hint, never raised.
    """
    if answer is None:
        print(f"❌ {name}: not answered yet (replace the None with your answer).{_tail(hint, where)}")
        _results[name] = False
        return False
    try:
        if predicate is not None:
            ok = bool(predicate(answer))
            wanted = expects or "an answer that passes the check"
        else:
            value = expected() if callable(expected) else expected
            ok = bool(answer == value)
            wanted = expects or _show(value)
    except Exception as exc:  # noqa: BLE001 (a check must never raise at the learner)
        print(f"❌ {name}: your answer could not be checked ({type(exc).__name__}: {exc}), "
              f"got {_show(answer)}.{_tail(hint, where)}")
        _results[name] = False
        return False
    if ok:
        print(f"✅ {name}: correct")
    else:
        print(f"❌ {name}: expected {wanted}, got {_show(answer)}.{_tail(hint, where)}")
    _results[name] = ok
    return ok


def exercise(name: str, expected: Any = None, *, predicate: Callable[[Any], bool] | None = None,
             expects: str | None = None, hint: str = "", where: str = "") -> Callable[[Any], bool]:
    """Make and register the one-argument check function of one exercise task."""
    def run(answer: Any) -> bool:
        return check(name, answer, expected, predicate=predicate, expects=expects, hint=hint, where=where)

    run.__name__ = f"check_{name}"
    run.__doc__ = f"Check the answer of exercise task {name!r}; print the verdict and return it."
    REGISTRY[name] = run
    return run


def summary() -> None:
    """Print how many of the checks run in this session passed, and which failed."""
    passed = sum(_results.values())
    print(f"{passed}/{len(_results)} checks passed in this session")
    for name, ok in _results.items():
        if not ok:
            print(f"  ❌ {name}")


def results() -> dict[str, bool]:
    """The latest verdict of each check run in this session."""
    return dict(_results)


def reset() -> None:
    """Forget the verdicts of this session (used by the tests)."""
    _results.clear()


# Shared by several answer keys: a number test, the Qwen3 tokenizer and the active profile's model (loaded once).
def is_number(x: Any) -> bool:
    """An int or a float, not a bool (``True`` is an int to Python, never a right numeric answer)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@lru_cache(maxsize=1)
def qwen3_tokenizer():
    """The Qwen3 tokenizer (rebuilt offline), loaded once: the checks only read it (a load takes ~2 s)."""
    return load_tokenizer("qwen3")


@lru_cache(maxsize=1)
def course_model():
    """``(model, tokenizer)`` of the active profile, loaded once: the same model the exercise uses."""
    return load_model()  # the active profile's model: the same one the exercise uses
