"""The `autoglm` command as a user runs it: a subprocess, real model, real files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.autoglm.run import autoglm
from tests.readers import markdown_headings, open_docx, pdf_fonts, pdf_text, squash


def _provenance(markdown: str) -> dict[str, Any]:
    comment = markdown.split("<!-- open-autoglm provenance\n", 1)[1].rsplit("-->", 1)[0]
    return json.loads(comment)  # type: ignore[no-any-return]


def _section(markdown: str, heading: str) -> str:
    body = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.sub(r"\\(.)", r"\1", body).strip()


def test_render_api_reference_to_all_formats(tmp_path: Path) -> None:
    result = autoglm(
        "render",
        "templates/api_reference.yaml",
        "--input",
        "templates/examples/api_reference.inputs.yaml",
        "--format",
        "pdf,word,markdown",
        "--out",
        str(tmp_path),
        "--seed",
        "11",
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert [p.name for p in paths] == [
        "API接口文档-1.2.pdf",
        "API接口文档-1.2.docx",
        "API接口文档-1.2.md",
    ]
    assert "overview" in result.stderr  # live progress names the field

    markdown = paths[2].read_text(encoding="utf-8")
    overview = _section(markdown, "概述")
    assert overview
    assert markdown_headings(markdown)[:3] == [
        (1, "用户服务 API接口文档"),
        (2, "概述"),
        (2, "接口列表"),
    ]

    pdf = paths[0].read_bytes()
    text = squash(pdf_text(pdf, tmp_path))
    for expected in (
        "用户服务 API接口文档",
        "作者：平台团队",
        "DELETE/api/v1/users/{id}",
        "删除用户（需要管理员权限）。",
        "目录",
    ):
        assert squash(expected) in text
    assert squash(overview)[:40] in text
    assert any("CJK" in f["name"] and f["emb"] == "yes" for f in pdf_fonts(pdf, tmp_path))

    word = open_docx(paths[1].read_bytes())
    assert word.paragraphs[0].style.name == "Heading 1"
    assert word.tables and word.tables[0].rows[1].cells[0].text == "GET"


def test_same_seed_gives_the_same_document(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        result = autoglm(
            "render",
            "templates/release_notes.yaml",
            "-i",
            "templates/examples/release_notes.inputs.yaml",
            "-f",
            "md",
            "-o",
            str(tmp_path / run),
            "--seed",
            "5",
        )
        assert result.returncode == 0, result.stderr
        outputs.append(Path(result.stdout.strip()).read_text(encoding="utf-8"))
    bodies = [text.split("<!-- open-autoglm provenance", 1)[0] for text in outputs]
    assert bodies[0] == bodies[1]
    assert "## Breaking changes" in bodies[0]
    # Backticks in the inputs' change titles are code (`codespans`), not literal `\``, and
    # the body's {% for %}/{% if %} lines leave no runs of blank lines behind.
    assert "- New `autoglm validate` command for CI\n" in bodies[0]
    assert "- `export.format: word` now writes .docx files\n" in bodies[0]
    assert "\n\n\n" not in bodies[0]
    fields = [_provenance(text)["fields"] for text in outputs]
    assert [(f["seed"], f["text"]) for f in fields[0]] == [
        (f["seed"], f["text"]) for f in fields[1]
    ]


def test_set_values_are_typed(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "name: t\nvariables:\n  - {name: n, type: integer}\n  - {name: items, type: list}\n"
        "body: '# T\n\n{{ n + 1 }} {{ items | join(\",\") }}'\n"
    )
    result = autoglm(
        "render",
        str(template),
        "--set",
        "n=41",
        "--set",
        'items=["a","b"]',
        "-f",
        "md",
        "-o",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "42 a,b" in Path(result.stdout.strip()).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "missing.yaml"], "missing.yaml: cannot read template"),
        (["render", "templates/weekly_report.yaml"], "missing required input 'team'"),
        (
            ["render", "templates/weekly_report.yaml", "--set", "team"],
            "--set 'team': expected key=value",
        ),
        (
            "render templates/weekly_report.yaml -s team=a -s week=1 -s incidents=x".split(),
            "input 'incidents': expected an integer",
        ),
        (
            "render templates/release_notes.yaml -f pdf,odt "
            "-i templates/examples/release_notes.inputs.yaml".split(),
            "unknown format 'odt'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = autoglm(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_template_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbody: '{{ \"\".__class__.__mro__ }}'\n")
    result = autoglm("render", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "'__class__' is not allowed in templates" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_allocation_bomb_exits_2_with_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: x\nbody: \"{{ ('x' * 1000) | center(10 ** 9) }}\"\n")
    result = autoglm("render", str(bomb), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bomb}: body (line 2): refused unsafe access: the center filter would build "
        "1,000,000,000 characters or items (limit 2,000,000)"
    ]
    assert not (tmp_path / "out").exists()


def test_internal_failure_exits_1(tmp_path: Path) -> None:
    not_a_model = tmp_path / "broken.gguf"
    not_a_model.write_bytes(b"not a gguf file")
    env = {"AUTOGLM_MODEL_PATH": str(not_a_model), "PATH": "/usr/bin:/bin"}
    args = "render templates/weekly_report.yaml -s team=a -s week=1 -o".split()
    result = autoglm(*args, str(tmp_path), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("internal error: ")


def test_missing_model_file_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"AUTOGLM_MODEL_PATH": str(tmp_path / "none.gguf"), "PATH": "/usr/bin:/bin"}
    args = ["render", "templates/weekly_report.yaml", "-s", "team=a", "-s", "week=1", "-o"]
    result = autoglm(*args, str(tmp_path), env=env)
    assert result.returncode == 2
    assert f"error: model file {tmp_path / 'none.gguf'} does not exist" in result.stderr


def test_validate(tmp_path: Path) -> None:
    ok = autoglm("validate", "templates/api_reference.yaml", "templates/weekly_report.yaml")
    assert ok.returncode == 0
    assert "ok: templates/api_reference.yaml: API接口文档 1.2" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: true\nexport: {format: odt}\n")
    result = autoglm("validate", "templates/api_reference.yaml", str(bad))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 2


def test_schema_prints_json_schema() -> None:
    result = autoglm("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Open-AutoGLM document template"
    assert "generate" in schema["properties"]
