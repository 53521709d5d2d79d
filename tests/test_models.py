"""labkit.models: the model id per profile."""
from __future__ import annotations

import pytest

import labkit
from labkit import models


def test_offline_profile_resolves_to_the_nano_model():
    assert models.resolve_model_id() == str(models.nano_path())
    assert models.resolve_model_id(models.NANO_ID) == str(models.nano_path())
    with pytest.raises(labkit.LabError):
        models.resolve_model_id("Qwen/Qwen3-8B")
