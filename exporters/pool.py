"""Warm export processes: a worker's spare cores render while its model generates.

Exports are CPU-bound Python (WeasyPrint holds the GIL for most of a render), so threads of
the job process cannot render two documents at once; a few spawned processes can, and a
job's formats go to them in parallel. A process also bounds what one export may cost: it is
killed when an export runs past its time limit and cannot allocate past its memory limit,
and a fresh one takes its place. Processes are spawned, never forked, because the worker
holds a model and threads (llama.cpp, Celery) that a fork would copy in an unknown state.
"""

from __future__ import annotations

import errno
import gc
import multiprocessing
import queue
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from core.errors import AutoglmError
from documents.document import Document
from exporters.registry import get_exporter

WARM_UP = Document(
    title="warm-up", markdown="# 预热 Warm-up\n\ntext", template_name="t", template_version="1"
)


# How CPython reports a C function that failed without setting an exception (Python/ceval.c,
# Objects/call.c): under the memory limit, an allocation whose failure nobody reported.
_NULL_WITHOUT_EXCEPTION = ("without exception set", "without setting an exception")


class ExportFailed(AutoglmError):
    """An export process failed: the exporter raised, ran out of time or of memory."""


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    exports: int = 0


class ExportPool:
    """`processes` warm exporters; `export` blocks until one is free, then until it is done."""

    def __init__(
        self,
        processes: int,
        memory_mb: int = 2048,
        seconds: float = 120.0,
        exports_per_process: int = 500,
    ) -> None:
        self.memory_mb, self.seconds = memory_mb, seconds
        self.exports_per_process = exports_per_process  # then a fresh process: no slow leak lasts
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Slot] = queue.Queue()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(processes, thread_name_prefix="export")
        for _ in range(processes):
            self._idle.put(self._start())

    def export(self, document: Document, fmt: str, seconds: float | None = None) -> bytes:
        """The file of `document` in `fmt`, made in a pool process within `seconds`."""
        limit = self.seconds if seconds is None else min(seconds, self.seconds)
        slot = self._idle.get()
        try:
            slot.conn.send((fmt, document))
            if not slot.conn.poll(max(limit, 0.0)):
                slot = self._replace(slot)
                raise ExportFailed(f"{fmt} export ran past its limit of {limit:.0f} s")
            status, payload = slot.conn.recv()
            slot.exports += 1
            # A process that hit its limit may have left a C library's state half-built: the
            # next export gets a fresh one.
            if status == "memory" or slot.exports >= self.exports_per_process:
                slot = self._replace(slot)
        except (EOFError, OSError):  # the process died (BrokenPipeError is an OSError)
            code = slot.process.exitcode
            slot = self._replace(slot)
            raise ExportFailed(
                f"the {fmt} export process died (exit code {code}; over its memory limit of "
                f"{self.memory_mb} MiB?)"
            ) from None
        finally:
            self._idle.put(slot)
        if status == "memory":
            raise ExportFailed(
                f"{fmt} export ran out of memory (limit {self.memory_mb} MiB): {payload}"
            )
        if status != "ok":
            raise ExportFailed(f"{fmt} export failed: {payload}")
        data: bytes = payload
        return data

    def export_many(
        self, document: Document, formats: list[str], seconds: float | None = None
    ) -> list[tuple[str, bytes, float]]:
        """Every format at once, each in its own process; (format, file, seconds) in order."""

        def one(fmt: str) -> tuple[str, bytes, float]:
            started = time.perf_counter()
            data = self.export(document, fmt, seconds)
            return fmt, data, time.perf_counter() - started

        return list(self._threads.map(one, formats))

    def pids(self) -> list[int]:
        with self._lock:
            return [slot.process.pid or 0 for slot in self._slots]

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for slot in self._slots:
                slot.process.kill()
                slot.process.join(5)
                slot.conn.close()
            self._slots.clear()

    def _start(self) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.memory_mb), name="autoglm-export", daemon=True
        )
        process.start()
        child.close()
        slot = _Slot(process, parent)
        with self._lock:
            self._slots.append(slot)
        return slot

    def _replace(self, slot: _Slot) -> _Slot:
        slot.process.kill()
        slot.process.join(5)
        slot.conn.close()
        with self._lock:
            self._slots.remove(slot)
        return self._start()


def warm_up() -> None:
    """Import and exercise every exporter once (fonts, parsed stylesheets, lazy imports), then
    freeze what is loaded: the collector never walks it again, only what each export makes."""
    for fmt in ("pdf", "docx", "md"):
        get_exporter(fmt).export(WARM_UP)
    gc.collect()
    gc.freeze()


def _serve(conn: Connection, memory_mb: int) -> None:
    """A pool process: cap memory, warm up, then export whatever arrives until the pipe ends."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    warm_up()
    while True:
        try:
            fmt, document = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", get_exporter(fmt).export(document))
        except Exception as exc:  # sent back, raised in the job as ExportFailed
            status = "memory" if out_of_memory(exc) else "error"
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reply = (status, detail)
        conn.send(reply)


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it arose from, is an allocation that failed.

    Under RLIMIT_DATA not every failed allocation surfaces as MemoryError: the system calls
    report ENOMEM, and CPython 3.11 itself returns NULL without setting an exception when it
    cannot map a new chunk of its frame stack (a deep call under the limit), which the caller
    turns into "SystemError: error return without exception set".
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOMEM:
            return True
        if isinstance(current, SystemError) and any(
            words in str(current) for words in _NULL_WITHOUT_EXCEPTION
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
