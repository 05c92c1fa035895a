from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGLM_N_CTX", "4096")
    monkeypatch.setenv("AUTOGLM_MODEL_PATH", "/models/x.gguf")
    settings = get_settings()
    assert settings.n_ctx == 4096
    assert settings.model_path == Path("/models/x.gguf")
    assert get_settings() is settings


def test_defaults() -> None:
    settings = Settings()
    assert (settings.model_path, settings.n_gpu_layers, settings.seed) == (None, None, None)
    assert settings.template_max_bytes == 256 * 1024


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGLM_N_CTX", "big")
    monkeypatch.setenv("AUTOGLM_TEMPERATURE", "9")
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert caught.value.problems[0].startswith("AUTOGLM_N_CTX: Input should be a valid integer")
    assert caught.value.problems[1].startswith("AUTOGLM_TEMPERATURE: ")
