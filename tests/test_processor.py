"""labkit.load_processor: the images-only processor gives what the real processor class gives for images.

The real processors (``Qwen2_5_VLProcessor``, ``Qwen3VLProcessor``) cannot be built here: their video processor
needs torchvision, which does not import beside the CPU torch.  Two references stand in for them: the real
class itself, unmodified, with its video-processor type check switched off for the test (its image path never
touches the video processor), and the image path's steps done by hand (the image processor, one
``<|image_pad|>`` per merged patch, the tokenizer).
"""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image, ImageDraw

import labkit
from labkit import tokenizer as lp
from labkit.errors import LabError
from labkit.hub import checkpoints, standins

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_qwen35):
    """A Qwen2.5-VL stand-in (its processor files are the real defaults) and a Qwen3.5 folder (its config, the
    248K tokenizer, Qwen3.5's image processor and chat template, written by labkit.tokenizer.write_processor_files)."""
    vl = tmp_path_factory.mktemp("qwen2_5_vl")
    standins.write_files(checkpoints.get("Qwen/Qwen2.5-VL-3B-Instruct"), vl)
    return {"qwen2.5-vl": vl, "qwen3.5": tiny_qwen35[0]}   # the tiny nano-Qwen3.5 export (tests/conftest.py)


@pytest.fixture(scope="module")
def ours(folders):
    """labkit.load_processor's images-only processor of each folder, loaded once (a 248K tokenizer loads in ~2 s)."""
    return {kind: labkit.load_processor(folder, images_only=True) for kind, folder in folders.items()}


def images():
    a = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(a).text((40, 90), "47  +  38", fill="black", font_size=40)
    b = Image.new("RGB", (300, 130), (200, 220, 255))
    ImageDraw.Draw(b).text((10, 40), "4827 + 3979 = ?", fill="black")
    return a, b


def conversations():
    a, b = images()
    return [[{"role": "user", "content": [{"type": "image", "image": a},
                                          {"type": "text", "text": "What is the sum of the numbers in the image?"}]}],
            [{"role": "system", "content": "You read images."},
             {"role": "user", "content": [{"type": "text", "text": "Read this:"}, {"type": "image", "image": b}]}]]


def real_class_processor(folder, parts, monkeypatch):
    """The unmodified class AutoProcessor builds, with the same parts and a placeholder for the video processor."""
    from transformers.processing_utils import ProcessorMixin

    cls = lp._processor_class(folder)
    assert cls.__module__.startswith("transformers.models.")
    check = ProcessorMixin.check_argument_for_proper_class
    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class",
                        lambda self, name, arg: None if name == "video_processor" else check(self, name, arg))
    template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    return cls(image_processor=parts.image_processor, tokenizer=parts.tokenizer, video_processor=object(),
               chat_template=template)


@pytest.mark.parametrize("kind", ["qwen2.5-vl", "qwen3.5"])
def test_images_only_processor_equals_the_real_class(folders, ours, kind, monkeypatch):
    ours = ours[kind]
    real = real_class_processor(folders[kind], ours, monkeypatch)
    assert type(ours).__mro__[1] is type(real) and not hasattr(ours, "video_processor")
    assert type(ours.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    texts = [ours.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations()]
    assert texts == [real.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations()]
    got = ours(text=texts, images=list(images()), padding=True, return_tensors="pt")
    want = real(text=texts, images=list(images()), padding=True, return_tensors="pt")
    assert set(got) == set(want) >= {"input_ids", "attention_mask", "pixel_values", "image_grid_thw"}
    for key in want:
        assert torch.equal(got[key], want[key]), key
    # the one-call form: apply_chat_template collects the image from the messages and runs the processor
    one = ours.apply_chat_template(conversations()[0], add_generation_prompt=True, tokenize=True,
                                   return_dict=True, return_tensors="pt")
    alone = real(text=texts[:1], images=[images()[0]], return_tensors="pt")
    for key in ("input_ids", "pixel_values", "image_grid_thw"):
        assert torch.equal(one[key], alone[key]), key


@pytest.mark.parametrize("kind", ["qwen2.5-vl", "qwen3.5"])
def test_images_only_processor_equals_the_steps_by_hand(folders, ours, kind):
    """The image path by hand: pixels and grid from the image processor, one <|image_pad|> per 2x2 merged patch."""
    from transformers import AutoImageProcessor

    folder, proc = folders[kind], ours[kind]
    image = images()[0]
    text = proc.apply_chat_template(conversations()[0], tokenize=False, add_generation_prompt=True)
    got = proc(text=[text], images=[image], return_tensors="pt")

    pixels = AutoImageProcessor.from_pretrained(folder, backend="pil")(images=[image], return_tensors="pt")
    merge = json.loads((folder / "preprocessor_config.json").read_text())["merge_size"]
    n_tokens = int(pixels["image_grid_thw"].prod()) // merge ** 2
    ids = proc.tokenizer(text.replace("<|image_pad|>", "<|image_pad|>" * n_tokens),
                                                return_tensors="pt")["input_ids"]
    assert torch.equal(got["input_ids"], ids)
    assert torch.equal(got["pixel_values"], pixels["pixel_values"])
    assert torch.equal(got["image_grid_thw"], pixels["image_grid_thw"])
    patch = json.loads((folder / "preprocessor_config.json").read_text())["patch_size"]
    assert got["image_grid_thw"].tolist() == [[1, 256 // patch, 256 // patch]] or kind == "qwen2.5-vl"


def test_videos_are_refused_with_what_to_do(ours):
    proc = ours["qwen3.5"]
    frames = [images()[0]] * 2
    with pytest.raises(LabError, match=r"(?s)images only.*torchvision.*How to fix: use images"):
        proc(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[frames])


def test_auto_processor_wherever_torchvision_imports(folders, monkeypatch):
    """The default follows torchvision: AutoProcessor where it imports, the images-only processor where not."""
    import transformers

    calls = []
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", lambda path, **kw: calls.append(path) or "auto")
    monkeypatch.setattr(lp, "torchvision_imports", lambda: True)
    assert labkit.load_processor(folders["qwen3.5"]) == "auto" and calls == [folders["qwen3.5"]]
    monkeypatch.setattr(lp, "torchvision_imports", lambda: False)
    monkeypatch.setattr(lp, "_images_only_class", lambda cls: type("P", (), {
        "from_pretrained": staticmethod(lambda path, **kw: (cls.__name__, kw))}))
    assert labkit.load_processor(folders["qwen3.5"]) == ("Qwen3VLProcessor", {"backend": "pil"})


def test_a_text_model_is_a_clear_error():
    with pytest.raises(LabError, match=r"(?s)'qwen3' model, which has no image processor.*How to fix"):
        labkit.load_processor(labkit.nano_path(), images_only=True)
