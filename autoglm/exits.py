"""Exit codes for every command: 0 success, 2 the caller's mistake, 1 ours; one line each."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer

from core.errors import UserError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_USER, EXIT_INTERNAL = 2, 1


def exits_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Map errors to exit codes with one line each: 2 for the caller's mistakes, 1 for ours."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            raise typer.Exit(EXIT_USER) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
