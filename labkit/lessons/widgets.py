"""A small chat box for notebooks: type, send, watch the reply stream in.

:func:`chat_widget` returns a :class:`ChatBox` (an ``ipywidgets.VBox``): a text
field, a *Send* and a *Clear* button, a *thinking* toggle and an output area.
The reply streams token by token: ``generate()`` runs in a thread and a
``transformers.TextIteratorStreamer`` hands the text over as it is produced (the
loop notebook 02 writes out in its section 4; notebook 03 ends with this box).
The streamer only shows the text live: the :class:`~labkit.Reply` comes from
:func:`labkit.generation.generate_replies`, the path every lesson generates through.
The conversation keeps the answers and drops the reasoning, as Qwen3's chat
template does for earlier turns.

Used in notebook 03.
"""
from __future__ import annotations

from threading import Thread
from typing import Any

import ipywidgets as widgets

from labkit.generation import Reply, batch_inputs, generate_replies


class ChatBox(widgets.VBox):
    """The chat widget.  ``send(text)`` does what the Send button does (and returns the :class:`Reply`)."""

    def __init__(self, model, tokenizer, *, thinking: bool = True, max_new_tokens: int = 256,
                 system: str | None = None, **generate_kwargs: Any):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens = max_new_tokens
        self.generate_kwargs = generate_kwargs
        self.history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        self._busy = False
        self.text = widgets.Text(placeholder="Ask something, e.g. What is 4827 + 3979?  (Enter sends)",
                                 continuous_update=False, layout=widgets.Layout(width="60%"))
        self.thinking = widgets.Checkbox(value=thinking, description="thinking", indent=False,
                                         layout=widgets.Layout(width="90px"))
        self.button = widgets.Button(description="Send", button_style="primary")
        self.clear = widgets.Button(description="Clear")
        self.output = widgets.Output(layout=widgets.Layout(border="1px solid #ccc", padding="4px",
                                                           max_height="320px", overflow="auto"))
        self.button.on_click(lambda _: self.send(self.text.value))
        self.text.observe(lambda change: self.send(change["new"]), names="value")  # Enter (or leaving the field)
        self.clear.on_click(lambda _: self.reset())
        super().__init__([widgets.HBox([self.text, self.thinking, self.button, self.clear]), self.output])

    def reset(self) -> None:
        """Forget the conversation (keeps a system prompt) and clear the output."""
        self.history = [m for m in self.history if m["role"] == "system"]
        self.output.clear_output()

    def send(self, text: str) -> Reply | None:
        """Add a user turn, stream the reply into the output area, keep the answer in the history."""
        text = (text or "").strip()
        if not text or self._busy:
            return None
        self._busy = True
        try:
            return self._send(text)
        finally:
            self._busy = False

    def _send(self, text: str) -> Reply:
        from transformers import TextIteratorStreamer

        self.text.value = ""
        conversation = self.history + [{"role": "user", "content": text}]
        inputs = batch_inputs(self.model, self.tokenizer, [conversation], thinking=self.thinking.value,
                              max_new_tokens=self.max_new_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["reply"] = generate_replies(self.model, self.tokenizer, inputs, streamer=streamer,
                                                   max_new_tokens=self.max_new_tokens, **self.generate_kwargs)[0]
            except Exception as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                result["error"] = exc
                streamer.end()  # unblock the loop below

        thread = Thread(target=work, daemon=True)
        thread.start()
        with self.output:
            print(f"you: {text}\nmodel: ", end="")
            for chunk in streamer:
                print(chunk, end="", flush=True)
            print()
        thread.join()
        if "error" in result:
            raise result["error"]
        reply = result["reply"]
        self.history = conversation + [{"role": "assistant", "content": reply.answer}]
        return reply


def chat_widget(model, tokenizer, *, thinking: bool = True, max_new_tokens: int = 256, system: str | None = None,
                **generate_kwargs: Any) -> ChatBox:
    """A chat box (text field, thinking toggle, Send/Clear, streamed output) for ``model``; display it."""
    return ChatBox(model, tokenizer, thinking=thinking, max_new_tokens=max_new_tokens, system=system,
                   **generate_kwargs)
