"""The checks of the exercise notebooks: ``labkit.checks.check_<name>(answer)`` prints a verdict and a hint.

The grader (:mod:`labkit.checks.grader`) makes each check; the answer keys live one module per exercise
notebook, in course order (``ex00_setup`` ... ``ex12_current_generation``).  Their check functions
and data are re-exported here, with :func:`~labkit.checks.grader.summary`, so a notebook calls
``labkit.checks.check_<name>(answer)`` and ``labkit.checks.summary()``.
"""
# The answer keys, in course order (each module registers its checks on import).
from labkit.checks.ex00_setup import *  # noqa: E402,F401,F403
from labkit.checks.ex01_qwen_family import *  # noqa: E402,F401,F403
from labkit.checks.ex02_generation_basics import *  # noqa: E402,F401,F403
from labkit.checks.ex03_conversations import *  # noqa: E402,F401,F403
from labkit.checks.ex04_thinking_mode import *  # noqa: E402,F401,F403
from labkit.checks.ex05_quantized_loading import *  # noqa: E402,F401,F403
from labkit.checks.ex06_lora_and_qlora import *  # noqa: E402,F401,F403
from labkit.checks.ex07_monitoring_and_performance import *  # noqa: E402,F401,F403
from labkit.checks.ex08_production_patterns import *  # noqa: E402,F401,F403
from labkit.checks.ex09_runtimes_and_deployment import *  # noqa: E402,F401,F403
from labkit.checks.ex10_tools_and_structured_output import *  # noqa: E402,F401,F403
from labkit.checks.ex11_reinforcement_learning import *  # noqa: E402,F401,F403
from labkit.checks.ex12_current_generation import *  # noqa: E402,F401,F403
from labkit.checks.grader import REGISTRY, check, exercise, reset, results, summary  # noqa: F401
