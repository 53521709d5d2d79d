"""The Qwen family as cited data: architectures, release facts, model selection, tokens per language, chat templates."""
