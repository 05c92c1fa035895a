from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings
from documents.loader import LoadedTemplate, load_template_text
from generation.llama import LlamaEngine

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"


@pytest.fixture(scope="session")
def engine() -> LlamaEngine:
    """The real llama.cpp engine with the bundled model, loaded once for the whole run."""
    return LlamaEngine.from_settings(Settings(n_ctx=2048))


@pytest.fixture
def template() -> Callable[[str], LoadedTemplate]:
    """Load a template from an indented YAML snippet."""
    return lambda text: load_template_text(textwrap.dedent(text), "t.yaml")
