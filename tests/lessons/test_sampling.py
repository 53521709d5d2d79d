"""labkit.lessons.sampling: the next-token distribution before/after transformers' own processors."""
from __future__ import annotations

import pytest
import torch

import labkit
from labkit.lessons import sampling
from labkit.errors import LabError

PROMPT = [{"role": "user", "content": "What is 4827 + 3979?"}]


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


@pytest.fixture(scope="module")
def partial_answer(mt):
    """A prompt that stops inside the answer: the next token is a digit the model is unsure of."""
    _, tok = mt
    text = tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    return text + "4827 + 3979 = "


@pytest.mark.model
def test_probabilities_sum_to_one_after_top_p(mt, partial_answer):
    model, tok = mt
    dist = sampling.next_token_distribution(model, tok, partial_answer, top_p=0.5)
    assert dist.after_sum == pytest.approx(1.0, abs=1e-5)
    assert float(dist.after_probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert 1 <= dist.kept < dist.vocab_size
    # top-p keeps the smallest set of most likely tokens whose mass reaches 0.5
    before = sorted((t.before for t in dist.top), reverse=True)
    assert sum(before[:dist.kept - 1]) < 0.5


def test_top_k_keeps_exactly_k_tokens(mt, partial_answer):
    model, tok = mt
    assert sampling.next_token_distribution(model, tok, partial_answer, top_k=3).kept == 3
    plain = sampling.next_token_distribution(model, tok, partial_answer)
    assert plain.kept == plain.vocab_size == 151936  # no processor: every token can be drawn


def test_low_temperature_sharpens(mt, partial_answer):
    model, tok = mt
    cold = sampling.next_token_distribution(model, tok, partial_answer, temperature=0.3)
    hot = sampling.next_token_distribution(model, tok, partial_answer, temperature=2.0)
    assert cold.top[0].token_id == hot.top[0].token_id
    assert cold.top[0].after > cold.top[0].before > hot.top[0].after


def test_matches_the_scores_generate_samples_from(mt):
    """The processed distribution is the one generate(do_sample=True, ...) uses for its first token."""
    model, tok = mt
    settings = dict(temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.3)
    dist = sampling.next_token_distribution(model, tok, PROMPT, thinking=True, **settings)
    enc = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", enable_thinking=True)
    out = model.generate(**enc, max_new_tokens=1, do_sample=True, output_scores=True, return_dict_in_generate=True,
                         pad_token_id=tok.pad_token_id, **settings)
    from_generate = torch.softmax(out.scores[0][0].float(), dim=-1)
    assert torch.allclose(from_generate, dist.after_probs, atol=1e-5)


def test_repetition_penalty_lowers_tokens_of_the_prompt(mt, partial_answer):
    model, tok = mt
    plain = sampling.next_token_distribution(model, tok, partial_answer)
    pen = sampling.next_token_distribution(model, tok, partial_answer, repetition_penalty=2.0)
    seen = torch.tensor(sorted(set(tok(partial_answer)["input_ids"])))
    assert float(plain.after_probs[seen].sum()) > 0.01  # the digits of the question are candidates
    assert float(pen.after_probs[seen].sum()) < float(plain.after_probs[seen].sum())


def test_bad_settings_are_named():
    with pytest.raises(LabError, match="temperature=0"):
        sampling.sampling_processors(temperature=0)
    with pytest.raises(LabError, match="top_p=1.5"):
        sampling.sampling_processors(top_p=1.5)


def test_explorer_and_plot_build(mt, partial_answer):
    import matplotlib

    matplotlib.use("Agg")
    model, tok = mt
    box = sampling.sampling_explorer(model, tok, partial_answer)
    assert len(box.children) == 3
    ax = sampling.plot_distribution(sampling.next_token_distribution(model, tok, partial_answer, top_k=5))
    assert len(ax.patches) == 2 * min(10, len(ax.get_xticks()))
