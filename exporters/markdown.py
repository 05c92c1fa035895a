"""Markdown export: the rendered CommonMark body plus a provenance comment at the end."""

from __future__ import annotations

from documents.document import Document


def export_markdown(document: Document) -> bytes:
    """The body as rendered, then the provenance JSON in an HTML comment (invisible when shown).

    JSON escapes ``>`` inside strings, so no prompt or name can close the comment early.
    """
    text = document.markdown.rstrip() + "\n"
    provenance = document.provenance_json().replace(">", "\\u003e")
    return (text + f"\n<!-- open-autoglm provenance\n{provenance}\n-->\n").encode("utf-8")
