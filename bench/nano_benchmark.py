"""Benchmark the shipped nano Qwen3 against the targets of its issue, and write its model card.

    python bench/nano_benchmark.py [--model DIR] [--n 200] [--baseline JSON]
                                   [--baseline-model DIR|git:REV] [--compare-n 1000] [--write-card]

Every figure is measured here, on this machine, through plain ``generate()``
with the full 151,936-row output layer, called by ``labkit.generate_batch`` (the path
``nano_eval.evaluate`` and the notebooks use).  Results go to ``bench/results/nano.json``;
``--write-card`` also renders ``labkit/nano/nano_qwen3/MODEL_CARD.md`` from them.

Tool use (``nano_eval.evaluate_tools``) is measured on held-out problems outside the model's own
skill, with the calculator offered and without it.  ``--baseline`` (default
``bench/results/nano_stage1.json``, the figures of the stage-1 model before tool training)
adds the check that every figure of the stage-1 card stays within 2 points.  At n = 200 a
by-level figure counts 50 problems, so one problem is 2 points; ``--baseline-model`` (the stage-1
export, e.g. ``git:5ee0dff``, read from this repository's history) measures the stage-1 card's
figures of both models side by side in this run on ``--compare-n`` problems (one problem per level:
0.4 points at 1000), the check that resolves 2 points.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from labkit import generate_batch
from labkit.nano import curriculum as nano, evaluation as nano_eval
from labkit.lessons import structured
from labkit.family.facts import SAMPLING

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "thinking_accuracy": 0.95, "format_ok_greedy": 0.99, "format_ok_sampled": 0.97,
    "sampled_accuracy_gap_max": 0.05, "thinking_gap_hardest_min": 0.20, "held_out_skill_max": 0.10,
    "decode_tokens_per_s_min": 100.0, "weights_mb_max": 25.0, "load_seconds_max": 2.0,
    "tool_format_ok": 0.99, "tool_accuracy": 0.95, "no_tool_accuracy_max": 0.10, "baseline_points": 2.0,
}


def card_figures(r: dict) -> dict[str, float]:
    """Every percentage on the stage-1 model card, by name (for the within-2-points check)."""
    res, out = r["results"], {}
    for name in ("greedy_think", "greedy_nothink", "sampled_think", "sampled_nothink"):
        out[f"{name} accuracy"] = res[name]["accuracy"]
        out[f"{name} format_ok"] = res[name]["format_ok"]
    for name in ("greedy_think", "greedy_nothink"):
        for level, acc in res[name]["by_level"].items():
            out[f"{name} level {level}"] = acc
    out["held_out_double thinking"] = res["held_out_double"]["accuracy"]
    out["held_out_double no thinking"] = res["held_out_double_nothink"]["accuracy"]
    return out


def stage1_results(model, tok, n: int) -> dict:
    """The figures of the stage-1 card (greedy and sampled in both modes, by level, the held-out doubling)
    on the first ``n`` held-out problems of seed 0 (a larger ``n`` extends the same list)."""
    res = {}
    for name, thinking, extra in [("greedy_think", True, {}), ("greedy_nothink", False, {}),
                                  ("sampled_think", True, sampling_kwargs("thinking")),
                                  ("sampled_nothink", False, sampling_kwargs("non_thinking"))]:
        e = nano_eval.evaluate(model, tok, thinking=thinking, n=n, seed=0, **extra)
        res[name] = {"accuracy": e.accuracy, "format_ok": e.format_ok, "by_level": e.by_level,
                     "mean_new_tokens": e.mean_new_tokens}
        print(e.summary(), "by level:", {k: f"{v:.0%}" for k, v in e.by_level.items()})
    js = nano_eval.evaluate(model, tok, thinking=True, n=n, task="double")
    res["held_out_double"] = {"accuracy": js.accuracy, "format_ok": js.format_ok, "by_level": js.by_level}
    print(js.summary())
    js_off = nano_eval.evaluate(model, tok, thinking=False, n=n, task="double")
    res["held_out_double_nothink"] = {"accuracy": js_off.accuracy, "by_level": js_off.by_level}
    print(js_off.summary(), "(thinking off: the echo 'n + ...' sometimes lands on 2n by chance)")
    return res


def compare_figures(old: dict, new: dict) -> dict:
    """``{figure: {old, new, points}}`` for every stage-1 card figure, with the lists ``moved`` (by more
    than 2 points) and ``worse`` (a skill lower, or the held-out skill, which must stay unknown, higher)."""
    figures = {k: {"old": old[k], "new": new[k], "points": round(100 * (new[k] - old[k]), 1)} for k in old}
    moved = {k: v for k, v in figures.items() if abs(v["points"]) > TARGETS["baseline_points"]}
    worse = {k for k, v in moved.items() if (v["points"] > 0) == k.startswith("held_out")}
    for k, v in moved.items():
        print(f"  moved more than 2 points ({'worse' if k in worse else 'better'}): {k}: "
              f"{pct(v['old'])} -> {pct(v['new'])}")
    return {"figures": figures, "moved": sorted(moved), "worse": sorted(worse)}


def baseline_model(spec: str) -> Path:
    """``DIR``, or ``git:REV``: the nano model's folder as committed at REV, unpacked into a temporary folder.

    The folder is ``labkit/nano/nano_qwen3``; commits before the labkit wings had it at ``labkit/nano_model``.
    """
    if not spec.startswith("git:"):
        return Path(spec)
    rev = spec[4:]
    folder = next(f for f in ("labkit/nano/nano_qwen3", "labkit/nano_model")
                  if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}:{f}"],
                                    capture_output=True).returncode == 0)
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, folder], check=True, capture_output=True).stdout
    out = Path(tempfile.mkdtemp(prefix="nano-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(out, filter="data")
    return out / folder


def sampling_kwargs(mode: str) -> dict:
    s = SAMPLING[mode]
    return dict(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)


def decode_speed(model, tok, new_tokens: int = 200, repeats: int = 3) -> float:
    """Greedy batch-1 decode through labkit.generate_batch (plain generate()), tokens per second (median of repeats)."""
    msgs = [{"role": "user", "content": "What is 4821 × 7?"}]
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        reply = generate_batch(model, tok, [msgs], thinking=True, max_new_tokens=new_tokens,
                               min_new_tokens=new_tokens, do_sample=False)[0]
        rates.append(reply.new_tokens / (time.perf_counter() - t0))
    return sorted(rates)[len(rates) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / "labkit" / "nano" / "nano_qwen3")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nano.json")
    ap.add_argument("--baseline", type=Path, default=ROOT / "bench" / "results" / "nano_stage1.json")
    ap.add_argument("--baseline-model", default=None,
                    help="the stage-1 export (DIR, or git:REV for labkit/nano/nano_qwen3 at REV, e.g. git:5ee0dff): its "
                         "card figures and this model's, side by side on --compare-n problems")
    ap.add_argument("--compare-n", type=int, default=1000)
    ap.add_argument("--write-card", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model)  # exactly like a Hub checkpoint (bf16)
    load_s = time.perf_counter() - t0  # first load in the process: includes importing the Qwen3 code
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model)
    tok_s = time.perf_counter() - t0
    model32 = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()

    r: dict = {"model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
               "date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
               f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores", "torch": torch.__version__,
               "n": args.n, "load_seconds_bf16": round(load_s, 2),
               "tokenizer_load_seconds": round(tok_s, 2)}
    weights = args.model / "model.safetensors"
    r["weights_mb"] = round(weights.stat().st_size / 1e6, 2)
    r["params_total"] = sum(p.numel() for p in model.parameters())
    r["params_embedding"] = model.get_input_embeddings().weight.numel()
    r["params_non_embedding"] = r["params_total"] - r["params_embedding"]
    r["compact_vocab"] = json.loads((args.model / "training.json").read_text())["meta"].get("compact_vocab")
    r["training"] = json.loads((args.model / "training.json").read_text())["meta"]

    res = stage1_results(model32, tok, args.n)
    for thinking in (True, False):
        for offered in (True, False):
            e = nano_eval.evaluate_tools(model32, tok, thinking=thinking, n=args.n, seed=0, tools=offered)
            key = f"tools_{'think' if thinking else 'nothink'}" + ("" if offered else "_not_offered")
            res[key] = {"accuracy": e.accuracy, "call_format_ok": e.call_format_ok, "call_correct": e.call_correct,
                        "by_kind": e.by_kind, "mean_new_tokens": e.mean_new_tokens}
            print(e.summary(), "by kind:", {k: f"{v:.0%}" for k, v in e.by_kind.items()})
    # the resolution of a by-level figure: the same weights computed in bfloat16 instead of float32
    e16 = nano_eval.evaluate(model, tok, thinking=False, n=args.n, seed=0, progress=False)
    res["greedy_nothink_bf16"] = {"accuracy": e16.accuracy, "by_level": e16.by_level}
    json_modes = ("thinking off, free", "thinking off, JSON", "thinking on, free", "thinking on, JSON after </think>")
    rows, _ = structured.compare(model32, tok, nano_eval.eval_problems(args.n, seed=0), modes=json_modes)
    res["json"] = {row["mode"]: {k: row[k] for k in ("valid_json", "conforms", "accuracy", "mean_new_tokens")}
                   for row in rows}
    print(structured.table(rows))
    again = nano_eval.evaluate(model32, tok, thinking=True, n=min(args.n, 50), seed=0, progress=False)
    first = nano_eval.evaluate(model32, tok, thinking=True, n=min(args.n, 50), seed=0, progress=False)
    r["deterministic"] = again.examples == first.examples and again.accuracy == first.accuracy
    r["results"] = res
    threads = torch.get_num_threads()
    speeds = {}
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        speeds[n_threads] = (round(decode_speed(model32, tok), 1), round(decode_speed(model, tok), 1))
        print(f"decode (greedy, batch 1, plain generate, {n_threads} thread(s)): fp32 {speeds[n_threads][0]} tok/s, "
              f"bf16 {speeds[n_threads][1]} tok/s")
    torch.set_num_threads(threads)
    best = max(speeds, key=lambda k: speeds[k][0])
    r["decode_by_threads"] = {str(k): {"fp32": v[0], "bf16": v[1]} for k, v in speeds.items()}
    r["decode_threads"] = best
    r["decode_tokens_per_s_fp32"], r["decode_tokens_per_s_bf16"] = speeds[best]

    hardest = max(nano.LEVELS)
    checks = {
        "thinking accuracy >= 95%": res["greedy_think"]["accuracy"] >= TARGETS["thinking_accuracy"],
        "format_ok >= 99% greedy, both modes": min(res["greedy_think"]["format_ok"],
                                                   res["greedy_nothink"]["format_ok"]) >= TARGETS["format_ok_greedy"],
        "format_ok >= 97% sampled, both modes": min(res["sampled_think"]["format_ok"],
                                                    res["sampled_nothink"]["format_ok"]) >= TARGETS["format_ok_sampled"],
        "sampled accuracy within 5 points of greedy": all(
            res[f"greedy_{m}"]["accuracy"] - res[f"sampled_{m}"]["accuracy"] <= TARGETS["sampled_accuracy_gap_max"]
            for m in ("think", "nothink")),
        f"thinking gap on level {hardest} >= 20 points": res["greedy_think"]["by_level"][hardest]
        - res["greedy_nothink"]["by_level"][hardest] >= TARGETS["thinking_gap_hardest_min"],
        "held-out skill <= 10% before fine-tuning": res["held_out_double"]["accuracy"] <= TARGETS["held_out_skill_max"],
        "decode >= 100 tokens/s (fp32, 2 cores)": r["decode_tokens_per_s_fp32"] >= TARGETS["decode_tokens_per_s_min"],
        "weights <= 25 MB": r["weights_mb"] <= TARGETS["weights_mb_max"],
        "loads in <= 2 s": load_s <= TARGETS["load_seconds_max"],
        "deterministic greedy outputs": r["deterministic"],
        "tool call format >= 99%, both modes": min(res["tools_think"]["call_format_ok"],
                                                   res["tools_nothink"]["call_format_ok"]) >= TARGETS["tool_format_ok"],
        "accuracy with the tool >= 95%, both modes": min(res["tools_think"]["accuracy"],
                                                        res["tools_nothink"]["accuracy"]) >= TARGETS["tool_accuracy"],
        "same problems without the tool <= 10%": max(res["tools_think_not_offered"]["accuracy"],
                                                     res["tools_nothink_not_offered"]["accuracy"])
        <= TARGETS["no_tool_accuracy_max"],
    }
    if args.baseline and args.baseline.exists():
        base = json.loads(args.baseline.read_text())
        r["baseline"] = {"path": str(args.baseline.relative_to(ROOT) if args.baseline.is_relative_to(ROOT)
                                     else args.baseline), "date": base.get("date"), "n": base.get("n"),
                         **compare_figures(card_figures(base), card_figures(r))}
        checks[f"no stage-1 card figure worse by > 2 points (n = {args.n})"] = not r["baseline"]["worse"]
        checks[f"every stage-1 card figure within 2 points (n = {args.n})"] = not r["baseline"]["moved"]
    if args.baseline_model:
        folder = baseline_model(args.baseline_model)
        print(f"\nside by side on n = {args.compare_n}: the stage-1 model ({args.baseline_model}), then this one")
        old = stage1_results(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(),
                             AutoTokenizer.from_pretrained(folder), args.compare_n)
        new = stage1_results(model32, tok, args.compare_n)
        distinct: dict[int, set] = {}
        for q in nano_eval.eval_problems(args.compare_n, seed=0):
            distinct.setdefault(q.level, set()).add((q.a, q.op, q.b))
        r["side_by_side"] = {"baseline_model": args.baseline_model, "n": args.compare_n,
                             "distinct_by_level": {k: len(v) for k, v in sorted(distinct.items())},
                             **compare_figures(card_figures({"results": old}), card_figures({"results": new}))}
        checks[f"no stage-1 card figure worse by > 2 points (side by side, n = {args.compare_n})"] = \
            not r["side_by_side"]["worse"]
        checks[f"every stage-1 card figure within 2 points (side by side, n = {args.compare_n})"] = \
            not r["side_by_side"]["moved"]
    r["targets"] = checks
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1, default=str))
    print(f"\n{'target':<78} met")
    for k, v in checks.items():
        print(f"{k:<78} {'yes' if v else 'NO'}")
    print(f"{sum(checks.values())} passed, {len(checks) - sum(checks.values())} failed")
    if args.write_card:
        write_card(r, args.model / "MODEL_CARD.md")


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_card(r: dict, path: Path) -> None:
    res = r["results"]
    lv = sorted(res["greedy_think"]["by_level"])
    rows = "\n".join(f"| {l} | {pct(res['greedy_think']['by_level'][l])} | {pct(res['greedy_nothink']['by_level'][l])} |"
                     for l in lv)
    t = r["training"]
    chain = [t]  # the stages, last first (each continued from the export of the one before)
    while chain[-1].get("continued_from"):
        chain.append(chain[-1]["continued_from"])
    chain.reverse()
    if len(chain) > 1:
        lines, cmd = [], []
        for i, m in enumerate(chain, 1):
            tools = m.get("curriculum") == "tools"
            json_part = f" and {100 * m['json_share']:.0f} % JSON answers" if m.get("json_share") else ""
            json_part += (", the samples without tools learned from stage 1's distribution (KL, `--teacher`)"
                          if m.get("teacher_steps") else "")
            what = ("tool use (`--curriculum tools`, the stage-1 mix plus "
                    f"{100 * m.get('tool_share', 0.6):.0f} % tool-use samples{json_part}), continuing from stage {i - 1}"
                    if tools else "from scratch")
            lines.append(f"Stage {i}, {what}: {m.get('steps')} steps of {m.get('batch')} conversations, AdamW lr "
                         f"{m.get('lr')}, seed {m.get('seed')}: {m.get('train_seconds')} s on {m.get('threads')} "
                         "CPU thread(s).")
            out = "DIR" if i == len(chain) else f"/tmp/nano_stage{i}"
            args = f"--out {out}"
            if tools:
                args = (f"--init /tmp/nano_stage{i - 1} --curriculum tools --steps {m.get('steps')} --batch {m.get('batch')} "
                        f"--lr {m.get('lr')}" + (f" --tool-share {m['tool_share']}" if "tool_share" in m else "")
                        + (f" --json-share {m['json_share']}" if m.get("json_share") else "")
                        + (" --teacher /tmp/nano_stage1" if m.get("teacher_steps") else "")
                        + f" --seed {m.get('seed')} {args}")
            cmd.append(f"python -m labkit.nano.train {args}")
        total = sum(m.get("train_seconds", 0) for m in chain[1:])
        training = ("\n".join(lines) + f"\nThe tool stages took {total:.0f} s in all.\n\n"
                    "Rebuild all stages with one command, `python -m labkit.nano.train --all --out DIR` (it replays the "
                    "stages recorded in `training.json`; `--threads 1`, the default, as here), which runs:\n\n    "
                    + " && \\\n    ".join(cmd) + "\n")
    else:
        training = (f"{t.get('steps')} steps of {t.get('batch')} conversations, AdamW lr {t.get('lr')}, seed {t.get('seed')}:\n"
                    f"{t.get('train_seconds')} s on {t.get('threads')} CPU threads. Rebuild: `python -m labkit.nano.train "
                    "--out DIR` (the defaults are the settings above).")
    tool_intro = tool_section = tool_limits = ""
    if "tools_think" in res:
        tool_intro = (", and (after stage 1) calling a `calculator` tool when one is offered "
                      "(`apply_chat_template(..., tools=[labkit.lessons.tools.calculator])`)"
                      + (" and answering in JSON when the system prompt asks for it" if "json" in res else ""))
        tk, tn = res["tools_think"], res["tools_nothink"]
        ok, on = res["tools_think_not_offered"], res["tools_nothink_not_offered"]
        tool_section = f"""## Tool use
