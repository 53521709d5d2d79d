"""How notebook 06's LoRA recipe was chosen: held-out doubling learned, arithmetic kept, for several recipes.

    python bench/lora_recipe.py                 # every recipe of RECIPES: writes bench/results/lora_recipe.json
    python bench/lora_recipe.py --only chosen no-replay
    python bench/lora_recipe.py --smoke         # two steps and 4 questions per figure: only checks the script works

Each recipe trains LoRA adapters on the nano model from the same start, with the data of notebook 06 section 2
(:func:`labkit.lessons.finetuning.doubling_rows`: doubling rows in thinking mode, then ``replay`` rows of the nano
curriculum per doubling row, shuffled) and the trainer of its section 4 (``LabelOnlySFTTrainer``: trl's loss,
computed faster on a CPU; batch 8, linear decay, seed 0), then measures on held-out problems, greedy
(:func:`labkit.nano.evaluation.evaluate`):

* ``doubling``: the new skill, thinking on (the mode trained), ``--n`` questions;
* ``arithmetic_thinking`` and ``arithmetic_no_thinking``: what the model knew, ``--n`` and ``--n-no-thinking``
  problems (thinking off is cheap and noisy, so it gets more).

``old`` is the recipe notebook 06 used before: 40 steps at 3e-3, with replay of arithmetic rows only
(half as many as doubling rows, three quarters of them with thinking).  The base model's figures come first.
The problems are the same for every recipe (fixed seeds), so differences between recipes are paired.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lora_recipe.json"
ALL7 = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# name -> (steps, learning rate, replay rows per doubling row, rank, target modules)
RECIPES = {
    "chosen": (120, 2e-3, 1, 8, ALL7),
    "no-replay": (120, 2e-3, 0, 8, ALL7),
    "replay-2": (120, 2e-3, 2, 8, ALL7),
    "40-steps": (40, 2e-3, 1, 8, ALL7),
    "lr-1e-3": (120, 1e-3, 1, 8, ALL7),
    "lr-1e-3-160-steps": (160, 1e-3, 1, 8, ALL7),
    "lr-3e-3": (120, 3e-3, 1, 8, ALL7),
    "rank-4": (120, 2e-3, 1, 4, ALL7),
    "q-v-only": (120, 2e-3, 1, 8, ("q_proj", "v_proj")),
    "old": (40, 3e-3, None, 8, ALL7),
}
BATCH = 8


def old_rows(tok, n_rows: int) -> list[dict[str, str]]:
    """The earlier recipe's data: 2 doubling rows per arithmetic replay row, 3/4 of those with thinking."""
    from labkit.lessons.finetuning import row
    from labkit.nano import curriculum as nano

    rng = random.Random(0)
    n_double = round(n_rows / 1.5)
    rows = [row(nano.double_sample(rng, thinking=True), tok) for _ in range(n_double)]
    while len(rows) < n_rows:
        s = nano.training_sample(rng)
        if s.meta.get("task") == "arithmetic" and s.thinking == (rng.random() < 0.75):
            rows.append(row(s, tok))
    return rows


def train(model, tok, steps: int, lr: float, replay: int | None, rank: int, targets) -> tuple:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

    from labkit.lessons.finetuning import LabelOnlySFTTrainer, doubling_rows

    if replay is None:
        rows = old_rows(tok, steps * BATCH)
    else:
        rows = doubling_rows(tok, -(-steps * BATCH // (1 + replay)), seed=0, thinking=True, replay=replay)
    data = Dataset.from_list(rows).shuffle(seed=0)
    config = SFTConfig(output_dir=tempfile.mkdtemp(), max_steps=steps, per_device_train_batch_size=BATCH,
                       learning_rate=lr, lr_scheduler_type="linear", warmup_steps=0, completion_only_loss=True,
                       max_length=256, logging_steps=max(steps, 1), use_cpu=True, bf16=False, fp16=False,
                       activation_checkpointing=False, save_strategy="no", report_to="none", disable_tqdm=True,
                       seed=0)
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none", target_modules=list(targets),
                      task_type="CAUSAL_LM")
    trainer = LabelOnlySFTTrainer(model=copy.deepcopy(model), args=config, train_dataset=data, processing_class=tok,
                                  peft_config=lora)
    t0 = time.process_time()
    trainer.train()
    return trainer.model.eval(), len(data), time.process_time() - t0


def measure(model, tok, n: int, n_no_thinking: int) -> dict[str, float]:
    from labkit.nano import evaluation as nano_eval

    def accuracy(**task):
        return nano_eval.evaluate(model, tok, progress=False, batch_size=200, **task).accuracy

    return {"doubling": accuracy(task="double", thinking=True, n=n),
            "arithmetic_thinking": accuracy(thinking=True, n=n),
            "arithmetic_no_thinking": accuracy(thinking=False, n=n_no_thinking)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(RECIPES), help="these recipes only")
    parser.add_argument("--n", type=int, default=200, help="held-out questions for doubling and thinking arithmetic")
    parser.add_argument("--n-no-thinking", type=int, default=600, help="held-out problems, thinking off")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="2 steps, 4 questions per figure, nothing written")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import datasets
    import torch
    import transformers

    import labkit

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    n, n_no = (4, 4) if args.smoke else (args.n, args.n_no_thinking)
    model, tok = labkit.load_model()
    base = measure(model, tok, n, n_no)
    print("base", {k: f"{v:.1%}" for k, v in base.items()}, flush=True)
    rows = []
    for name in args.only or list(RECIPES):
        steps, lr, replay, rank, targets = RECIPES[name]
        if args.smoke:
            steps = 2
        trained, n_rows, train_s = train(model, tok, steps, lr, replay, rank, targets)
        figures = measure(trained, tok, n, n_no)
        rows.append({"recipe": name, "steps": steps, "batch": BATCH, "learning_rate": lr,
                     "replay": "arithmetic 0.5 (old)" if replay is None else replay, "rank": rank,
                     "targets": list(targets), "rows": n_rows, "train_cpu_s": round(train_s, 1), **figures})
        print(name, {k: (f"{v:.1%}" if isinstance(v, float) and k in figures else v) for k, v in rows[-1].items()},
              flush=True)
        if not args.smoke:  # written after every recipe, so a run cut short keeps what it measured
            write(args, n, n_no, base, rows, complete=len(rows) == len(args.only or RECIPES))
    return 0


def write(args, n: int, n_no: int, base: dict, rows: list, complete: bool) -> None:
    result = {"measured": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "script": "bench/lora_recipe.py",
              "command": "python bench/lora_recipe.py" + (" --only " + " ".join(args.only) if args.only else ""),
              "complete": complete, "threads": args.threads, "n": n, "n_no_thinking": n_no,
              "versions": {d: version(d) for d in ("torch", "transformers", "peft", "trl")},
              "base": base, "recipes": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print("written", args.out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
