"""The real server under real load: `tidings serve` in a subprocess, driven by `wrk`.

Measuring through a separate load generator (not a Python client in the same process)
keeps the client's own cost out of the server's figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
from rich.progress import Progress

from tidings.bench.support import BENCH_DATA_KEY, BENCH_LOOKUP_KEY, BenchmarkError, free_port, step

WRK_MARKER = "TIDINGS_WRK "
"""A Lua script's `done()` prints this, then one JSON object of its figures."""


def check_wrk() -> str:
    """The `wrk` executable, or a clear error saying how to get it."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchmarkError(
            "`wrk` is not on PATH; the HTTP phase needs it: `apt-get install wrk` "
            "(`make bench` installs it)"
        )
    return found


def tidings_executable() -> str:
    """The `tidings` script installed beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("tidings")
    if beside.exists():
        return str(beside)
    found = shutil.which("tidings")
    if found is None:
        raise BenchmarkError("cannot find the `tidings` executable next to Python or on PATH")
    return found


@dataclass(frozen=True, slots=True)
class ProcessTree:
    """A process and its children (uvicorn's processes under `--processes N`), read from
    Linux's /proc: what they cost in CPU and memory."""

    pid: int

    def pids(self) -> list[int]:
        found = [self.pid]
        for pid in found:
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(child) for child in children)
        return found

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the processes used so far."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The largest peak resident set (VmHWM) of any one of the processes, in MB."""
        peak = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        return round(peak / 1024, 1)


@dataclass(frozen=True, slots=True)
class Server:
    """A running `tidings serve`."""

    base_url: str
    process: ProcessTree


@contextmanager
def running_server(
    database_url: str,
    workdir: Path,
    *,
    admin_key: str,
    progress: Progress,
    label: str,
    worker: bool = False,
    processes: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """`tidings serve` (`--no-worker` unless `worker`) on a free port until the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_ADMIN_KEY": admin_key,
        "TIDINGS_LOG_LEVEL": "WARNING",
        "TIDINGS_VAR_DIR": str(workdir / "var"),
        "TIDINGS_DATA_KEY": BENCH_DATA_KEY,
        "TIDINGS_LOOKUP_KEY": BENCH_LOOKUP_KEY,
        # Benchmarks measure the books: their repetitive payments would look like fraud.
        "TIDINGS_RISK_SCORING": "false",
        **(env or {}),
    }
    command = [tidings_executable(), "serve", "--host", "127.0.0.1"]
    if processes > 1:
        command += ["--processes", str(processes)]
    if not worker:
        command.append("--no-worker")
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        with step(progress, f"{label}: start the server on port {port}"):
            _wait_healthy(process, base_url, log_path)
        yield Server(base_url, ProcessTree(process.pid))
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise BenchmarkError(f"the server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"the server at {base_url} did not become healthy within 60 s")


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run measured, as its Lua `done()` reported it."""

    requests: int
    duration_s: float
    non2xx: int
    """Responses with status 400 and above (wrk counts these as status errors)."""
    held: int
    """202 answers: work accepted but not done (a payment held for a one-time code)."""
    socket_errors: int
    """Connect, read, write errors and time-outs."""
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def succeeded(self) -> int:
        return self.requests - self.non2xx - self.held

    @property
    def succeeded_per_s(self) -> float:
        return self.succeeded / self.duration_s if self.duration_s else 0.0


def run_wrk(
    wrk: str,
    base_url: str,
    *,
    script: str,
    env: Mapping[str, str],
    seconds: float,
    threads: int,
    connections: int,
    progress: Progress,
    description: str,
) -> WrkResult:
    """Run wrk with `script` (a Lua file shipped in this package) and parse its figures."""
    duration = max(1, round(seconds))  # wrk takes whole seconds
    task = progress.add_task(description, total=duration, detail="")
    with resources.as_file(resources.files("tidings.bench").joinpath(script)) as script_path:
        command = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            # A slow answer must show in p99, not vanish as a socket time-out.
            "--timeout=30s",
            "--latency",
            f"--script={script_path}",
            base_url,
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while True:
                try:
                    output, _ = process.communicate(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    progress.update(task, completed=min(duration, time.monotonic() - started))
        finally:
            _stop(process)
    result = _parse_wrk(output, process.returncode)
    progress.update(task, completed=duration, detail=f"{result.succeeded_per_s:,.0f} ok/s")
    return result


def _parse_wrk(output: str, returncode: int) -> WrkResult:
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            raw = json.loads(line.removeprefix(WRK_MARKER))
            return WrkResult(
                requests=int(raw["requests"]),
                duration_s=raw["duration_us"] / 1e6,
                non2xx=int(raw["non2xx"]),
                held=int(raw.get("held", 0)),
                socket_errors=int(raw["socket_errors"]),
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
            )
    raise BenchmarkError(f"wrk exited with {returncode} without figures:\n{output}")
