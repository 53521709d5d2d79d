"""Version-drift guard (tools/api_drift.py): the keyword arguments the notebooks, exercises, solutions and
labkit pass to transformers, peft, trl and bitsandbytes exist in the installed versions, and the
notebooks' demonstrations of old APIs (inside try/except TypeError) still raise."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import api_drift

# Calls the guard must keep resolving: if one goes missing, the guard has gone blind to it (or the
# notebook was rewritten: then update this list).  (source, callee as written, argument, verdict)
CANARIES = [
    ("notebooks/06_lora_and_qlora.ipynb", "TrainingArguments", "evaluation_strategy", "rejected"),  # demonstration
    ("notebooks/06_lora_and_qlora.ipynb", "SFTTrainer", "max_seq_length", "rejected"),  # demonstration
    ("notebooks/06_lora_and_qlora.ipynb", "SFTConfig", "activation_checkpointing", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "SFTTrainer", "processing_class", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "LoraConfig", "target_modules", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "LoraConfig", "lora_alpha", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "LoraConfig", "task_type", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "SFTConfig", "completion_only_loss", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "SFTConfig", "use_cpu", "accepted"),
    ("notebooks/06_lora_and_qlora.ipynb", "prepare_model_for_kbit_training", "use_gradient_checkpointing",
     "accepted"),
    ("notebooks/05_quantized_loading.ipynb", "AutoModelForCausalLM.from_pretrained", "load_in_8bit",
     "rejected"),  # demonstration
    ("notebooks/05_quantized_loading.ipynb", "BitsAndBytesConfig", "bnb_4bit_quant_type", "accepted"),
    ("notebooks/05_quantized_loading.ipynb", "AutoModelForCausalLM.from_pretrained", "quantization_config",
     "accepted"),
    ("notebooks/05_quantized_loading.ipynb", "BitsAndBytesConfig", "bnb_4bit_compute_dtype", "accepted"),
    ("solutions/06_lora_and_qlora_solution.ipynb", "SFTConfig", "max_length", "accepted"),
    ("labkit/lessons/finetuning.py", "LoraConfig", "target_modules", "accepted"),
    ("labkit/lessons/quantization.py", "BitsAndBytesConfig", "bnb_4bit_use_double_quant", "accepted"),
]


@pytest.fixture(scope="module")
def course():
    return api_drift.check()


def test_the_course_passes_arguments_that_exist(course):
    print(course.summary())
    assert not course.problems, course.summary()
    assert not course.unparsed, course.summary()


def test_the_guard_sees_the_calls_that_matter(course):
    seen = {(src, callee, kw, verdict) for src, _, callee, kw, verdict in course.checked}
    missing = [c for c in CANARIES if c not in seen]
    assert not missing, f"no longer checked: {missing}\n{course.summary()}"


# ------------------------------------------------------------------ the guard can fail
def notebook(tmp_path, *cells: str):
    """A notebook in tmp_path: a markdown cell, then ``cells`` as code cells (cell i+1)."""
    nb = new_notebook(cells=[new_markdown_cell("# synthetic")] + [new_code_cell(c) for c in cells])
    path = tmp_path / "synthetic.ipynb"
    nbformat.write(nb, path)
    return path


def test_an_argument_that_does_not_exist_is_reported(tmp_path):
    path = notebook(tmp_path, "%matplotlib inline\n!echo hi\nfrom trl import SFTConfig",
                    "config = SFTConfig(output_dir='x', max_seq_length=10)", "%%bash\necho not: python")
    report = api_drift.check([path])
    assert len(report.problems) == 1 and not report.unparsed, report.summary()
    problem = report.problems[0]
    for part in (str(path), "cell 2", "SFTConfig", "'max_seq_length'", "trl", "did you mean max_length"):
        assert part in problem, problem
    assert api_drift.main([str(path)]) == 1


def test_a_stale_demonstration_is_reported(tmp_path):
    path = notebook(tmp_path, "from transformers import TrainingArguments\n"
                              "try:\n"
                              "    TrainingArguments(output_dir='x', eval_strategy='steps')  # eval_strategy exists\n"
                              "except TypeError as exc:\n"
                              "    print(exc)")
    report = api_drift.check([path])
    assert len(report.problems) == 1, report.summary()
    problem = report.problems[0]
    for part in (str(path), "cell 1", "TrainingArguments", "stale demonstration", "eval_strategy"):
        assert part in problem, problem


def test_a_true_demonstration_passes_and_except_valueerror_is_no_demonstration(tmp_path):
    path = notebook(tmp_path, "from transformers import TrainingArguments\nfrom trl import SFTConfig, SFTTrainer",
                    "try:\n    TrainingArguments(output_dir='x', evaluation_strategy='steps')\n"
                    "except (TypeError, ValueError):\n    pass",
                    # the nested SFTConfig runs first: it is an ordinary call, its arguments must exist
                    "try:\n    SFTTrainer(model=None, args=SFTConfig(output_dir='x', max_length=8), tokenizer=None)\n"
                    "except TypeError:\n    pass",
                    "try:\n    SFTConfig(output_dir='x')\nexcept ValueError:\n    pass")
    report = api_drift.check([path])
    assert not report.problems, report.summary()
    verdicts = {(callee, kw): verdict for _, _, callee, kw, verdict in report.checked}
    assert verdicts[("TrainingArguments", "evaluation_strategy")] == "rejected"
    assert verdicts[("SFTTrainer", "tokenizer")] == "rejected"
    assert verdicts[("SFTConfig", "max_length")] == "accepted"


def test_a_wrong_argument_nested_in_a_demonstration_is_reported(tmp_path):
    path = notebook(tmp_path, "from trl import SFTConfig, SFTTrainer\n"
                              "try:\n    SFTTrainer(model=None, args=SFTConfig(output_dir='x', max_seq_length=8),"
                              " tokenizer=None)\nexcept TypeError:\n    pass")
    report = api_drift.check([path])
    assert [p for p in report.problems if "'max_seq_length'" in p and "SFTConfig" in p], report.summary()


def test_imports_aliases_and_dict_keys_are_followed(tmp_path):
    path = notebook(
        tmp_path,
        "import transformers as tf\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\nimport trl",
        # BitsAndBytesConfig takes **kwargs but ignores them: checked against its parameters
        "q = tf.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_typo='nf4')",
        "machine = dict(report_to='none', gradient_checkpointin=False)\n"
        "cfg = trl.SFTConfig(output_dir='x', **machine)",
        "def make(**overrides):\n    kw = {'output_dir': 'x', 'max_seq_lenght': 4}\n"
        "    return trl.SFTConfig(**kw, **overrides)",
        "Config = trl.SFTConfig\nConfig(output_dir='x', packing=True, pakcing=False)",
        "AutoModelForCausalLM.from_pretrained('m', dtype='auto', device_map='auto', load_in_8bit=True)",
        "tok = AutoTokenizer.from_pretrained('m', padding_side='left')\nawait something()",
    )
    report = api_drift.check([path])
    problems = "\n".join(report.problems)
    for kw, where in (("bnb_4bit_quant_typo", "cell 2"), ("gradient_checkpointin", "cell 3"),
                      ("max_seq_lenght", "cell 4"), ("pakcing", "cell 5"), ("load_in_8bit", "cell 6")):
        line = next((p for p in report.problems if f"'{kw}'" in p), None)
        assert line and where in line, f"{kw} not reported in {where}:\n{report.summary()}"
    assert "(a key of **machine)" in problems
    assert len(report.problems) == 5, report.summary()
    # arguments that exist pass; one that lands in **kwargs of a tokenizer cannot be decided: listed, not failed
    verdicts = {(callee, kw): v for _, _, callee, kw, v in report.checked}
    assert verdicts[("AutoModelForCausalLM.from_pretrained", "dtype")] == "accepted"
    assert verdicts[("Config", "packing")] == "accepted"
    assert any("padding_side" in line and "AutoTokenizer.from_pretrained" in line for line in report.not_checked)
    assert any("**overrides" in line for line in report.not_checked)


# ------------------------------------------------------------------ labkit's subclasses of library classes
def test_labkits_overrides_still_override_something_with_the_same_parameters():
    from labkit.lessons.finetuning import LabelOnlySFTTrainer
    from labkit.lessons.reinforcement import CompactGRPOTrainer

    assert api_drift.override_problems() == []
    assert api_drift.override_problems([LabelOnlySFTTrainer, CompactGRPOTrainer]) == []


def test_a_dead_or_narrowed_override_is_reported():
    from trl import GRPOTrainer
    from typing_extensions import override

    class Renamed(GRPOTrainer):
        @override
        def _get_per_token_logps(self, model, input_ids):      # the method's old name: overrides nothing
            return None

        def _helper(self):                                      # not marked: a helper of our own
            return None

    class Narrowed(GRPOTrainer):
        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask):   # drops logits_to_keep
            return None

    problems = api_drift.override_problems([Renamed, Narrowed])
    assert len(problems) == 2, problems
    assert "Renamed._get_per_token_logps overrides nothing in trl.trainer.grpo_trainer.GRPOTrainer" in problems[0]
    assert "Narrowed._get_per_token_logps_and_entropies lacks" in problems[1] and "'logits_to_keep'" in problems[1]
