"""Answer keys of exercise 11 (reinforcement learning with verifiable rewards): its check functions and the data
they check against.

Used in notebook 11.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import course_model, exercise

GROUP_11 = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]   # the rewards of one group of 8 completions
RUN_MAX_STEPS_11 = 60
_HACK_ROWS, _HACK_SEED = 100, 1111
# (reply, n, wanted reward) for a strict doubling verifier: the right forms pass; the hack and near misses fail
VERIFIER_CASES_11 = [("21 + 21 = 42", 21, 1.0), ("21 × 2 = 42", 21, 1.0), ("2 × 21 = 42", 21, 1.0),
                     ("21 + 2 = 42", 21, 0.0), ("42", 21, 0.0), ("21 + 21 = 43", 21, 0.0),
                     ("The answer is 42.", 21, 0.0), ("20 + 22 = 42", 21, 0.0), ("21 + 21 = 42 21", 21, 0.0),
                     ("68 + 68 = 136", 68, 1.0), ("68 + 68 = 126", 68, 0.0)]


def _verifier_ok(fn: Any) -> bool:
    if not callable(fn):
        print(f"  (a function reward(reply, n) -> float was expected, this is a {type(fn).__name__})")
        return False
    wrong = [(reply, n, want) for reply, n, want in VERIFIER_CASES_11 if float(fn(reply, n)) != want]
    for reply, n, want in wrong[:3]:
        print(f"  reward({reply!r}, {n}) should be {want}")
    return not wrong


def _rloo() -> list[float]:
    from labkit.lessons.reinforcement import advantages

    return [round(x, 4) for x in advantages([GROUP_11], "rloo")[0].tolist()]


def hack_rows() -> list[dict]:
    """The held-out doubling prompts the reward-hack share is measured on."""
    from labkit.lessons.reinforcement import doubling_prompts

    return doubling_prompts(_HACK_ROWS, seed=_HACK_SEED, replay=0.0, held_out=True)


def measure_hack(model: Any) -> float:
    """The share of greedy replies to :func:`hack_rows` that the loose check passes and the strict one refuses."""
    from labkit.lessons.reinforcement import replies, score

    tok = course_model()[1]
    rows = hack_rows()
    texts = replies(model, tok, rows)                      # one greedy reply per row, checked both ways
    return (score(rows, texts, check="loose") & ~score(rows, texts)).float().mean().item()


def _hack_run_ok(answer: Any) -> bool:
    """(trainer, share): a GRPOTrainer trained with a loose reward for 1..RUN_MAX_STEPS_11 steps, and the share
    that :func:`measure_hack` measures on its model (the check measures it again)."""
    from trl import GRPOTrainer

    trainer, share = answer
    if not isinstance(trainer, GRPOTrainer):
        print(f"  (a trl GRPOTrainer was expected, this is a {type(trainer).__name__})")
        return False
    names = [getattr(f, "__name__", "") for f in trainer.reward_funcs]
    if not any("loose" in name for name in names):
        print(f"  (its reward functions are {names}: train with a loose reward, named with 'loose')")
        return False
    if not 1 <= trainer.state.global_step <= RUN_MAX_STEPS_11:
        print(f"  (the trainer ran {trainer.state.global_step} steps; train 1 to {RUN_MAX_STEPS_11})")
        return False
    measured = measure_hack(trainer.model.eval())
    print(f"  measured again: {measured:.1%} of held-out replies are hacks (yours: {float(share):.1%})")
    return abs(measured - float(share)) < 0.011


check_verifier = exercise(
    "verifier", predicate=_verifier_ok,
    expects="a function reward(reply, n) giving 1.0 for one true equation that doubles n (n + n = 2n, n × 2 = 2n, "
            "2 × n = 2n) and 0.0 for anything else, the right number after a false equation included",
    hint="re.fullmatch(r'\\s*(\\d+) ([+×]) (\\d+) = (\\d+)\\s*', reply), then check that the equation is true and "
         "that its operands are n and n (for +) or n and 2 (for ×)",
    where="notebook 11, section 1 'A skill, and a program that checks it'")
check_rloo_advantages = exercise(
    "rloo_advantages", _rloo,
    expects="RLOO's advantages of GROUP_11, a list of 8 floats rounded to 4 decimals",
    hint="each reward minus the mean of the other 7 rewards of the group",
    where="notebook 11, section 7 'GRPO, Dr. GRPO, DAPO, GSPO and RLOO on one batch'")
check_hack_run = exercise(
    "hack_run", predicate=_hack_run_ok,
    expects=f"(trainer, share): a GRPOTrainer trained 1 to {RUN_MAX_STEPS_11} steps with a loose reward function, "
            "and the share of held-out replies (labkit.checks.hack_rows()) that the loose check passes and the "
            "strict one refuses, greedy",
    hint="reinforcement.CompactGRPOTrainer(..., reward_funcs=reinforcement.loose_reward, ...); then "
         "texts = reinforcement.replies(model, tok, rows), then reinforcement.score(rows, texts, check='loose') & "
         "~reinforcement.score(rows, texts)",
    where="notebook 11, section 2 'The base model, the way RL sees it'")
