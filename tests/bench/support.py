"""Running `tidings bench` as a user does: the real command, in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TIDINGS = Path(sys.executable).with_name("tidings")


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`tidings bench ARGS…`, its output captured as text; the caller checks the exit code."""
    return subprocess.run(
        [str(TIDINGS), "bench", *args], capture_output=True, text=True, timeout=timeout
    )
