from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from documents import loader
from documents.errors import TemplateError
from documents.loader import load_template_file, load_template_text
from documents.spec import VariableType, template_json_schema
from documents.yaml_source import parse_yaml

SEED_META = """\
name: API接口文档
version: 1.2
category: technical
variables:
  - title
  - author
  - endpoints
"""
SEED_EXPORT = """\
name: seed-export
export:
  format: pdf
  options:
    margin: 1.5cm
    include_toc: true
    font: "Noto Sans CJK SC"
"""
SEED_SCHEDULE = """\
name: seed-schedule
schedule:
  type: cron
  expression: "0 0 * * * *"
  timeout: 3600
  retry:
    max_attempts: 3
    backoff: exponential
"""
FULL = """\
name: full
variables:
  - name: team
    type: string
    required: true
    description: Team that owns the report
  - name: highlights
    type: list
    default: []
generate:
  summary:
    prompt: "Summarise this week for {{ team }}: {{ highlights | join('; ') }}"
    max_tokens: 200
    temperature: 0.2
  risks:
    prompt: "List the main risks for {{ team }}."
    schema: {type: array, maxItems: 5, items: {type: string, maxLength: 120}}
body: |
  # {{ title }}
  {{ generated.summary }}
  {% for r in generated.risks %}- {{ r }}
  {% endfor %}
export:
  formats: [pdf, docx, md]
"""


def test_seed_metadata_loads_verbatim_with_numeric_version_as_text() -> None:
    spec = load_template_text(SEED_META).spec
    assert spec.name == "API接口文档"
    assert spec.version == "1.2"
    assert spec.category == "technical"
    assert [(v.name, v.type, v.is_required) for v in spec.variables] == [
        ("title", VariableType.ANY, True),
        ("author", VariableType.ANY, True),
        ("endpoints", VariableType.ANY, True),
    ]


def test_numeric_version_keeps_its_written_form() -> None:
    assert load_template_text("name: x\nversion: 1.10\n").spec.version == "1.10"
    assert load_template_text("name: x\nversion: 3\n").spec.version == "3"


def test_seed_export_form_and_aliases() -> None:
    spec = load_template_text(SEED_EXPORT).spec
    assert spec.formats == ["pdf"]
    assert spec.export.options.margin == "1.5cm"
    assert spec.export.options.include_toc is True
    assert spec.export.options.font == "Noto Sans CJK SC"
    word = load_template_text("name: x\nexport: {formats: [word, markdown, docx]}\n").spec
    assert word.formats == ["docx", "md"]


def test_seed_schedule_loads() -> None:
    schedule = load_template_text(SEED_SCHEDULE).spec.schedule
    assert schedule is not None
    assert schedule.expression == "0 0 * * * *"
    assert (schedule.timeout, schedule.retry.max_attempts, schedule.retry.backoff) == (
        3600,
        3,
        "exponential",
    )


def test_full_form_loads() -> None:
    spec = load_template_text(FULL).spec
    assert list(spec.generate) == ["summary", "risks"]
    assert spec.generate["risks"].json_schema == {
        "type": "array",
        "maxItems": 5,
        "items": {"type": "string", "maxLength": 120},
    }
    assert spec.variables[1].default == [] and not spec.variables[1].is_required
    assert spec.formats == ["pdf", "docx", "md"]


@pytest.mark.parametrize("path", sorted(Path("templates").glob("*.yaml")), ids=str)
def test_shipped_templates_are_valid(path: Path) -> None:
    assert load_template_file(path).spec.name


def _error(text: str) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load_template_text(textwrap.dedent(text), "bad.yaml")
    return caught.value.problems


def test_errors_name_field_path_and_line() -> None:
    problems = _error(
        """\
        name: x
        generate:
          summary:
            prompt: hi
            max_tokens: -5
        """
    )
    assert problems == [
        "bad.yaml: generate.summary.max_tokens (line 5): Input should be greater than or equal to 1"
    ]


