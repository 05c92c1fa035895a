"""Error base classes shared by every layer; callers map them to exit codes and HTTP statuses."""

from __future__ import annotations


class AutoglmError(Exception):
    """Base of every error this project raises on purpose."""


class UserError(AutoglmError):
    """The caller's input is wrong (template, inputs, options): exit code 2, HTTP 4xx.

    ``problems`` holds one human-readable line per problem found.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ConfigError(UserError):
    """The operator's configuration (an `AUTOGLM_*` setting, a model path) cannot be used."""