Problems outside the model's own skill (held out): products of two 2-4 digit numbers and sums of
3-5 numbers, n = {r['n']} per row, `labkit.nano.evaluation.evaluate_tools`, greedy. With the calculator offered, the
model answers with one Qwen3 tool call (`<tool_call>\\n{{"name": "calculator", "arguments":
{{"expression": "..."}}}}\\n</tool_call>`, after a short think block with thinking on); the call is run and
the conversation continues with the `role: tool` message, from which the model gives the final answer
(`The result is 3543435.`).

| | thinking on | thinking off |
|---|---|---|
| accuracy with the calculator offered | {pct(tk['accuracy'])} | {pct(tn['accuracy'])} |
| tool-call format valid (one well-formed call) | {pct(tk['call_format_ok'])} | {pct(tn['call_format_ok'])} |
| the call's expression has the right value | {pct(tk['call_correct'])} | {pct(tn['call_correct'])} |
| accuracy on the same problems, no tools offered | {pct(ok['accuracy'])} | {pct(on['accuracy'])} |
| new tokens per problem (both turns) | {tk['mean_new_tokens']:.0f} | {tn['mean_new_tokens']:.0f} |

"""
        if "baseline" in r:
            b = r["baseline"]
            worst = max(b["figures"].items(), key=lambda kv: abs(kv[1]["points"]))
            moved = ", ".join(f"{k} {pct(b['figures'][k]['old'])} → {pct(b['figures'][k]['new'])}"
                              for k in b.get("moved", [])) or "none"
            tool_section += (f"Every percentage of the stage-1 card (measured {b['date']}, `{b['path']}`, n = {b.get('n')}) "
                             f"against this model ({len(b['figures'])} figures): the largest change is "
                             f"{worst[1]['points']:+.1f} points ({worst[0]}); moved by more than 2 points: {moved}.")
            if "greedy_nothink_bf16" in res:
                lv16 = res["greedy_nothink_bf16"]["by_level"]
                gap = max(abs(lv16[k] - res["greedy_nothink"]["by_level"][k]) for k in lv16)
                tool_section += (f" For scale: this model's by-level figures with thinking off (50 problems per level) "
                                 f"move by up to {100 * gap:.0f} points when the same weights run in bfloat16 instead "
                                 "of float32.")
            tool_section += "\n\n"
        if "side_by_side" in r:
            sb = r["side_by_side"]
            per_level = sb["n"] // len(res["greedy_think"]["by_level"])
            tool_section += (f"The same figures measured side by side in this run on n = {sb['n']} held-out problems "
                             f"({per_level} per level, so one problem is {100 / per_level:.1f} points of a by-level "
                             f"figure), the stage-1 model (`{sb['baseline_model']}`) and this one; the first "
                             f"{r['n']} problems are the ones above:\n\n"
                             "| figure | stage 1 | this model | points |\n|---|---|---|---|\n"
                             + "\n".join(f"| {k} | {pct(v['old'])} | {pct(v['new'])} | {v['points']:+.1f} |"
                                         for k, v in sb["figures"].items())
                             + "\n\nDistinct problems per level among them: "
                             + ", ".join(f"level {k}: {v}" for k, v in sb["distinct_by_level"].items())
                             + " (there are few one-digit problems, so each level-1 problem comes back in several "
                             "wordings and one problem answered differently moves level 1 by several points at any n)."
                             + "\n\nMoved by more than 2 points: "
                             + (", ".join(f"{k} ({'worse' if k in sb['worse'] else 'better'})" for k in sb["moved"])
                                or "none") + ".\n\n")
        if "json" in res:
            j = res["json"]
            line = lambda m: (f"| {m} | {pct(j[m]['valid_json'])} | {pct(j[m]['conforms'])} | {pct(j[m]['accuracy'])} "
                              f"| {j[m]['mean_new_tokens']:.0f} |")
            tool_section += ("## JSON answers\n"
                             "Held-out arithmetic under a system prompt that asks for JSON (`Answer only with a JSON object.`; "
                             f"the model answers `{{\"answer\": 579}}`), n = {r['n']}, `labkit.lessons.structured.compare`, greedy; "
                             "*JSON* constrained by `labkit.lessons.structured.json_schema_processor` (llguidance) to "
                             "`{\"answer\": integer 0..99999}`, after `</think>` with thinking on.\n\n"
                             "| | valid JSON | matches the schema | right answer | new tokens |\n|---|---|---|---|---|\n"
                             + "\n".join(line(m) for m in j) + "\n\n")
        tool_limits = ("\nWith tools offered it calls the calculator for every arithmetic question, even one it could "
                       "work out itself, and it knows one tool only: other tools' schemas are text it was never "
                       "trained on.")
        if "json" in res:
            off = res["json"].get("thinking off, free", {}).get("accuracy")
            tool_limits += (" It learned JSON answers in one form, asked by a system prompt; asked another way (in the "
                            "user's message) its JSON is often broken, which notebook 10 measures. With "
                            f"thinking off its JSON numbers are right {pct(off)} of the time (its text answers: "
                            f"{pct(res['greedy_nothink']['accuracy'])}): it learned the JSON answer after its scratchpad, "
                            "and the skill did not carry over to answering at once.")
    text = f"""# nano Qwen3 (qwen-labs)

