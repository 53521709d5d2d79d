"""The nano Qwen3.5's vision pre-stage: teach the vision tower to see digits before the language model reads them::

    python -m labkit.nano.qwen35.vision --out FILE [--steps N] [--batch B]

Trained jointly from scratch, the language model learns to ignore the image tokens before the vision tower has
anything to say: at 1,200 steps of the first run every image got the same reply, and the image tokens' embeddings
had grown to ~500 times the text embeddings' norm with almost no difference between images.  Vision-language models
start from a pretrained vision encoder for this reason.  This stage pretrains the nano's own tower
(``Qwen3_5VisionModel``, patch merger included) on the curriculum's images with a direct objective: for each merged
token (a 32 x 32-pixel cell of the 256 x 256 canvas), which digits have ink in it (10 labels, a linear probe, binary
cross-entropy).  The probe is thrown away; the tower's weights go into the joint model
(``python -m labkit.nano.qwen35.train --vision-init FILE``).

Used by the command `python -m labkit.nano.qwen35.vision`.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from labkit.nano.qwen35 import curriculum as cur

CELL = 32                     # pixels per merged token side: patch 16 x merge 2
MIN_OVERLAP = 0.25            # a digit counts in a cell holding at least this share of its ink box


def cell_labels(digits: list[tuple[int, int, int, int, int]], size: int = cur.CANVAS) -> torch.Tensor:
    """(cells, 10): 1 where a digit's ink box overlaps the cell by at least MIN_OVERLAP of its area; cells in the
    row-major order of the merged image tokens."""
    n = size // CELL
    labels = torch.zeros(n * n, 10)
    for d, x0, y0, x1, y1 in digits:
        area = max(1, (x1 - x0) * (y1 - y0))
        for i in range(max(0, y0 // CELL), min(n, (y1 - 1) // CELL + 1)):
            for j in range(max(0, x0 // CELL), min(n, (x1 - 1) // CELL + 1)):
                w = min(x1, (j + 1) * CELL) - max(x0, j * CELL)
                h = min(y1, (i + 1) * CELL) - max(y0, i * CELL)
                if w > 0 and h > 0 and w * h >= MIN_OVERLAP * area:
                    labels[i * n + j, d] = 1
    return labels


def batch(rng: random.Random, n: int, processor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """pixel_values, image_grid_thw and cell labels of ``n`` training images (the held-out images never)."""
    images, labels = [], []
    while len(images) < n:
        digits: list = []
        image, numbers, layout = cur.draw_numbers(rng, digits=digits)
        if cur.image_is_held_out(numbers, layout):
            continue
        images.append(image)
        labels.append(cell_labels(digits))
    pix = processor(images=images, return_tensors="pt")
    return pix["pixel_values"], pix["image_grid_thw"], torch.cat(labels)


def build(vision: dict, seed: int):
    from transformers import Qwen3_5VisionConfig
    from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5VisionModel

    torch.manual_seed(seed)
    tower = Qwen3_5VisionModel(Qwen3_5VisionConfig(**vision))
    return tower, torch.nn.Linear(vision["out_hidden_size"], 10)


def features(tower, pixel_values: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    out = tower(pixel_values, grid_thw=grid)
    return out.pooler_output if hasattr(out, "pooler_output") else out


def pretrain(out: Path, steps: int, batch_size: int, lr: float, seed: int, threads: int | None,
             vision: dict | None = None) -> dict:
    """Train the tower and the probe; save the tower's weights (``visual.``-prefixed names of the joint model)."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from labkit.nano.qwen35 import train as T

    if threads:
        torch.set_num_threads(threads)
    vision = vision or T.VISION
    tower, probe = build(vision, seed)
    processor = T.image_processor()
    params = list(tower.parameters()) + list(probe.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    rng, history, t0 = random.Random(seed), [], time.time()
    bar = tqdm(range(steps), desc="vision pre-stage", mininterval=10)
    for step in bar:
        pix, grid, labels = batch(rng, batch_size, processor)
        logits = probe(features(tower, pix, grid))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0:
            with torch.no_grad():
                hit = ((logits > 0) == (labels > 0.5)).all(-1)[labels.sum(-1) > 0].float().mean().item()
            history.append({"step": step, "loss": round(loss.item(), 5), "cells_with_ink_exact": round(hit, 4),
                            "seconds": round(time.time() - t0, 1)})
            bar.set_postfix(loss=f"{loss.item():.4f}", ink_cells_exact=f"{hit:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"model.visual.{k}": v.detach().contiguous() for k, v in tower.state_dict().items()}, str(out))
    meta = {"steps": steps, "batch": batch_size, "lr": lr, "seed": seed, "threads": torch.get_num_threads(),
            "train_seconds": round(time.time() - t0, 1), "vision": vision, "history": history}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def load_tower(model, tower_file: Path) -> None:
    """Put the pre-stage's tower weights into a ``Qwen3_5ForConditionalGeneration`` (compact or full)."""
    from safetensors.torch import load_file

    state = {k: v.to(next(model.parameters()).dtype) for k, v in load_file(str(tower_file)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not any(k.startswith("model.visual.") for k in missing), (missing, unexpected)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m labkit.nano.qwen35.vision", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where the tower's weights go (.safetensors)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    meta = pretrain(args.out, args.steps, args.batch, args.lr, args.seed, args.threads)
    print(json.dumps({k: v for k, v in meta.items() if k != "history"} | {"last": meta["history"][-1]}))


if __name__ == "__main__":
    main()
