"""The source chapter's learning outcomes, with the notebook sections that deliver them and the checks that test them.

:data:`OUTCOMES` are numbered and worded as in ``docs/source_outline.md`` (:data:`OUTLINE`, section 10);
``tools/course_map.py`` renders them for the instructor guide and the README's course map.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Delivery:
    notebook: str                  # "01"
    sections: tuple[int, ...]      # "## N." headings of that notebook
    what: str


@dataclass(frozen=True)
class Outcome:
    text: str                      # the outcome as docs/source_outline.md section 10 words it
    delivered: tuple[Delivery, ...]
    checks: tuple[tuple[str, str], ...]   # (exercise number, labkit.checks name)


# The course authors' outline of the source chapter; OUTCOMES[i] is its outcome 10.<i+1>.
OUTLINE = ROOT / "docs" / "source_outline.md"

OUTCOMES: tuple[Outcome, ...] = (
    Outcome("explain the family's architecture advantages",
            (Delivery("01", (1, 2, 4), "design principles, one decoder at every size, GQA, tied embeddings, "
                                      "MoE active vs total parameters"),
             Delivery("04", (1, 2), "hybrid thinking: one model, two modes")),
            (("01", "non_embedding_params"), ("01", "kv_cache_gb"))),
    Outcome("choose a variant for requirements and resources",
            (Delivery("01", (5, 8), "what fits which GPU; the selection guide as a function"),
             Delivery("05", (6,), "which model fits which GPU at which precision")),
            (("01", "largest_t4_model"), ("05", "largest_nf4_fit"))),
    Outcome("deploy with optimized configurations",
            (Delivery("08", (1, 2, 3, 4, 5, 6, 7), "batching, an async service, `transformers serve`, the same "
                                                  "load test on llama.cpp or vLLM, rate limits, guardrails"),
             Delivery("09", (2, 3, 4, 5, 6, 8), "the chapter's platforms: one command for every server, llama.cpp "
                                              "on GGUF, an Ollama Modelfile, ONNX Runtime, vLLM; the vLLM sample "
                                              "fixed"),
             Delivery("02", (4, 7, 9), "`generation_config`, recommended sampling, batching"),
             Delivery("07", (5,), "optimizations measured side by side")),
            (("02", "non_thinking_sampling"), ("02", "batch_answers"), ("08", "bucket_decisions"),
             ("08", "prompt_tokens"), ("09", "modelfile"), ("09", "engine_choice"))),
    Outcome("apply quantization and optimization",
            (Delivery("05", (1, 2, 3, 4, 5, 8), "bitsandbytes int8 / NF4 / double quant, GGUF, measured"),
             Delivery("06", (6,), "QLoRA on a 4-bit base"),
             Delivery("07", (5, 6), "KV cache, SDPA, static cache, batching; the no-op calls"),
             Delivery("09", (3, 5), "GGUF BF16 / Q8_0 / Q4_K_M by llama.cpp's converter and what each file holds; "
                                    "ONNX int8")),
            (("05", "nf4_config"), ("05", "embedding_share"), ("06", "trainable_params"), ("09", "q4_fallbacks"))),
    Outcome("weigh size, performance and capability",
            (Delivery("01", (4, 5, 6, 7), "size, memory, tokens per language, benchmark claims"),
             Delivery("04", (6, 7), "what thinking buys per level; budgets"),
             Delivery("05", (4,), "memory, speed and quality in one run"),
             Delivery("07", (2, 4), "latency percentiles; the roofline"),
             Delivery("09", (7,), "engines side by side: agreement, accuracy, speed, concurrency, start-up, "
                                  "memory")),
            (("01", "tokens_per_char"), ("07", "p95_latency"), ("07", "ceiling_l4"))),
)
