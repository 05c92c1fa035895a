from __future__ import annotations

from exporters.registry import get_exporter
from tests.exporters.samples import sample_document
from tests.readers import markdown_ast, markdown_headings, node_types


def test_markdown_parses_with_expected_headings() -> None:
    text = get_exporter("markdown").export(sample_document()).decode("utf-8")
    assert markdown_headings(text) == [(1, "用户服务 API接口文档"), (2, "接口列表"), (2, "Details")]
    assert {"table", "list", "block_code", "block_quote", "strikethrough"} <= node_types(
        markdown_ast(text)
    )


def test_provenance_comment_cannot_break_out() -> None:
    doc = sample_document(markdown="# T\n")
    doc = type(doc)(**{**doc.__dict__, "template_name": "evil --> # injected"})
    text = get_exporter("md").export(doc).decode("utf-8")
    assert markdown_headings(text) == [(1, "T")]
    assert text.rstrip().endswith("-->") and text.count("-->") == 1
