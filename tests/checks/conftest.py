"""Every answer-key test starts and ends with an empty grading session (the checks record their verdicts)."""
from __future__ import annotations

import pytest

from labkit import checks


@pytest.fixture(autouse=True)
def fresh_session():
    checks.reset()
    yield
    checks.reset()
