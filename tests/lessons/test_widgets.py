"""labkit.lessons.widgets: the chat box builds, streams a reply and keeps answers (not reasoning) in its history."""
from __future__ import annotations

import ipywidgets as widgets
import pytest

import labkit
from labkit.errors import LabError
from labkit.lessons.widgets import ChatBox, chat_widget


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


@pytest.mark.model
def test_widget_builds(mt):
    box = chat_widget(*mt)
    assert isinstance(box, ChatBox) and isinstance(box, widgets.VBox)
    row, output = box.children
    kinds = [type(w).__name__ for w in row.children]
    assert kinds == ["Text", "Checkbox", "Button", "Button"] and isinstance(output, widgets.Output)
    assert box.thinking.value is True and box.history == []


def test_enter_sends_streams_and_keeps_the_answer(mt):
    box = chat_widget(*mt, system="You are a pirate.", max_new_tokens=160, do_sample=False)
    box.text.value = "What is 2 + 3?"  # what the front end does on Enter
    assert box.text.value == ""  # sent and cleared
    assert [m["role"] for m in box.history] == ["system", "user", "assistant"]
    answer = box.history[-1]["content"]
    assert answer.startswith("Arr!") and "<think>" not in answer and "carry" not in answer
    conversation = box.history + [{"role": "user", "content": "What is 4 + 4?"}]
    reply = box.send("What is 4 + 4?")
    assert reply.finished_thinking and reply.answer == box.history[-1]["content"]
    assert reply == labkit.chat(*mt, conversation, max_new_tokens=160, do_sample=False)   # the same path
    assert len(box.history) == 5 and box.send("   ") is None
    box.reset()
    assert [m["role"] for m in box.history] == ["system"]


def test_too_long_prompt_leaves_the_history_alone(mt):
    model, tok = mt
    box = chat_widget(model, tok)
    with pytest.raises(LabError, match="context"):
        box.send("1 " * model.config.max_position_embeddings)
    assert box.history == []
