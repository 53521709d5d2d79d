"""The nano Qwen3.5's curriculum and trainer, on tiny shapes: images, XML tool calls, the compact loss, the export."""
from __future__ import annotations

import random

import pytest
import torch

from labkit.lessons import tools as T
from labkit.nano.qwen35 import curriculum as cur, train as T35


@pytest.fixture(scope="module")
def tok():
    return T35.tokenizer()


def test_images_hold_two_or_three_numbers_apart_on_white():
    import numpy as np

    rng = random.Random(0)
    for _ in range(40):
        image, numbers, layout = cur.draw_numbers(rng)
        assert image.size == (256, 256) and len(numbers) in (2, 3) and all(10 <= n <= 99 for n in numbers)
        assert [b[0] for b in layout] == sorted(b[0] for b in layout)          # read left to right
        for i, a in enumerate(layout):
            assert 0 <= a[0] + 3 and 0 <= a[1] + 3 and a[2] - 3 <= 256 and a[3] - 3 <= 256   # ink box + 3 px
            for b in layout[i + 1:]:
                assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
        pixels = np.asarray(image).copy()
        for x0, y0, x1, y1 in layout:
            x0, y0 = max(x0, 0), max(y0, 0)
            assert (pixels[y0:y1, x0:x1] < 128).any()                           # ink inside every box
            pixels[y0:y1, x0:x1] = 255
        assert (pixels == 255).all()                                            # and nowhere else


def names(schema):
    """(tool name, parameter name) of a calculator schema."""
    f = schema["function"]
    return f["name"], next(iter(f["parameters"]["properties"]))


def test_held_out_splits_are_disjoint(tok):
    rng = random.Random(1)
    train = [names(cur.random_tool(rng)) for _ in range(3000)]
    held = [names(cur.random_tool(rng, held_out=True)) for _ in range(400)]
    for i in (0, 1):                                                            # tool names, parameter names
        seen, unseen = {t[i] for t in train}, {h[i] for h in held}
        assert not seen & unseen and all(map(cur.name_is_held_out, unseen))    # no held-out name is ever trained
        assert len(seen) > 500 and len(unseen) > 100                            # many names, not a short list

        # every token a held-out name is written with (the schema's JSON, the call) is trained in other names
        def tokens(name):
            return set(tok.tokenize(f'"{name}"')) | set(tok.tokenize(f"<function={name}>"))
        trained = set().union(*map(tokens, seen))
        assert all(tokens(n) <= trained for n in unseen)
    img = [cur.image_sample(rng, held_out=True, ask="sum").meta for _ in range(20)]
    assert all(m["expected"] == sum(m["numbers"]) for m in img)


def test_copy_drill_names_are_too_many_to_remember_trained_only_and_leave_the_held_out_draws_alone(tok):
    words = set(cur.NAME_WORDS + cur.PARAM_WORDS)
    drill = [names(cur.random_tool(random.Random(i), copy_drill=1.0)) for i in range(2000)]
    for name in (n for pair in drill for n in pair):
        assert len(name.split("_")) in (2, 3) and set(name.split("_")) <= words and not cur.name_is_held_out(name)
    assert len({n for pair in drill for n in pair}) > 3000                      # most draws a name never drawn before
    for i in range(50):                                                         # the evaluation's draws are untouched
        assert cur.random_tool(random.Random(i), held_out=True, copy_drill=1.0) == \
            cur.random_tool(random.Random(i), held_out=True)

    def tokens(name):
        return set(tok.tokenize(f'"{name}"')) | set(tok.tokenize(f"<function={name}>")) | \
            set(tok.tokenize(f"<parameter={name}>"))
    plain = [names(cur.random_tool(random.Random(i))) for i in range(3000)]
    trained = set().union(*(tokens(n) for pair in plain for n in pair))
    assert set().union(*(tokens(n) for pair in drill[:300] for n in pair)) <= trained   # no new token to learn


@pytest.mark.model
@pytest.mark.parametrize("thinking", [True, False])
def test_a_tool_call_target_is_the_offered_tool_in_the_xml_form(tok, thinking):
    rng = random.Random(3)
    for _ in range(12):
        s = cur.tool_sample(rng, thinking=thinking, stage="call")
        prompt, target = cur.render(s, tok)
        assert prompt.endswith("<think>\n" if thinking else "<think>\n\n</think>\n\n")
        assert target.endswith("</tool_call><|im_end|>")
        [call] = T.parse_tool_calls(target.removesuffix("<|im_end|>").split("</think>")[-1], form="xml")
        assert call.name == s.meta["name"] and list(call.arguments) == [s.meta["param"]]
        assert T.safe_eval(str(call.arguments[s.meta["param"]])) == s.meta["expected"]
        assert f"<function={s.meta['name']}>" not in prompt.split("<|im_start|>user")[-1]   # not given away


