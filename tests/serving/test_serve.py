"""labkit.serving.serve: the command line and the model it serves (no server started here; tests/serving/test_engines.py does)."""
from __future__ import annotations

import pytest

from labkit.serving import serve
from labkit.errors import LabError
from labkit.models import nano_path


def test_model_folder_of_nano_and_of_a_folder(tmp_path):
    assert serve.model_folder("nano") == nano_path()
    assert serve.model_folder(str(nano_path())) == nano_path()
    assert serve.model_folder(None) == nano_path()  # the offline profile's model


def test_unknown_engine_is_refused():
    with pytest.raises(LabError, match="unknown engine 'tgi'"):
        serve.serve("tgi", "nano")
    with pytest.raises(SystemExit):
        serve.main(["--engine", "tgi"])


def test_a_missing_engine_is_one_line_with_the_fix(monkeypatch, capsys):
    from labkit.serving import servers

    monkeypatch.setattr(servers, "vllm_python", lambda: None)
    assert serve.main(["--engine", "vllm", "--model", "nano"]) == 1
    err = capsys.readouterr().err
    assert "vLLM is not installed" in err and "bash run.sh engines" in err and "Traceback" not in err
