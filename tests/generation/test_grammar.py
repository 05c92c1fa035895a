from __future__ import annotations

from generation.grammar import schema_grammar


def test_json_strings_exclude_raw_control_characters() -> None:
    gbnf = schema_grammar({"type": "array", "items": {"type": "string"}})._grammar
    assert '[^"\\\\\\x7F\\x00-\\x1F]' in gbnf
    assert '[^"\\\\] |' not in gbnf


def test_grammar_is_built_once_per_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert schema_grammar(schema) is schema_grammar(dict(schema))
