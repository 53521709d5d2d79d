"""One exception type for mistakes a learner can fix.

Every error labkit raises on bad input is a :class:`LabError`: a short message
that names the cause and the fix.  In a notebook, :func:`labkit.errors.short_tracebacks`
(installed by :func:`labkit.banner`) shows these as their message alone instead of a
stack trace from deep inside transformers: still a real error of the cell, so Jupyter,
papermill and nbclient report ``LabError: <message>`` and stop there.

Used in notebook 08.
"""
from __future__ import annotations


class LabError(ValueError):
    """A problem with the learner's input or set-up, with the fix in the message."""

    def __init__(self, cause: str, fix: str | None = None):
        self.cause = cause
        self.fix = fix
        super().__init__(cause if fix is None else f"{cause}\n  How to fix: {fix}")


def short_tracebacks() -> None:
    """In IPython, show a :class:`LabError` as its message, not a traceback.

    The cell still fails with an ordinary error output (``ename`` ``LabError``, ``evalue`` the
    message, a one-entry ``traceback``): JupyterLab shows the message in red, papermill's
    ``PapermillExecutionError`` and nbclient's ``CellExecutionError`` carry it, and a run stops at
    that cell as with any error.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to install
        return
    ip = get_ipython()
    if ip is None:
        return
    ip.set_custom_exc((LabError,), _show_lab_error)


def _show_lab_error(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's custom exception handler for :class:`LabError`: a one-entry traceback.

    ``_showtraceback`` is the method IPython's shells (the kernel's included) implement to show
    a structured traceback: the kernel publishes it as the cell's error output.
    """
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb
