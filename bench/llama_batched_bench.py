"""llama.cpp's own `llama-batched-bench`, built once from the llama.cpp that our wheel carries.

Run from the repository root::

    .venv/bin/python bench/llama_batched_bench.py --build-only   # build it (5-30 min on 2 cores)
    .venv/bin/python bench/llama_batched_bench.py                 # S_TG at 1, 2, 4, 8, 16, 32
    .venv/bin/python bench/llama_batched_bench.py --npl 1 8 --ntg 32

The build downloads the sdist of the *installed* llama-cpp-python version, configures its
`vendor/llama.cpp` with plain cmake and the CPU flags the wheel was built with
(`scripts/llama-cmake-args`), and builds the one target, statically linked, so the binary
needs no shared libraries beside it. It is kept in
``${XDG_CACHE_HOME:-~/.cache}/open-autoglm/batched-bench-<hash of version and flags>/``; a
changed version or changed flags build a new one.

`run` benchmarks the model our engine loads (`Settings().model_path`, else the bundled one)
with our engine's thread count and batch sizes: ``-npp 128 -ntg 128``, a per-sequence KV cache
(``-kvu`` off) of ``n_ctx`` cells per sequence, and reads S_TG (aggregate generation tokens/s,
prompt processing excluded) per sequence count from its table.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

TARGET = "llama-batched-bench"
# Plain llama.cpp: no downloads, no TLS, no tests, no server/UI (configure needs none of them);
# static, so that the binary can live on its own in the cache.
BASE_CMAKE_ARGS = (
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
)
Log = Callable[[str], None]


def _log(message: str) -> None:
    print(f"llama-batched-bench: {message}", file=sys.stderr, flush=True)


def installed_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def wheel_cmake_args() -> list[str]:
    """The CPU flags the llama-cpp-python wheel was built with (scripts/bootstrap uses them)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "llama-cmake-args")], check=True, capture_output=True, text=True
    )
    return shlex.split(out.stdout)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "open-autoglm"


def build_dir(version: str, flags: Sequence[str]) -> Path:
    key = "|".join([version, *BASE_CMAKE_ARGS, *flags])
    return cache_root() / f"batched-bench-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def binary_path(version: str | None = None, flags: Sequence[str] | None = None) -> Path:
    version = version or installed_version()
    flags = wheel_cmake_args() if flags is None else flags
    return build_dir(version, flags) / TARGET


def _run(command: Sequence[str], log_file: Path, *, nice: int, cwd: Path | None = None) -> None:
    """A build step, output appended to ``log_file``; its tail is raised on failure."""
    prefix = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
    with log_file.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {shlex.join(command)}\n")
        log.flush()
        code = subprocess.run(
            [*prefix, *command], check=False, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    if code != 0:
        tail = "\n".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{shlex.join(command)} failed ({code}); log {log_file}:\n{tail}")


def build(
    version: str | None = None,
    flags: Sequence[str] | None = None,
    *,
    jobs: int = 2,
    nice: int = 10,
    log: Log = _log,
) -> Path:
    """The `llama-batched-bench` binary for this llama-cpp-python version and these flags,
    built first if the cache does not have it."""
    version = version or installed_version()
    flags = wheel_cmake_args() if flags is None else list(flags)
    folder = build_dir(version, flags)
    binary = folder / TARGET
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    log_file = folder / "build.log"
    log_file.write_text(f"llama-cpp-python {version}, flags {shlex.join(flags)}\n", "utf-8")
    log(f"building {TARGET} for llama-cpp-python {version} in {folder} (log: {log_file})")
    with tempfile.TemporaryDirectory(prefix="work-", dir=folder) as temp:
        work = Path(temp)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download"]
        sdist = f"llama-cpp-python=={version}"
        _run(
            [*pip, "--no-deps", "--no-binary", ":all:", "-d", str(work), sdist],
            log_file,
            nice=0,
        )
        sdists = sorted(work.glob("llama_cpp_python-*.tar.gz"))
        if not sdists:
            raise RuntimeError(f"pip download left no llama-cpp-python sdist in {work}")
        with tarfile.open(sdists[0]) as archive:
            archive.extractall(work / "src", filter="data")
        (source,) = (work / "src").iterdir()
        llama_cpp_dir = source / "vendor" / "llama.cpp"
        tool = llama_cpp_dir / "tools" / "batched-bench" / "batched-bench.cpp"
        if not tool.is_file():
            raise RuntimeError(f"{tool} is missing: this llama.cpp has no {TARGET}")
        out = work / "build"
        log("configuring (cmake)")
        _run(
            ["cmake", "-S", str(llama_cpp_dir), "-B", str(out), *BASE_CMAKE_ARGS, *flags],
            log_file,
            nice=nice,
        )
        log(f"compiling with {jobs} jobs at nice {nice} (minutes)")
        _run(
            ["cmake", "--build", str(out), "--target", TARGET, "-j", str(jobs)],
            log_file,
            nice=nice,
        )
        built = out / "bin" / TARGET
        if not built.is_file():
            raise RuntimeError(f"the build finished but {built} does not exist")
        partial = folder / f".{TARGET}.partial"
        shutil.copy2(built, partial)
        partial.replace(binary)  # atomic: a half-copied binary is never taken for a build
    log(f"built {binary}")
    return binary


# --------------------------------------------------------------------------- running it


@dataclass(frozen=True)
class Row:
    """One line of batched-bench's table."""

    pp: int
    tg: int
    sequences: int
    n_kv: int
    t_pp: float
    s_pp: float
    t_tg: float
    s_tg: float  # aggregate generation tokens/s: sequences × tg / t_tg
    t: float
    s: float


_ROW = re.compile(
    r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|" + r"\s*([\d.]+)\s*\|" * 6
)


def parse_table(output: str) -> list[Row]:
    """The result rows of batched-bench's Markdown table (the header and rule are skipped)."""
    rows = []
    for line in output.splitlines():
        match = _ROW.match(line.strip())
        if match:
            g = match.groups()
            rows.append(Row(*(int(x) for x in g[:4]), *(float(x) for x in g[4:])))
    return rows


@dataclass(frozen=True)
class BenchConfig:
    """What the batched-bench run shares with our engine."""

    model: Path
    n_threads: int
    n_threads_batch: int
    n_ctx: int  # per sequence
    n_batch: int = 512
    n_ubatch: int = 512
    flash_attn: str = "auto"  # on | off | auto
    n_gpu_layers: int = 0

    @classmethod
    def like_engine(cls, n_ctx: int) -> BenchConfig:
        """The model, threads, batch sizes and attention of `LlamaEngine` with this n_ctx."""
        from core.settings import Settings  # noqa: PLC0415
        from generation.llama import EngineConfig, load_model  # noqa: PLC0415

        config = EngineConfig.from_settings(Settings(n_ctx=n_ctx))
        params = load_model(config).llm.context_params
        flash = getattr(params, "flash_attn_type", None)
        if flash is None:
            attn = "on" if getattr(params, "flash_attn", False) else "off"
        else:
            attn = {-1: "auto", 0: "off", 1: "on"}.get(int(flash), "auto")
        return cls(
            model=config.model_path,
            n_threads=int(params.n_threads),
            n_threads_batch=int(params.n_threads_batch),
            n_ctx=n_ctx,
            n_batch=int(params.n_batch),
            n_ubatch=int(params.n_ubatch),
            flash_attn=attn,
            n_gpu_layers=config.n_gpu_layers,
        )


def command(
    binary: Path, config: BenchConfig, sequences: Sequence[int], npp: int = 128, ntg: int = 128
) -> list[str]:
    most = max(sequences)
    return [
        str(binary),
        "-m", str(config.model),
        "-c", str(config.n_ctx * most),  # n_ctx cells for each of the `most` sequences
        "-b", str(config.n_batch),
        "-ub", str(config.n_ubatch),
        "-t", str(config.n_threads),
        "-tb", str(config.n_threads_batch),
        "-ngl", str(config.n_gpu_layers),
        "-fa", config.flash_attn,
        "-npp", str(npp),
        "-ntg", str(ntg),
        "-npl", ",".join(str(n) for n in sequences),
    ]  # fmt: skip


def run(
    binary: Path,
    config: BenchConfig,
    sequences: Sequence[int],
    npp: int = 128,
    ntg: int = 128,
    timeout: float = 1800,
) -> dict[int, Row]:
    """batched-bench for these sequence counts (one process); its rows by sequence count.
    ``n_ctx`` must hold ``npp + ntg`` (batched-bench silently skips a count that does not fit)."""
    if npp + ntg > config.n_ctx:
        raise ValueError(f"npp {npp} + ntg {ntg} do not fit n_ctx {config.n_ctx}")
    done = subprocess.run(
        command(binary, config, sequences, npp, ntg),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"{TARGET} failed ({done.returncode}):\n{output[-3000:]}")
    rows = {row.sequences: row for row in parse_table(output)}
    missing = [n for n in sequences if n not in rows]
    if missing:
        raise RuntimeError(f"{TARGET} printed no row for {missing} sequences:\n{output[-3000:]}")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-only", action="store_true", help="build (if needed) and exit")
    parser.add_argument("--version", help="llama-cpp-python version (default: the installed one)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the compiler")
    parser.add_argument("--npl", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--npp", type=int, default=128)
    parser.add_argument("--ntg", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=512, help="KV cells per sequence")
    args = parser.parse_args(argv)
    binary = build(args.version, jobs=args.jobs, nice=args.nice)
    print(binary)
    if args.build_only:
        return
    from bench.run import table  # noqa: PLC0415

    config = BenchConfig.like_engine(args.n_ctx)
    print(f"  {shlex.join(command(binary, config, args.npl, args.npp, args.ntg))}")
    rows = run(binary, config, args.npl, args.npp, args.ntg)
    print(
        table(
            ["sequences", "S_PP tok/s", "S_TG tok/s", "T_TG s"],
            [
                [str(n), f"{r.s_pp:.1f}", f"{r.s_tg:.1f}", f"{r.t_tg:.2f}"]
                for n, r in sorted(rows.items())
            ],
        )
    )


if __name__ == "__main__":
    main()
