"""Exporters: `Document` -> bytes for each output format, looked up by name in one registry."""