@pytest.mark.model
@pytest.mark.parametrize("thinking", [True, False])
def test_every_turn_labels_the_history_call_and_nothing_else_of_the_prompt(tok, thinking):
    rng, proc = random.Random(6), T35.image_processor()
    s = cur.tool_sample(rng, thinking=thinking, stage="answer", send_reasoning=True)
    last = T35.encode(s, tok, proc)
    every = T35.encode(s, tok, proc, every_turn=True)
    assert every["ids"] == last["ids"]
    extra = [x for x, y in zip(every["labels"], last["labels"]) if x != y]
    history = tok.decode(extra)
    [call] = T.parse_tool_calls(history.removesuffix("<|im_end|>").split("</think>")[-1], form="xml")
    assert call.name == s.meta["name"] and list(call.arguments) == [s.meta["param"]]
    assert history.endswith("</tool_call><|im_end|>") and "<|im_start|>" not in history and "user" not in history
    call_only = cur.tool_sample(rng, thinking=thinking, stage="call")     # no assistant turn in its history
    assert T35.encode(call_only, tok, proc, every_turn=True)["labels"] == T35.encode(call_only, tok, proc)["labels"]


@pytest.mark.model
def test_image_targets_read_then_add(tok):
    rng = random.Random(4)
    s = cur.image_sample(rng, thinking=True, ask="sum")
    prompt, target = cur.render(s, tok)
    assert "<|vision_start|><|image_pad|><|vision_end|>" in prompt and prompt.endswith("<think>\n")
    numbers = s.meta["numbers"]
    assert target.startswith("The numbers are ") and target.endswith(f"= {sum(numbers)}<|im_end|>")
    off = cur.render(cur.image_sample(rng, thinking=False, ask="sum"), tok)[1]
    assert "</think>" not in off and off.startswith("The numbers are ")


@pytest.mark.model
def test_compact_loss_is_the_exported_models_full_vocabulary_loss(tiny_qwen35, tok):
    """The shortcut of training: the loss over the used rows plus one merged class equals the exported model's
    cross-entropy over all 248,320 rows, on rows with an image, a tool call and arithmetic."""
    from transformers import AutoModelForImageTextToText

    import json

    folder, _ = tiny_qwen35
    vocab = json.loads((folder / "training.json").read_text())["vocab"]
    model = T35.load_compact(folder, vocab, seed=0).eval()    # the exported rows gathered back
    lookup = torch.full((T35.VOCAB_SIZE,), len(vocab), dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    log_unused = float(torch.log(torch.tensor(T35.VOCAB_SIZE - len(vocab), dtype=torch.float64)))
    rng, proc = random.Random(5), T35.image_processor()
    rows = [T35.encode(f(rng), tok, proc) for f in (cur.image_sample, cur.tool_sample, cur.arithmetic_sample)]
    with torch.no_grad():
        loss, count = T35.batch_loss(model, rows, lookup, log_unused, int(lookup[T35.IDS["image_token_id"]]))
    full = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for r in rows:
            ids = torch.tensor([r["ids"]])
            kw = {}
            if "pixel_values" in r:
                kw = dict(pixel_values=r["pixel_values"], image_grid_thw=r["image_grid_thw"],
                          mm_token_type_ids=(ids == T35.IDS["image_token_id"]).long())
            logits = full(input_ids=ids, **kw).logits[0, :-1]
            labels = torch.tensor(r["labels"][1:])
            total += torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum").item()
            n += int((labels != -100).sum())
    assert n == count and abs(total / n - loss.item() / count) < 1e-3 * max(1.0, loss.item() / count)


@pytest.mark.model
def test_a_tiny_export_loads_with_the_standard_classes(tiny_qwen35):
    """Two training steps and an export: the folder loads with the Auto classes, the processor reads an image,
    and generate() runs on it."""
    import labkit
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    folder, meta = tiny_qwen35
    assert meta["steps"] == 2 and (folder / "training.json").exists()
    vl = AutoModelForImageTextToText.from_pretrained(folder)
    assert type(vl).__name__ == "Qwen3_5ForConditionalGeneration"
    assert vl.config.text_config.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    assert type(AutoModelForCausalLM.from_pretrained(folder)).__name__ == "Qwen3_5ForCausalLM"
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == "Qwen3_5Tokenizer"
    assert (folder / "tokenizer.json").read_text()[:2] == '{"'                # written compactly
    proc = labkit.load_processor(folder)
    s = cur.image_sample(random.Random(6), thinking=False)
    inputs = proc.apply_chat_template(s.messages[:-1], add_generation_prompt=True, tokenize=True,
                                      return_dict=True, return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 16]]
    assert int((inputs["input_ids"] == vl.config.image_token_id).sum()) == 64
    out = vl.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


