"""labkit.hub.standins: random checkpoints of the real classes that load like the real ones, offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hub_fakes import fake_entry

import labkit
from labkit.hub import checkpoints, lookup, standins
from labkit.tokenizer import _spec, chat_template, load_tokenizer, template_text


@pytest.fixture(scope="session")
def standin_cache():
    """The shared build (under $QWEN_LABS_CACHE/standins, reused while its fingerprint holds)."""
    return standins.build()


@pytest.fixture
def hub_offline(standin_cache, monkeypatch):
    """The hub profile on the stand-ins, with HF_HUB_OFFLINE=1."""
    monkeypatch.setenv("HF_HUB_CACHE", str(standin_cache))
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)   # restored after the test
    monkeypatch.setenv("QWEN_LABS_PROFILE", "hub")
    monkeypatch.delenv(lookup.MODELS_DIR_VAR, raising=False)
    return standin_cache


def _snapshot(cache, repo_id):
    loc = lookup.locate(repo_id, cache, local_folders=False)
    assert loc.state == "cached", loc.problem
    return loc.path


def test_every_course_model_has_a_complete_standin(standin_cache):
    for model in checkpoints.COURSE_MODELS:
        snapshot = _snapshot(standin_cache, model.repo_id)
        assert standins.is_standin(snapshot)
        marker = json.loads((snapshot / standins.MARKER).read_text())
        assert marker["stand_in_for"] == model.repo_id and marker["full_shape"] is False


def test_configs_keep_the_real_fields_and_shrink_only_shapes(standin_cache):
    from labkit.family import architectures as A

    for model in checkpoints.COURSE_MODELS:
        cfg = json.loads((_snapshot(standin_cache, model.repo_id) / "config.json").read_text())
        assert cfg["architectures"] == [model.architecture]
        assert cfg["dtype"] == "bfloat16"
        text = cfg.get("text_config", cfg)
        real = A.spec(model.arch).config
        # the vocabulary and the ids of <|endoftext|> and <|im_end|> in the real configs
        vocab, bos_eos = {"qwen3.5": (248320, (248044, 248046))}.get(model.tokenizer, (151936, (151643, 151645)))
        assert text["vocab_size"] == real["vocab_size"] == vocab
        assert cfg["tie_word_embeddings"] == real["tie_word_embeddings"]
        assert text["max_position_embeddings"] == real["max_position_embeddings"]
        theta = real["rope_theta"] if "rope_theta" in real else real["rope_parameters"]["rope_theta"]
        assert text["rope_parameters"]["rope_theta"] == theta
        assert (text["bos_token_id"], text["eos_token_id"]) == bos_eos
        for field in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"):
            assert text[field] == standins.TINY[field] < real[field], (model.repo_id, field)
        if cfg["model_type"] == "qwen3":  # vLLM's CPU attention runs head sizes from 32 up (notebook 09 serves it)
            assert text["head_dim"] == 32
        if cfg["model_type"] == "qwen3_5":   # still hybrid: one Gated DeltaNet layer and one full-attention layer
            assert text["layer_types"] == ["linear_attention", "full_attention"]
            assert text["rope_parameters"]["partial_rotary_factor"] == A.QWEN35_ROPE["partial_rotary_factor"]
            assert cfg["vision_config"]["patch_size"] == A.VISION[model.arch]["patch_size"] == 16


def test_full_shape_configs_have_the_real_parameter_count():
    import torch
    import transformers

    for model in checkpoints.COURSE_MODELS:
        config = standins.make_config(model, full_shape=True)
        with torch.device("meta"):
            if model.processor:
                net = getattr(transformers, model.architecture)._from_config(config)
            else:
                net = transformers.AutoModelForCausalLM.from_config(config)
        assert type(net).__name__ == model.architecture
        assert sum(p.numel() for p in net.parameters()) == model.params, model.repo_id


def test_special_token_ids_match_the_tokenizer(standin_cache):
    for model in checkpoints.COURSE_MODELS:
        snapshot = _snapshot(standin_cache, model.repo_id)
        cfg = json.loads((snapshot / "config.json").read_text())
        gen = json.loads((snapshot / "generation_config.json").read_text())
        spec = _spec(model.tokenizer)   # the added tokens at their real ids, as labkit.tokenizer builds them
        ids = {tok: spec.first_added_id + i for i, (tok, _) in enumerate(spec.added)}
        assert [ids["<|endoftext|>"], ids["<|im_end|>"]] == [gen["bos_token_id"], gen["eos_token_id"][0]]
        assert json.loads((snapshot / "tokenizer_config.json").read_text())["eos_token"] == "<|im_end|>"
        if model.processor:
            assert cfg["image_token_id"] == ids["<|image_pad|>"]
            assert cfg["vision_start_token_id"] == ids["<|vision_start|>"]
        if model.tokenizer == "qwen3":
            from labkit.family.facts import SAMPLING

            assert (gen["temperature"], gen["top_p"], gen["top_k"]) == (0.6, 0.95, 20) == (
                SAMPLING["thinking"].temperature, SAMPLING["thinking"].top_p, SAMPLING["thinking"].top_k)


@pytest.mark.model
def test_load_model_under_the_hub_profile_offline_generates(hub_offline):
    import torch

    for repo_id in (checkpoints.DEFAULT_MODEL, "Qwen/Qwen2.5-Coder-1.5B-Instruct"):
        model, tok = labkit.load_model(repo_id)
        assert type(model).__name__ == checkpoints.get(repo_id).architecture
        assert tok.chat_template == template_text(_spec(checkpoints.get(repo_id).tokenizer).template)
        ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        assert out.shape[1] == ids["input_ids"].shape[1] + 4
    assert labkit.choose_profile().models == f"the Hugging Face cache {hub_offline} only (HF_HUB_OFFLINE=1)"


def test_a_model_not_in_the_cache_is_one_line(hub_offline):
    with pytest.raises(labkit.LabError) as err:
        labkit.load_model("Qwen/Qwen3-8B")
    assert "Qwen/Qwen3-8B (size unknown) is not in the Hugging Face cache" in err.value.cause
    assert "HF_HUB_OFFLINE=1 is set" in err.value.cause


@pytest.mark.model
def test_vl_standin_has_its_processor_files(standin_cache):
    from transformers import AutoImageProcessor

    vl = checkpoints.get("Qwen/Qwen2.5-VL-3B-Instruct")
    snapshot = _snapshot(standin_cache, vl.repo_id)
    template = (snapshot / "chat_template.jinja").read_text()
    assert template == chat_template("qwen2_5_vl.jinja")
    image = AutoImageProcessor.from_pretrained(snapshot)
    assert (image.patch_size, image.merge_size, image.temporal_patch_size) == (14, 2, 2)
    tok = load_tokenizer("qwen2.5")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]
    text = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>" in text


@pytest.mark.model
def test_transformers_loads_them_by_hub_id_in_a_fresh_process(standin_cache):
    code = ("from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer\n"
            "m = AutoModelForCausalLM.from_pretrained('Qwen/Qwen3-0.6B'); AutoTokenizer.from_pretrained('Qwen/Qwen3-0.6B')\n"
            "v = AutoModelForImageTextToText.from_pretrained('Qwen/Qwen2.5-VL-3B-Instruct')\n"
            "w = AutoModelForImageTextToText.from_pretrained('Qwen/Qwen3.5-0.8B')\n"
            "t = AutoModelForCausalLM.from_pretrained('Qwen/Qwen3.5-0.8B')\n"
            "k = AutoTokenizer.from_pretrained('Qwen/Qwen3.5-0.8B')\n"
            "print(type(m).__name__, type(v).__name__, type(w).__name__, type(t).__name__, type(k).__name__)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(standin_cache), "HF_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Qwen3ForCausalLM", "Qwen2_5_VLForConditionalGeneration",
                                  "Qwen3_5ForConditionalGeneration", "Qwen3_5ForCausalLM", "Qwen3_5Tokenizer"]


def test_a_build_is_reused(standin_cache):
    before = {m.repo_id: _snapshot(standin_cache, m.repo_id) for m in checkpoints.COURSE_MODELS}
    start = time.perf_counter()
    assert standins.build() == standin_cache
    assert time.perf_counter() - start < 20   # nothing rebuilt: only the fingerprint is computed
    assert {m.repo_id: _snapshot(standin_cache, m.repo_id) for m in checkpoints.COURSE_MODELS} == before
    assert standin_cache.name.endswith(standins.fingerprint())


def test_a_real_checkpoint_is_never_overwritten(tmp_path):
    fake_entry(tmp_path / "hub")   # complete, and no standin.json: a real download
    with pytest.raises(labkit.LabError, match="holds a real Qwen/Qwen3-0.6B"):
        standins.build(tmp_path / "hub", only=[checkpoints.DEFAULT_MODEL])


@pytest.mark.model
def test_only_standins_generation_and_requests_are_capped(hub_offline, monkeypatch, capsys):
    import openai
    import torch
    from openai import _base_client
    from transformers.generation.utils import GenerationMixin

    monkeypatch.setattr(GenerationMixin, "generate", GenerationMixin.generate)   # the caps are undone after the test
    monkeypatch.setattr(standins, "_REQUEST_HOOKS", [])
    sent = []
    for cls in (_base_client.SyncAPIClient, _base_client.AsyncAPIClient):   # what the client would send, not sent
        monkeypatch.setattr(cls, "request", lambda self, cast_to, opts, **kw: sent.append(
            {**(opts.json_data or {}), **(opts.extra_json or {})}))
    model, tok = labkit.load_model()
    nano, nano_tok = labkit.load_model(labkit.models.NANO_ID)
    assert standins.is_standin(model) and standins.is_standin(checkpoints.DEFAULT_MODEL) and standins.is_standin(tok)
    assert not standins.is_standin(nano) and not standins.is_standin("Qwen/Qwen3-8B")

    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="none", max_retries=0)
    ask = dict(model="m", messages=[{"role": "user", "content": "Hi"}])
    client.chat.completions.create(**ask, max_tokens=500)
    assert sent.pop()["max_tokens"] == 500                                      # no cap before the banner

    def new_tokens(m, t, **kwargs):
        ids = t.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True,
                                    return_tensors="pt", return_dict=True)
        with torch.no_grad():
            return m.generate(**ids, do_sample=False, **kwargs).shape[1] - ids["input_ids"].shape[1]

    assert new_tokens(model, tok, max_new_tokens=40, min_new_tokens=40) == 40    # no cap before the banner
    labkit.banner("hub")
    shown = capsys.readouterr().out
    assert "stand-ins" in shown and f"at most {standins.STANDIN_MAX_NEW_TOKENS} new tokens" in shown
    cap = standins.STANDIN_MAX_NEW_TOKENS
    assert new_tokens(model, tok, max_new_tokens=40, min_new_tokens=cap) == cap
    assert new_tokens(model, tok, max_new_tokens=3, min_new_tokens=3) == 3       # a smaller limit is kept
    from transformers import GenerationConfig
    config = GenerationConfig(max_new_tokens=99, min_new_tokens=cap, do_sample=False, pad_token_id=tok.pad_token_id)
    assert new_tokens(model, tok, generation_config=config) == cap and config.max_new_tokens == 99
    assert new_tokens(nano, nano_tok, max_new_tokens=cap + 8, min_new_tokens=cap + 8) == cap + 8   # real weights: as asked
    client.chat.completions.create(**ask, max_tokens=500, extra_body={"min_tokens": 400})
    assert (sent[-1]["max_tokens"], sent[-1]["min_tokens"]) == (cap, cap)        # the server's stand-in: capped
    client.chat.completions.create(**ask)
    assert sent[-1]["max_tokens"] == cap                                        # no limit given: the cap is set
    client.chat.completions.create(**ask, max_completion_tokens=3)
    assert sent[-1]["max_completion_tokens"] == 3 and "max_tokens" not in sent[-1]
    client.responses.create(model="m", input="Hi", max_output_tokens=99)
    assert sent[-1]["max_output_tokens"] == cap


LABEL_SCRIPT = """
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = [
    "import labkit; labkit.banner('hub')",
    "model, tok = labkit.load_model(); print('loaded')",
    "print('tokens:', tok('Hi')['input_ids'])",
    "import torch; model(**tok('Hi', return_tensors='pt')); print('forward')",
    "import matplotlib; matplotlib.use('agg'); import matplotlib.pyplot as plt; plt.plot([1, 2]); print('figure')",
    "plt.close('all'); print('plain')",
]
for cell in cells:
    print('--- cell')
    shell.run_cell(cell)
"""


@pytest.mark.model
def test_the_banner_labels_every_cell_where_a_standin_ran(hub_offline):
    """One hook, installed by the banner, labels the cells whose output came from a stand-in; no lesson cell does."""
    out = subprocess.run([sys.executable, "-c", LABEL_SCRIPT], env=os.environ.copy(), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cells = out.stdout.split("--- cell\n")[1:]
    labelled = [standins.STANDIN_LABEL in cell for cell in cells]
    assert labelled == [False, False, False, True, True, False], out.stdout


def test_no_lesson_cell_labels_or_caps_standins():
    """Stand-ins are CI scaffolding: no notebook, exercise or solution mentions them in code."""
    import run_notebooks

    offenders = []
    for path in run_notebooks.notebooks(include_all=True):
        cells = json.loads(path.read_text())["cells"]
        offenders += [f"{path.name} cell {i}" for i, c in enumerate(cells) if c["cell_type"] == "code"
                      and any(w in "".join(c["source"]) for w in ("standin", "STANDIN", ".note("))]
    assert not offenders
