from __future__ import annotations

import dataclasses
import json

from exporters.markdown import tidy_blank_lines
from exporters.registry import get_exporter
from tests.exporters.samples import RICH_MARKDOWN, sample_document
from tests.readers import markdown_ast, markdown_headings, node_types

SPREAD = (
    "# Title\n\n\n\n   \nIntro.\n\n\n## Changes\n\n\n- one\n\n\n- two\n\n\n"
    "```text\nfirst\n\n\n\nlast\n```\n\n\n    indented\n\n    code\n\n\nEnd.\n"
)


def test_markdown_parses_with_expected_headings() -> None:
    text = get_exporter("markdown").export(sample_document()).decode("utf-8")
    assert markdown_headings(text) == [(1, "用户服务 API接口文档"), (2, "接口列表"), (2, "Details")]
    assert {"table", "list", "block_code", "block_quote", "strikethrough"} <= node_types(
        markdown_ast(text)
    )


def test_provenance_is_embedded_and_cannot_break_out() -> None:
    doc = sample_document(markdown="# T\n")
    doc = dataclasses.replace(doc, template_name="evil --> # injected")
    text = get_exporter("md").export(doc).decode("utf-8")
    assert markdown_headings(text) == [(1, "T")]
    assert text.rstrip().endswith("-->") and text.count("-->") == 1
    comment = text.split("<!-- open-autoglm provenance\n", 1)[1].rsplit("-->", 1)[0]
    provenance = json.loads(comment)
    assert provenance["template"] == "evil --> # injected"
    assert provenance["fields"][0] == {
        "name": "overview",
        "prompt": "p",
        "model": "SmolLM2.gguf",
        "seed": 7,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "seconds": 0.5,
        "finish_reason": "stop",
        "text": "text",
        "attempts": 1,
        "reused": False,
        "cached": False,
        "served_by": "",
        "route": "",
    }


def without_blank_lines(nodes: list[dict[str, object]]) -> list[dict[str, object]]:
    return [n for n in nodes if n["type"] != "blank_line"]


def test_runs_of_blank_lines_become_one_outside_code() -> None:
    tidy = tidy_blank_lines(SPREAD)
    assert without_blank_lines(markdown_ast(tidy)) == without_blank_lines(markdown_ast(SPREAD))
    assert "```text\nfirst\n\n\n\nlast\n```" in tidy  # a fence keeps every line
    outside = tidy.replace("first\n\n\n\nlast", "")
    assert "\n\n\n" not in outside and "   \n" not in outside
    rich = tidy_blank_lines(RICH_MARKDOWN)
    assert without_blank_lines(markdown_ast(rich)) == without_blank_lines(
        markdown_ast(RICH_MARKDOWN)
    )


def test_the_exported_file_has_no_runs_of_blank_lines() -> None:
    text = get_exporter("md").export(sample_document(markdown=SPREAD)).decode("utf-8")
    body = text.split("<!-- open-autoglm provenance", 1)[0]
    assert body.replace("first\n\n\n\nlast", "").count("\n\n\n") == 0
