"""The template spec, input validation, sandboxed rendering and the Document given to exporters."""
