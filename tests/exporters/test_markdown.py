from __future__ import annotations

import dataclasses
import json

from exporters.registry import get_exporter
from tests.exporters.samples import sample_document
from tests.readers import markdown_ast, markdown_headings, node_types


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
