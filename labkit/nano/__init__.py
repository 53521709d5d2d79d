"""The nano Qwen3: its weights (``nano_qwen3/``), curriculum, evaluation and training.

``labkit.nano_path()`` gives the folder of the weights; ``python -m labkit.nano.train --all`` rebuilds them.
"""
