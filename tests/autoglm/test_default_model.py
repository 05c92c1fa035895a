"""The shipped templates with the default model (Qwen2.5-Coder-0.5B): what the demo shows a
new user has to read well, so the tests read it back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from documents.loader import load_template_file
from tests.autoglm.run import autoglm
from tests.readers import pdf_text, squash

pytestmark = pytest.mark.model

DEFAULT = {"AUTOGLM_MODEL": "qwen2.5-coder-0.5b-instruct"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _render(name: str, tmp_path: Path) -> tuple[dict[str, dict[str, Any]], Path]:
    result = autoglm(
        "render",
        f"templates/{name}.yaml",
        "--input",
        f"templates/examples/{name}.inputs.yaml",
        "--format",
        "md,pdf",
        "--out",
        str(tmp_path),
        "--seed",
        "7",
        env=DEFAULT,
    )
    assert result.returncode == 0, result.stderr
    markdown, pdf = (Path(line) for line in result.stdout.splitlines())
    text = markdown.read_text(encoding="utf-8")
    comment = text.split("<!-- open-autoglm provenance\n", 1)[1].rsplit("-->", 1)[0]
    fields = {f["name"]: f for f in json.loads(comment)["fields"]}
    for record in fields.values():
        assert record["model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        assert record["finish_reason"] == "stop", record  # none cut off mid-word
        assert record["text"].strip()
    return fields, pdf


def _prose(text: str) -> None:
    """One or more paragraphs: no list items or headings."""
    assert not re.search(r"^\s*([-*#]|\d+\.)\s", text, re.MULTILINE), text


def test_the_api_reference_overview_is_chinese_prose(tmp_path: Path) -> None:
    fields, pdf = _render("api_reference", tmp_path)
    overview = fields["overview"]["text"]
    _prose(overview)
    letters = [c for c in overview if c.isalpha()]
    assert len(CJK.findall(overview)) > 0.7 * len(letters), overview
    assert squash(overview)[:30] in squash(pdf_text(pdf.read_bytes(), tmp_path))


def test_the_weekly_report_has_a_prose_summary_and_schema_valid_risks(tmp_path: Path) -> None:
    fields, _ = _render("weekly_report", tmp_path)
    _prose(fields["summary"]["text"])
    assert "Platform" in fields["summary"]["text"]
    schema = load_template_file(Path("templates/weekly_report.yaml")).spec.generate["risks"]
    risks = json.loads(fields["risks"]["text"])
    assert not list(Draft202012Validator(schema.json_schema).iter_errors(risks))
    assert len(risks) == 3 and all(r.strip() and not r.startswith("]") for r in risks)


def test_the_release_notes_introduction_is_one_english_paragraph(tmp_path: Path) -> None:
    fields, _ = _render("release_notes", tmp_path)
    intro = fields["intro"]["text"]
    _prose(intro)
    assert "v2.4.0" in intro and intro.rstrip().endswith(".")
    assert not CJK.search(intro)
