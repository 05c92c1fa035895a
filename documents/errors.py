"""Errors about templates and inputs; each message names the template, the field and the line."""

from __future__ import annotations

from core.errors import UserError


class TemplateError(UserError):
    """The template itself is invalid (YAML, schema, body syntax, size)."""


class InputError(UserError):
    """The inputs given for a template do not match its declared variables."""


class RenderError(UserError):
    """The body or a prompt failed to render (undefined name, refused access, output cap)."""