@pytest.mark.model
def test_llama_cpp_converts_and_runs_the_architecture():
    """llama.cpp (llama-cpp-python's) converts a Qwen3.5 folder without an MTP layer (to_gguf passes --no-mtp)
    and generates from it through the chat template the GGUF carries.  The shipped nano Qwen3.5, converted into the
    engines cache (build/engines/gguf), where notebook 12 finds it: the 248K-row vocabulary makes a conversion cost
    ~12 s, paid once per CI run."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is the [engines] extra")
    import labkit
    from labkit.serving import llamacpp

    gguf = llamacpp.to_gguf(labkit.nano_path("qwen3.5"), "BF16")
    summary = llamacpp.gguf_summary(gguf)
    assert summary["chat template inside"] and summary["tokenizer inside"], summary
    llm = llama_cpp.Llama(str(gguf), n_ctx=256, verbose=False)
    out = llm.create_chat_completion(messages=[{"role": "user", "content": "What is 2 + 3?"}], max_tokens=3,
                                     temperature=0)
    assert out["usage"]["completion_tokens"] >= 1


# ------------------------------------------------------------------------------- the vision pre-stage
def test_cell_labels_follow_the_merged_token_order():
    """A cell's label row is the merged image token that covers it: the processor's patches for a block of ink in
    cell (row 2, column 5) are the four patches of merged token 2 * 8 + 5."""
    from PIL import Image, ImageDraw

    from labkit.nano.qwen35 import vision as V

    image = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(image).rectangle((5 * 32, 2 * 32, 5 * 32 + 31, 2 * 32 + 31), fill="black")
    pix = T35.image_processor()(images=[image], return_tensors="pt")["pixel_values"]
    inked = sorted({int(i) // 4 for i in (pix < 0.99).any(-1).nonzero().flatten()})
    assert inked == [2 * 8 + 5]
    labels = V.cell_labels([(7, 5 * 32 + 2, 2 * 32 + 2, 5 * 32 + 20, 2 * 32 + 30)])
    assert labels.sum() == 1 and labels[2 * 8 + 5, 7] == 1
    # a digit split 50/50 between two cells counts in both; one with a sliver in a cell does not count there
    both = V.cell_labels([(3, 32 - 10, 0, 32 + 10, 20)])
    assert both[0, 3] == both[1, 3] == 1
    sliver = V.cell_labels([(4, 32 - 2, 0, 32 + 18, 20)])
    assert sliver[0, 4] == 0 and sliver[1, 4] == 1


@pytest.mark.model
def test_the_pre_stage_tower_goes_into_the_joint_model(tiny_qwen35, tmp_path):
    import json

    from transformers import AutoModelForImageTextToText

    from labkit.nano.qwen35 import vision as V

    folder, _ = tiny_qwen35
    vision = json.loads((folder / "training.json").read_text())["vision"]   # the tiny tower's shapes
    meta = V.pretrain(tmp_path / "tower.safetensors", steps=2, batch_size=2, lr=1e-3, seed=0, threads=None,
                      vision=vision)
    assert meta["history"][0]["loss"] > 0 and json.loads((tmp_path / "tower.json").read_text())["steps"] == 2
    model = AutoModelForImageTextToText.from_pretrained(folder)
    before = model.model.visual.merger.linear_fc2.weight.clone()
    V.load_tower(model, tmp_path / "tower.safetensors")
    assert not torch.equal(before, model.model.visual.merger.linear_fc2.weight)


def test_the_tool_evaluation_answers_like_a_client():
    """The final-answer figure sends back what the course's client (labkit.lessons.tools.call_tool) would: the
    result for the offered calculator, an error for a name that was not offered, for a parameter name its schema
    does not declare, or for arguments the calculator refuses (the model's answer after an error counts as wrong
    unless it is right anyway)."""
    from labkit.nano.qwen35.evaluation import client_tools

    tools = [cur.random_tool(random.Random(3)), cur._other_tool(random.Random(0))]
    name = tools[0]["function"]["name"]
    param = next(iter(tools[0]["function"]["parameters"]["properties"]))
    other = tools[1]["function"]["name"]
    other_param = next(iter(tools[1]["function"]["parameters"]["properties"]))
    wrong_param = "exp" if param != "exp" else "query"

    def answer(call_name, arguments):
        return T.call_tool(T.ToolCall(call_name, arguments), client_tools(tools, name))

    assert answer(name, {param: "12 * 34"}) == "408"
    assert answer("math_sum", {param: "12 * 34"}).startswith("Error: unknown tool")
    assert f"unknown '{wrong_param}'" in answer(name, {wrong_param: "12 * 34"})
    assert f"missing '{param}'" in answer(name, {})
    assert answer(name, {param: "12 + 08"}).startswith("Error: ")
    assert answer(other, {other_param: "12 * 34"}) == f"Error: {other} cannot compute '12 * 34'."
