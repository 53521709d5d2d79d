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
            (Delivery("01", (1, 2, 4), "one decoder at every size, read from the config; GQA and tied embeddings "
                                      "in the shapes; MoE active vs total parameters, counted on the meta device"),
             Delivery("04", (1, 2, 3), "hybrid thinking: one model, two modes, each with its sampling; the soft "
                                   "switches and the one-mode 2507 releases")),
            (("01", "non_embedding_params"), ("01", "kv_cache_gb"))),
    Outcome("choose a variant for requirements and resources",
            (Delivery("01", (4, 7), "which GPU holds which model; a task-to-model guide as a function"),
             Delivery("05", (4,), "which Qwen3 fits which GPU at which precision, KV cache included")),
            (("01", "largest_t4_model"), ("05", "largest_nf4_fit"))),
    Outcome("deploy with optimized configurations",
            (Delivery("08", (1, 2, 3, 4, 5, 6, 7, 8), "batching, an async service, `transformers serve` started by "
                                                     "hand and called with the OpenAI client, a load test, the same "
                                                     "load test on another engine, rate limits, guardrails"),
             Delivery("09", (1, 3, 4, 5, 6, 7, 9), "the platforms by their own command lines: vLLM launched with "
                                                  "`vllm serve`'s flags, llama.cpp's converter, quantizer and server, "
                                                  "an Ollama Modelfile, the ONNX Runtime GenAI loop; the vLLM "
                                                  "sample's fixes in the old → today table"),
             Delivery("02", (3, 6), "`generation_config`, recommended sampling"),
             Delivery("03", (4,), "left-padded batches checked against one by one"),
             Delivery("07", (6, 8), "optimizations measured side by side: KV cache and batching on a full-shape "
                                    "model, static cache on a GPU")),
            (("02", "non_thinking_sampling"), ("03", "batch_answers"), ("08", "server_reply"), ("08", "bucket_decisions"),
             ("08", "prompt_tokens"), ("09", "server_command"), ("09", "og_loop"), ("09", "modelfile"),
             ("09", "engine_choice"))),
    Outcome("apply quantization and optimization",
            (Delivery("05", (1, 2, 3, 5), "bitsandbytes int8 / NF4 / double quant through `quantization_config`, where "
                                       "the bytes go, the cost measured, the old keywords"),
             Delivery("06", (7,), "QLoRA on a 4-bit base"),
             Delivery("07", (6, 8, 9), "KV cache, batching, static cache; SDPA's defaults and the no-op calls"),
             Delivery("09", (3, 6), "GGUF BF16 / Q8_0 / Q4_K_M by llama.cpp's converter and `llama_model_quantize` "
                                    "and what each file holds; ONNX int8")),
            (("05", "nf4_config"), ("05", "nf4_model"), ("05", "embedding_share"), ("06", "trainable_params"), ("09", "q4_fallbacks"), ("09", "q4_gguf"))),
    Outcome("weigh size, performance and capability",
            (Delivery("01", (3, 4, 5), "weights and KV cache per context, the family's sizes, tokens per language"),
             Delivery("04", (6, 7), "what thinking buys per level; budgets"),
             Delivery("05", (3,), "memory, speed, accuracy and KL in one run"),
             Delivery("07", (2, 7), "latency percentiles; the roofline"),
             Delivery("09", (8,), "engines side by side: agreement, accuracy, decode and end-to-end speed, TTFT, "
                                  "32 concurrent requests, start-up, memory"),
             Delivery("10", (5, 10), "what a tool adds, measured; constrained decoding's format, accuracy and "
                                     "per-step cost")),
            (("01", "tokens_per_char"), ("07", "ttft_streamer"), ("07", "p95_latency"), ("07", "ceiling_l4"),
             ("10", "json_reply"))),
)
