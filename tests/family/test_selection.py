"""labkit.family.selection: the seed's guide as a function; nothing recommended that does not fit."""
from __future__ import annotations

import inspect
import itertools

import pytest

from labkit import LabError
from labkit.family import architectures as A
from labkit.family import selection as S

BUDGETS = (2, 4, 8, 16, 24, 48, 80, 160)
OVERHEAD = inspect.signature(A.fits).parameters["overhead_gb"].default   # the allowance fits() uses
CONTEXTS = (4096, 8192, 32768, 131072)


def _candidate(model: str) -> S.Candidate:
    for task in S.SEED_GUIDE.values():
        for entry in task.entries:
            for c in entry.candidates:
                if c.model == model:
                    return c
    raise KeyError(model)


@pytest.mark.parametrize("task,hardware", list(itertools.product(S.TASKS, S.HARDWARE)))
def test_never_recommends_a_model_that_does_not_fit(task, hardware):
    for budget, context in itertools.product(BUDGETS, CONTEXTS):
        for r in S.recommend(task, budget, hardware, context):
            c = _candidate(r.model)
            dtype, experts = {lbl: (d, e) for lbl, d, e in S._PRECISIONS[hardware]}[r.precision]
            # recompute independently from architectures
            need = (A.weight_memory_gb(c.arch, dtype, experts_quantized=experts) + 2 * c.extra_params / 1e9
                    + A.kv_cache_gb(c.arch, context) + OVERHEAD)
            assert need <= budget + 1e-9, (r, need)
            assert r.memory_gb == pytest.approx(need, abs=0.01)
            assert c.context_tokens is None or context <= c.context_tokens
            if hardware == "mobile":
                assert r.tier == "small"


def test_selection_uses_the_same_allowance_as_fits():
    assert S.OVERHEAD_GB == OVERHEAD == 1.0


def test_the_highest_precision_that_fits_is_chosen():
    recs = {r.model: r for r in S.recommend("basic", 16, "gpu")}
    assert recs["Qwen2.5-3B-Instruct"].precision == "bf16"
    # Qwen2.5-7B: bf16 weights 15.2 GB + KV + 1 GB > 16 GB, int8 fits
    assert A.memory_needed_gb("Qwen2.5-7B", "bf16", 8192) > 16
    assert recs["Qwen2.5-7B-Instruct"].precision == "int8"


def test_gpu_agrees_with_architectures_fits_for_t4():
    recs = {r.model: r for r in S.recommend("math", A.GPUS["T4"].memory_gb, "gpu", 8192)}
    for name in ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B"):
        fits_bf16 = A.fits(name, "T4", "bf16", context=8192)
        assert (recs.get(name) is not None and recs[name].precision == "bf16") == fits_bf16, name


def test_moe_with_bitsandbytes_does_not_fit_where_gguf_style_quantization_does():
    gpu = {r.model for r in S.recommend("coding", 32, "gpu", 8192)}
    cpu = {r.model for r in S.recommend("coding", 32, "cpu", 8192)}
    assert "Qwen3-30B-A3B" not in gpu          # bnb keeps the experts bf16: ~60 GB
    assert "Qwen3-30B-A3B" in cpu              # 4-bit with experts quantized: ~20 GB


def test_context_limit_excludes_qwen25_math_beyond_4k():
    math_8k = {r.model for r in S.recommend("math", 200, "gpu", 8192)}
    math_4k = {r.model for r in S.recommend("math", 200, "gpu", 4096)}
    assert not any("Math" in m for m in math_8k)
    assert "Qwen2.5-Math-7B-Instruct" in math_4k
    why = {a.model: a.reason for a in S.assess("math", 200, "gpu", 8192)}
    assert "4,096" in why["Qwen2.5-Math-7B-Instruct"]


def test_unsized_models_are_never_recommended():
    for budget in BUDGETS:
        assert all(r.model != "Qwen2-Audio-7B-Instruct" for r in S.recommend("multimodal", budget, "gpu"))
    a = {x.model: x for x in S.assess("multimodal", 1000, "gpu")}["Qwen2-Audio-7B-Instruct"]
    assert not a.fits and "not sized" in a.reason


def test_mobile_keeps_the_small_tier_and_orders_the_mobile_line_first():
    recs = S.recommend("basic", 8, "mobile")
    assert [r.model for r in recs][:2] == ["Qwen2.5-1.5B-Instruct", "Qwen2.5-0.5B-Instruct"]
    assert "Qwen2.5-7B-Instruct" not in {r.model for r in recs}


def test_every_recommendation_says_the_task_mapping_is_the_seeds_claim():
    for task in S.TASKS:
        for r in S.recommend(task, 640, "gpu", 4096):
            assert "claim of the source chapter" in r.source and "not benchmarked" in r.source
            assert r.reason.startswith("seed: ")


def test_vision_tower_count_matches_the_module_shapes():
    assert S._vl_vision_params(3584) == 676_550_144
    total = S._vl_vision_params(3584) + A.count_params("Qwen2.5-7B")["total"]
    assert total == pytest.approx(8.29e9, rel=0.001)


def test_aliases_and_tiers():
    assert S.recommend("reasoning", 24) == S.recommend("math", 24)
    assert _candidate("Qwen3-30B-A3B").tier == "medium"
    assert _candidate("Qwen2.5-72B-Instruct").tier == "large"
    assert _candidate("Qwen2.5-VL-3B-Instruct").tier == "small"


@pytest.mark.parametrize("kwargs,match", [
    (dict(task="poetry", memory_gb=16), "unknown task"),
    (dict(task="coding", memory_gb=0), "positive"),
    (dict(task="coding", memory_gb=-8), "positive"),
    (dict(task="coding", memory_gb="16"), "positive"),
    (dict(task="coding", memory_gb=16, hardware="tpu"), "unknown hardware"),
    (dict(task="coding", memory_gb=16, context_tokens=0), "context_tokens"),
])
def test_bad_input_raises_laberror_with_a_fix(kwargs, match):
    with pytest.raises(LabError, match=match) as err:
        S.recommend(**kwargs)
    assert "How to fix" in str(err.value)


def test_selection_form_builds_and_updates():
    pytest.importorskip("ipywidgets")
    form = S.selection_form("coding", 16, "gpu")
    task_w, ctx_w = form.children[0].children
    mem_w, hw_w, out = form.children[1:]
    mem_w.value = 80
    hw_w.value = "cpu"
    task_w.value = "enterprise"
    assert ctx_w.value == 8192 and out is not None
