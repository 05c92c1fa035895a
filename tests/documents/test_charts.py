"""Charts: the spec's load-time checks, data checks at render, alt text, drawing (determinism,
CJK glyphs, no leaked figures) and which charts a document draws."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import textwrap
import warnings
from datetime import date
from typing import Any

import psutil
import pytest
from matplotlib import pyplot  # only to show no figure is left in its registry
from matplotlib.figure import Figure

from core.errors import UserError
from documents.chart_draw import draw, font_families
from documents.charts import ChartData, ChartSpec, chart_data
from documents.errors import RenderError, TemplateError
from documents.loader import LoadedTemplate, load_template_text
from documents.render import render_document
from exporters.markdown_tree import MD

HEAD = """\
name: t
variables:
  - {name: rows, type: list, default: []}
  - {name: shares, type: object, default: {}}
  - {name: title_text, type: string, default: x}
generate:
  summary: {prompt: p}
  stats: {prompt: p, schema: {type: array}}
  totals: {prompt: p, schema: {type: object}}
charts:
"""
ROWS = [{"q": "第一季度", "revenue": 12, "cost": 5}, {"q": "第二季度", "revenue": 15.5, "cost": 7}]


def _load(charts: str, body: str | None = "# R\n{{ charts.c }}\n") -> LoadedTemplate:
    text = HEAD + textwrap.indent(textwrap.dedent(charts).rstrip("\n") + "\n", "  ")
    if body is not None:
        text += "body: |\n" + textwrap.indent(body, "  ")
    return load_template_text(text, "t.yaml")


def _problems(charts: str) -> str:
    with pytest.raises(TemplateError) as caught:
        _load(charts)
    return "\n".join(caught.value.problems)


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        ("c: {type: area, data: rows}", "charts.c.type (line 11): Input should be 'bar'"),
        ("c: {type: bar, data: rows, x: q}", "give both x and y"),
        ("c: {type: pie, data: rows, x: q, y: [a, b]}", "exactly one y key"),
        ("c: {type: bar, data: rows, x: q, y: [a, b, c, d, e, f, g]}", "1 to 6 keys"),
        ("c: {type: bar, data: rows, x: q, y: [a, a]}", "y names a key twice"),
        ("c: {type: bar, data: rows, x: q, y: a, width_cm: 30}", "charts.c.width_cm"),
        ("c: {type: bar, data: rows, x: q, y: a, colour: red}", "charts.c.colour"),
        ("c: {type: bar, data: 'a.b'}", "must be an input's name or generated.<field>"),
        ("c: {type: bar, data: shares, title: ''}", "charts.c.title"),
        ("9c: {type: bar, data: shares}", "chart name '9c' is not a valid name"),
        ("items: {type: bar, data: shares}", "chart name 'items' is reserved"),
        (
            "c: {type: bar, data: nope}",
            "t.yaml: charts.c.data (line 11): 'nope' is not a variable or generated.<field> "
            "(variables: rows, shares, title_text)",
        ),
        ("c: {type: bar, data: generated.nope}", "'generated.nope' is not a generated field"),
        ("c: {type: bar, data: generated.summary}", "'summary' has no schema"),
        ("c: {type: bar, data: title_text}", "'title_text' is of type string"),
        ("c: {type: bar, data: rows}", "'rows' is of type list; this chart needs a label"),
        ("c: {type: bar, data: shares, x: q, y: v}", "'shares' is of type object"),
        ("c: {type: bar, data: generated.totals, x: q, y: v}", "'totals' is of type object"),
        ("c: {type: bar, data: generated.stats}", "'stats' is of type array"),
    ],
)
def test_spec_errors_name_the_chart_and_line(chart: str, expected: str) -> None:
    assert expected in _problems(chart)


def test_charts_is_a_reserved_variable_and_chart_files_are_not_assets() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template_text(
            "name: t\nvariables: [charts]\nassets: [charts/c.png]\n"
            "charts: {c: {type: bar, data: charts}}\n",
            "t.yaml",
        )
    assert caught.value.problems[0] == "t.yaml: variables.0.name (line 2): 'charts' is reserved"
    assert "assets.0 (line 3): 'charts/c.png' is the file of a chart" in caught.value.problems[-1]


def test_more_than_twelve_charts_are_refused() -> None:
    charts = "".join(f"c{i}: {{type: bar, data: shares}}\n" for i in range(13))
    assert "charts (line 10): Dictionary should have at most 12 items" in _problems(charts)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a text", "data must be a list of rows, not text 'a text'"),
        ([["q", 1]], "row 1 is a list, not an object"),
        ([{"q": "a", "revenue": 1}], "row 1 has no 'cost'"),
        ([{"q": "a", "revenue": "12", "cost": 1}], "row 1: 'revenue' is text '12', not a number"),
        ([{"q": "a", "revenue": True, "cost": 1}], "row 1: 'revenue' is a boolean, not a number"),
        (
            [{"q": None, "revenue": 1, "cost": 1}],
            "row 1: 'q' is null, not a label (text or a number)",
        ),
        (
            [{"q": "a", "revenue": float("nan"), "cost": 1}],
            "row 1: 'revenue' is not a finite number",
        ),
        (
            [{"q": i, "revenue": i, "cost": i} for i in range(201)],
            "201 data points, over the limit of 200",
        ),
    ],
)
def test_bad_rows_fail_the_render_naming_the_chart(value: Any, expected: str) -> None:
    loaded = _load("c: {type: bar, data: rows, x: q, y: [revenue, cost]}")
    with pytest.raises(RenderError) as caught:
        render_document(loaded, {"rows": value}, {})
    assert isinstance(caught.value, UserError)  # a job with it goes dead at once, not retried
    assert caught.value.problems == [f"t.yaml: charts.c (line 11): {expected}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], "data must be a label -> number mapping, not a list"),
        ({"a": "x"}, "'a' is text 'x', not a number"),
        ({"a": -1, "b": 2}, "a pie chart needs numbers >= 0, not all zero"),
        ({"a": 0}, "a pie chart needs numbers >= 0, not all zero"),
    ],
)
def test_bad_generated_mappings_fail_the_render(value: Any, expected: str) -> None:
    loaded = _load("c: {type: pie, data: generated.totals}")
    with pytest.raises(RenderError, match=re.escape(expected)):
        render_document(loaded, {}, {"totals": value})


def test_labels_may_be_numbers_or_yaml_dates() -> None:
    spec = ChartSpec(type="line", data="d", x="day", y="n")
    rows = [{"day": date(2026, 11, 30), "n": 1}, {"day": 2027, "n": 2}, {"day": "x\ty", "n": 3}]
    chart = chart_data("c", spec, rows, "w")
    assert chart is not None and chart.labels == ["2026-11-30", "2027", "x y"]


def test_default_alt_text_reads_the_data_and_is_cut_sensibly() -> None:
    spec = ChartSpec(type="bar", title="Sales", data="d", x="q", y=["revenue", "cost"])
    two = chart_data("c", spec, ROWS, "w")
    assert two is not None
    assert two.alt == (
        "Bar chart: Sales. revenue: 第一季度 12, 第二季度 15.5; cost: 第一季度 5, 第二季度 7."
    )
    many = chart_data("c", ChartSpec(type="line", data="d"), {f"d{i}": i for i in range(200)}, "w")
    assert many is not None
    assert many.alt.startswith("Line chart. d0 0, d1 1, d2 2,")
    assert many.alt.endswith(", … (200 values).") and len(many.alt) <= 300
    assert not re.search(r"d\d*, …", many.alt)  # cut after a whole point, not inside one


def test_the_body_gets_an_escaped_markdown_image() -> None:
    loaded = _load("c: {type: pie, data: shares, alt: 'Shares [*draft*] ![x](y)'}")
    doc = render_document(loaded, {"shares": {"a": 1, "b": 3}}, {})
    image = [t for t in MD.parseInline(doc.markdown.splitlines()[1])[0].children or []]
    assert [t.type for t in image] == ["image"]
    assert image[0].attrs["src"] == "charts/c.svg"
    alt = "".join(child.content for child in image[0].children or [])
    assert alt == "Shares [*draft*] ![x](y)"  # the alt, literally, nothing more
    assert set(doc.assets) == {"charts/c.svg", "charts/c.png"}


def test_absent_data_draws_nothing_and_unused_charts_are_not_drawn() -> None:
    loaded = _load(
        "c: {type: bar, data: rows, x: q, y: revenue}\nd: {type: pie, data: shares}\n",
        body="# R\n{% if charts.c %}{{ charts.c }}{% else %}no rows{% endif %}\n",
    )
    empty = render_document(loaded, {"shares": {"a": 1}}, {})
    assert empty.markdown == "# R\nno rows\n" and empty.assets == {}
    with pytest.raises(RenderError, match=r"charts\.d "):  # unused, but its data is still checked
        render_document(loaded, {"rows": ROWS, "shares": {"a": "x"}}, {})


def test_the_default_layout_shows_every_chart_after_the_fields() -> None:
    loaded = _load("c: {type: line, data: generated.totals}", body=None)
    doc = render_document(loaded, {}, {"summary": "Fine.", "totals": {"a": 1, "b": 2}})
    assert doc.markdown.endswith("a: 1; b: 2\n\n![Line chart. a 1, b 2.](charts/c.svg)\n")
    assert "charts/c.svg" in doc.assets


def _chart(labels: list[str], title: str = "季度收入") -> ChartData:
    spec = ChartSpec(type="bar", title=title, data="d", x="q", y="v", x_label="季度")
    data = chart_data("c", spec, [{"q": q, "v": i + 1} for i, q in enumerate(labels)], "w")
    assert data is not None
    return data


def test_drawing_is_deterministic_vector_and_needs_no_font() -> None:
    chart = _chart(["第一季度", "第二季度"])
    svg, png = draw(chart)
    assert draw(chart) == (svg, png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    text = svg.decode("utf-8")
    assert "<text" not in text and "<dc:date>" not in text  # glyphs are outlines; no date
    width = float(re.search(r'width="([\d.]+)pt"', text).group(1))  # type: ignore[union-attr]
    assert width == pytest.approx(15 / 2.54 * 72, abs=0.1)


def test_cjk_labels_are_real_glyphs() -> None:
    assert font_families()[0] == "Noto Sans CJK SC"
    chart = _chart(["第一季度", "第二季度", "第三季度"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 31532 ... missing from font(s)" would raise
        _, png = draw(chart)
    with pytest.warns(UserWarning, match="missing from font"):
        _, boxes = draw(chart, families=["DejaVu Sans"])
    assert png != boxes


def test_many_renders_leak_no_figures_or_memory() -> None:
    spec = ChartSpec(type="line", data="d", width_cm=4, height_cm=3)
    chart = chart_data("c", spec, {"a": 1, "b": 2}, "w")
    assert chart is not None
    for _ in range(5):
        draw(chart)
    gc.collect()
    before = psutil.Process().memory_info().rss
    for _ in range(40):  # ~0.1 s each; a leaked figure would keep its canvas (0.3 MB) alive
        draw(chart)
    gc.collect()
    assert pyplot.get_fignums() == []
    assert not [o for o in gc.get_objects() if isinstance(o, Figure)]
    assert psutil.Process().memory_info().rss - before < 10 * 2**20


def test_matplotlib_is_imported_only_for_charts() -> None:
    script = """
import json, sys
from documents.loader import load_template_text
from documents.render import render_document
plain = load_template_text("name: t\\nbody: '# T'\\n")
render_document(plain, {}, {})
before = "matplotlib" in sys.modules
chart = load_template_text("name: t\\ncharts: {c: {type: bar, data: generated.g}}\\n"
    "generate: {g: {prompt: p, schema: {type: object}}}\\n")
render_document(chart, {}, {"g": {"a": 1}})
print(json.dumps([before, "matplotlib" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert json.loads(out.stdout) == [False, True], out.stderr
