"""JSON-Schema-constrained output: llama.cpp grammars that only admit strictly valid JSON."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

# llama-cpp-python's converter lets raw control characters (newlines, tabs) into JSON strings,
# which strict JSON forbids; llama.cpp's own converter excludes them, and so do we.
_LOOSE_CHAR = '[^"\\\\]'
_STRICT_CHAR = '[^"\\\\\\x7F\\x00-\\x1F]'


def schema_grammar(schema: dict[str, Any]) -> LlamaGrammar:
    """The grammar for ``schema``, built once per distinct schema in a process."""
    return _grammar_for(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=64)
def _grammar_for(schema_json: str) -> LlamaGrammar:
    gbnf = json_schema_to_gbnf(schema_json).replace(_LOOSE_CHAR, _STRICT_CHAR)
    return LlamaGrammar.from_string(gbnf, verbose=False)
