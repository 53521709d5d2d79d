"""One exception type for mistakes a learner can fix.

Every error labkit raises on bad input is a :class:`LabError`: a short message
that names the cause and the fix.  In a notebook, :func:`labkit.errors.short_tracebacks`
(installed by :func:`labkit.banner`) prints these as one line instead of a
stack trace from deep inside transformers.
"""
from __future__ import annotations


class LabError(ValueError):
    """A problem with the learner's input or set-up, with the fix in the message."""

    def __init__(self, cause: str, fix: str | None = None):
        self.cause = cause
        self.fix = fix
        super().__init__(cause if fix is None else f"{cause}\n  How to fix: {fix}")


def short_tracebacks() -> None:
    """In IPython, show a :class:`LabError` as one readable line, not a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to install
        return
    ip = get_ipython()
    if ip is None:
        return

    def _handler(shell, etype, value, tb, tb_offset=None):
        print(f"LabError: {value}")
        return None

    ip.set_custom_exc((LabError,), _handler)
