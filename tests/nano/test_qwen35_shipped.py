"""The shipped nano Qwen3.5 (labkit/nano/nano_qwen3_5): its size budget, its classes, and its card, rendered from the
benchmark's measured results."""
from __future__ import annotations

def shipped():
    import labkit

    return labkit.nano_path("qwen3.5")


def test_the_shipped_folder_keeps_its_size_budget():
    """Weights at most 40 MB, the folder at most 60 MB (tokenizer.json written compactly), the real classes."""
    import json

    folder = shipped()
    assert (folder / "model.safetensors").stat().st_size <= 40e6
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 60e6
    assert (folder / "tokenizer.json").read_text(encoding="utf-8")[:2] == '{"'
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen3_5ForConditionalGeneration"] and cfg["model_type"] == "qwen3_5"
    text = cfg["text_config"]
    assert text["vocab_size"] == 248320 and cfg["tie_word_embeddings"]
    assert text["layer_types"] == (["linear_attention"] * 3 + ["full_attention"]) * (text["num_hidden_layers"] // 4)
    assert (cfg["image_token_id"], cfg["vision_start_token_id"]) == (248056, 248053)


def test_the_card_is_rendered_from_the_measured_results():
    """MODEL_CARD.md is bench/nano35_benchmark.py's rendering of bench/results/nano35.json, measured on this folder."""
    import json
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "bench"))
    import nano35_benchmark as bench

    result = json.loads((root / "bench" / "results" / "nano35.json").read_text())
    assert (shipped() / "MODEL_CARD.md").read_text(encoding="utf-8") == bench.card(result)
    assert result["training"] == json.loads((shipped() / "training.json").read_text())["meta"]
    assert result["weights_mb"] == round((shipped() / "model.safetensors").stat().st_size / 1e6, 2)


def test_benchmark_checks_take_the_worst_row_of_each_target():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import nano35_benchmark as bench

    tools = {f"tools_{m}_{s}": {"call_valid_and_correct": c, "final_accuracy": f}
             for (m, s), (c, f) in zip([("think", "sent"), ("think", "dropped"), ("nothink", "sent"),
                                        ("nothink", "dropped")], [(1, 1), (0.97, 0.99), (0.99, 0.94), (1, 1)])}
    rows = {"arithmetic_think": {"accuracy": 0.96}, "image_think": {"accuracy": 0.9},
            "image_nothink": {"accuracy": 0.89}, **tools}
    got = bench.checks({"rows": rows})
    assert got["tools_call"] == (0.97, 0.95, True) and got["tools_final"] == (0.94, 0.95, False)
    assert got["image_think"][2] and not got["image_nothink"][2] and got["arithmetic_think"][2]
