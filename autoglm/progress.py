"""Live progress for generated fields: field name, tokens so far and tokens per second."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class FieldProgress:
    """A rich progress display on stderr, used as the generator's progress callback."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[field]}"),
            TextColumn("{task.completed:>5.0f} tokens"),
            TextColumn("{task.fields[rate]:>6.1f} tok/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, name: str, tokens: int, elapsed: float, text: str = "") -> None:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, field=name, rate=0.0, total=None)
        rate = tokens / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.tasks[name], completed=tokens, rate=rate)

    def __enter__(self) -> FieldProgress:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()
