"""Model servers and engines: one way to launch a server, llama.cpp, ONNX Runtime, vLLM, load tests, guardrails.

``python -m labkit.serving --engine {transformers,vllm,llamacpp}`` serves the course's model (:mod:`labkit.serving.serve`).
"""