def test_every_problem_is_reported() -> None:
    problems = _error(
        """\
        name: x
        colour: blue
        export: {format: odt, options: {margin: wide}}
        variables:
          - name: 9lives
        """
    )
    text = "\n".join(problems)
    assert "colour (line 2): unknown field" in text
    assert "unknown export format 'odt'" in text
    assert "margin 'wide' is not a length" in text
    assert "variables.0.name (line 5)" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nversion: true\n", "version must be a string or a number"),
        ("name: x\nversion: [1]\n", "version (line 2)"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("name: x\nschedule: {expression: '* *'}\n", "must have 5 fields"),
        (
            "name: x\ngenerate: {f: {prompt: p, schema: {type: nonsense}}}\n",
            "not a valid JSON Schema",
        ),
        ("name: x\nbody: '{% for x in %}'\n", "body (line 2): syntax error"),
        ("name: x\nvariables: [a, a]\n", "declared twice"),
        ("name: x\nvariables: [generated]\n", "'generated' is reserved"),
        ("name: x\nassets: ['../etc/passwd']\n", "relative path inside the template folder"),
        ("name: [unclosed\n", "invalid YAML"),
        ("name: !!python/object:os.system x\n", "invalid YAML"),
        ("name: x\nbody: a\nbody: b\n", "(line 3): duplicate key 'body'"),
        (
            "name: x\ngenerate: {f: {prompt: p, schema: {type: string, maxLength: 3000}}}\n",
            "schema: maxLength 3000 is above the limit of 1000",
        ),
        (
            "name: x\ngenerate: {f: {prompt: p, schema: {items: {not: {type: string}}}}}\n",
            "schema.items: keyword 'not' is not supported for generated fields",
        ),
        (
            "name: x\nvariables: [{name: n, type: integer, default: ten}]\n",
            "default 'ten' is not of type integer",
        ),
    ],
)
def test_invalid_templates_are_refused(text: str, expected: str) -> None:
    assert expected in "\n".join(_error(text))


def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ["name: bomb", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, prev in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{i}: &{i} [{','.join(['*' + prev] * 9)}]")
    problems = _error("\n".join(lines) + "\n")
    assert "expands to more than" in problems[0]


def test_alias_of_long_strings_is_refused() -> None:
    text = f"name: x\ndescription: &a '{'x' * 150_000}'\nlots: [{', '.join(['*a'] * 20)}]\n"
    assert "2000000 characters" in _error(text)[0]


def test_prompt_block_lines_point_into_the_block() -> None:
    problems = _error("name: x\ngenerate:\n  f:\n    prompt: |\n      ok\n      {% if %}\n")
    assert problems == [
        "bad.yaml: generate.f.prompt (line 6): syntax error: Expected an expression, "
        "got 'end of statement block'"
    ]


def test_recursive_alias_is_refused() -> None:
    assert "refers to itself" in _error("name: x\nloop: &l [*l]\n")[0]


def test_size_limit() -> None:
    text = "name: x\nbody: |\n" + "  padding line\n" * 30_000
    with pytest.raises(TemplateError, match="over the 262144-byte limit"):
        load_template_text(text)


def test_yaml_lines_follow_paths() -> None:
    source = parse_yaml("a:\n  b:\n    - x\n    - y\n")
    assert source.line_of(["a", "b", 1]) == 4
    assert source.line_of(["a", "missing"]) == 1


def test_assets_are_read_from_the_template_folder(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "t.yaml").write_text("name: x\nassets: [logo.svg]\n")
    assert load_template_file(tmp_path / "t.yaml").assets["logo.svg"].startswith(b"<svg")
    (tmp_path / "u.yaml").write_text("name: x\nassets: [missing.png]\n")
    with pytest.raises(TemplateError, match="not a file in the template folder"):
        load_template_file(tmp_path / "u.yaml")


def test_json_schema_is_valid_and_accepts_plain_variable_names() -> None:
    schema = template_json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors({"name": "x", "version": "1", "variables": ["a"]}))
    assert list(validator.iter_errors({"name": "x", "colour": "blue"}))


def test_asset_names_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(b"png")
    (tmp_path / "t.yaml").write_text("name: x\nassets: [logo.png, ./logo.png, '././logo.png']\n")
    loaded = load_template_file(tmp_path / "t.yaml")
    assert loaded.spec.assets == ["logo.png"]
    assert list(loaded.assets) == ["logo.png"]


def test_assets_have_a_total_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_ASSETS_TOTAL_BYTES", 5)
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(b"abc")
    (tmp_path / "t.yaml").write_text("name: x\nassets: [a.bin, b.bin]\n")
    with pytest.raises(TemplateError, match=r"'b\.bin' goes over the size limits"):
        load_template_file(tmp_path / "t.yaml")