A tiny model with the real Qwen3 architecture (`Qwen3ForCausalLM`), Qwen's full 151,936-row
embedding (the tokenizer's 151,669 tokens, padded), the real Qwen3 tokenizer and a Qwen3-format chat template. It was trained from
scratch by `python -m labkit.nano.train` on a synthetic curriculum (see `labkit/nano/curriculum.py`), so the
offline profile of the course shows real effects on a real model. It knows nothing but its
curriculum: column arithmetic (addition of n-digit numbers, multiplication by one digit; n = 1..4)
with and without a thinking scratchpad, who it is, greetings, a name or a pirate persona from the
system prompt, and the `/think` and `/no_think` switches{tool_intro}. Doubling (`Double 47.`) was kept out of
training on purpose: notebook 06 teaches it with LoRA.

Every figure below was measured by `bench/nano_benchmark.py` on {r['date']} ({r['machine']},
torch {r['torch']}) with `labkit.nano.evaluation.evaluate` on n = {r['n']} held-out problems per row (never seen
in training), through plain `generate()` over the full vocabulary.

## Architecture
| | |
|---|---|
| layers / hidden / MLP | {r['training'].get('arch_layers', 6)} / 64 / 256 |
| attention heads (query / key-value) / head dim | 4 / 2 / 32 |
| parameters, total | {r['params_total']:,} |
| of which embedding (tied with the output layer) | {r['params_embedding']:,} |
| parameters without the embedding | {r['params_non_embedding']:,} |
| vocabulary rows used by the curriculum | {r['compact_vocab']} (all others share one row) |
| weights on disk (bfloat16 safetensors) | {r['weights_mb']} MB |
| load time (`from_pretrained`, bf16) | {r['load_seconds_bf16']} s |

## Results (greedy unless marked)
| | thinking on | thinking off |
|---|---|---|
| accuracy | {pct(res['greedy_think']['accuracy'])} | {pct(res['greedy_nothink']['accuracy'])} |
| format ok (well-formed think block) | {pct(res['greedy_think']['format_ok'])} | {pct(res['greedy_nothink']['format_ok'])} |
| accuracy, Qwen's recommended sampling for the mode | {pct(res['sampled_think']['accuracy'])} | {pct(res['sampled_nothink']['accuracy'])} |
| format ok, recommended sampling | {pct(res['sampled_think']['format_ok'])} | {pct(res['sampled_nothink']['format_ok'])} |
| new tokens per answer | {res['greedy_think']['mean_new_tokens']:.0f} | {res['greedy_nothink']['mean_new_tokens']:.0f} |

Accuracy by level (digits of the first number), greedy:

| level | thinking on | thinking off |
|---|---|---|
{rows}

Held-out skill (doubling: `Double 47.` → `47 + 47 = 94`), before fine-tuning: accuracy
{pct(res['held_out_double']['accuracy'])} with thinking (the target mode of the skill), and
{pct(res['held_out_double_nothink']['accuracy'])} with thinking off, where the answer's echo sometimes lands on 2n by chance.

{tool_section}Decode speed, greedy, batch 1, plain `generate()`, {r['decode_threads']} CPU thread(s): {r['decode_tokens_per_s_fp32']} tokens/s
in float32, {r['decode_tokens_per_s_bf16']} tokens/s in bfloat16 (`labkit.load_model` picks float32 on CPU).
By thread count (float32 / bfloat16): {', '.join(f"{k}: {v['fp32']} / {v['bf16']}" for k, v in r['decode_by_threads'].items())}.
The tokenizer (18.7 MB `tokenizer.json`) loads in {r['tokenizer_load_seconds']} s.

## Training
{training}
The loss covers the full vocabulary exactly (the unused rows are tied to one vector, so their
logits merge into one class), which is why sampling stays on the curriculum's tokens.

## Limits
It is a teaching model: it does arithmetic in its curriculum's format and a few chat turns.
Ask it anything else and it answers with what it knows.{tool_limits}
"""
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
