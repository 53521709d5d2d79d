"""The checks of exercise 11: a strict verifier, RLOO's advantages, and the reward-hack run; every right answer
passes, the usual wrong ones fail with a hint.  The hack run is a 2-step run: the check measures the trained model
again and compares it with the learner's figure, so a right figure passes whatever the model learned."""
from __future__ import annotations

import copy
import re

import pytest

import labkit
from labkit import checks
from labkit.lessons import reinforcement as rl


def strict(reply, n):
    m = re.fullmatch(r"\s*(\d+) ([+×]) (\d+) = (\d+)\s*", reply)
    if not m:
        return 0.0
    x, op, y, z = int(m[1]), m[2], int(m[3]), int(m[4])
    return float(z == (x + y if op == "+" else x * y) and sorted((x, y)) == ([n, n] if op == "+" else sorted([n, 2])))


def test_the_checks_are_registered():
    for name in ("check_verifier", "check_rloo_advantages", "check_hack_run"):
        assert callable(getattr(checks, name))


def test_verifier(capsys):
    assert checks.check_verifier(strict) is True
    assert checks.check_verifier(lambda reply, n: float(re.findall(r"\d+", reply or "0")[-1] == str(2 * n))) is False
    assert checks.check_verifier(lambda reply, n: float(f"{n} + {n} = {2 * n}" == reply.strip())) is False  # no n × 2
    assert checks.check_verifier("21 + 21 = 42") is False
    out = capsys.readouterr().out
    assert out.count("❌") == 3 and "reward('21 + 2 = 42', 21) should be 0.0" in out


def test_rloo_advantages():
    g = checks.GROUP_11
    right = [round(r - (sum(g) - r) / (len(g) - 1), 4) for r in g]
    assert checks.check_rloo_advantages(right) is True
    mean = sum(g) / len(g)
    assert checks.check_rloo_advantages([round(r - mean, 4) for r in g]) is False      # Dr. GRPO's, not RLOO's


@pytest.mark.model
def test_hack_run(capsys):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig

    model, tok = labkit.load_model()
    tok.padding_side = "left"

    def run(reward):
        config = GRPOConfig(output_dir="/tmp/qwen-labs-test-ex11", max_steps=2, per_device_train_batch_size=16,
                            num_generations=4, max_completion_length=12, learning_rate=1e-3, use_cpu=True, bf16=False,
                            report_to="none", save_strategy="no", disable_tqdm=True,
                            chat_template_kwargs={"enable_thinking": False}, seed=0)
        trainer = rl.CompactGRPOTrainer(model=copy.deepcopy(model), reward_funcs=reward, args=config,
                                        train_dataset=Dataset.from_list(rl.doubling_prompts(32, seed=0)),
                                        processing_class=tok,
                                        peft_config=LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
        trainer.train()
        return trainer

    loose = run(rl.loose_reward)
    share = checks.measure_hack(loose.model.eval())
    assert checks.check_hack_run((loose, share)) is True
    assert checks.check_hack_run((loose, share + 0.05)) is False          # a figure the model does not give
    assert checks.check_hack_run((run(rl.strict_reward), share)) is False  # not trained on a loose reward
    assert checks.check_hack_run(("trainer", 0.0)) is False
    out = capsys.readouterr().out
    assert "measured again" in out and "train with a loose reward" in out
