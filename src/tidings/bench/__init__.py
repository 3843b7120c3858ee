"""Benchmarks behind `tidings bench NAME`: figures measured, never assumed.

Each benchmark returns a flat dict of numbers whose keys carry their unit
(`sqlite_service_transfers_per_s`, `postgresql_http_p99_ms`), so the CLI can print it as
one JSON line and a CI job can compare runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tidings.bench.support import BenchmarkError, DatabaseKind

__all__ = [
    "BENCHMARKS",
    "DATABASE_CHOICES",
    "BenchOptions",
    "BenchmarkError",
    "figures_table",
    "run_benchmark",
]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What `tidings bench` lets a user choose beyond the databases and the phase length."""

    rate: float | None = None
    """notify: events per second in the steady phase (None: its default)."""
    backlog: int | None = None
    """notify: events in the backlog phase (None: what `seconds` at the target rate drains)."""
    idle_seconds: float = 60.0
    """notify: how long an idle `tidings serve` is watched for its CPU."""
    phases: tuple[str, ...] | None = None
    """ledger: the phases to run (None: every one)."""


Benchmark = Callable[[Sequence[DatabaseKind], float, Console, BenchOptions], dict[str, float]]


def _ledger(
    databases: Sequence[DatabaseKind], seconds: float, console: Console, options: BenchOptions
) -> dict[str, float]:
    from tidings.bench import ledger  # heavy imports only when this benchmark runs

    phases = options.phases or ledger.PHASES
    unknown = sorted(set(phases) - set(ledger.PHASES))
    if unknown:
        raise typer.BadParameter(
            f"unknown phases {', '.join(unknown)}; choose from: {', '.join(ledger.PHASES)}",
            param_hint="--phases",
        )
    return ledger.run(databases=databases, seconds=seconds, console=console, phases=phases)


def _notify(
    databases: Sequence[DatabaseKind], seconds: float, console: Console, options: BenchOptions
) -> dict[str, float]:
    from tidings.bench import notify

    return notify.run(
        databases=databases,
        seconds=seconds,
        console=console,
        backlog_events=options.backlog,
        idle_seconds=options.idle_seconds,
        steady_rate=options.rate,
    )


def _bus(
    databases: Sequence[DatabaseKind], seconds: float, console: Console, options: BenchOptions
) -> dict[str, float]:
    from tidings.bench import bus

    return bus.run(databases=databases, seconds=seconds, console=console)


BENCHMARKS: dict[str, Benchmark] = {"ledger": _ledger, "notify": _notify, "bus": _bus}
"""Benchmark name → runner; `tidings bench NAME` picks one."""

DATABASE_CHOICES: dict[str, tuple[DatabaseKind, ...]] = {
    **{kind: (kind,) for kind in get_args(DatabaseKind)},
    "both": get_args(DatabaseKind),
}
"""What `--db` accepts and the databases each choice runs on, in order."""


def run_benchmark(
    name: str,
    *,
    db: str,
    seconds: float,
    console: Console,
    options: BenchOptions | None = None,
) -> dict[str, float]:
    """Run benchmark `name` on the databases `db` names, each timed phase `seconds` long."""
    runner = BENCHMARKS.get(name)
    if runner is None:
        raise typer.BadParameter(
            f"unknown benchmark {name!r}; choose from: {', '.join(sorted(BENCHMARKS))}",
            param_hint="NAME",
        )
    databases = DATABASE_CHOICES.get(db)
    if databases is None:
        raise typer.BadParameter(
            f"unknown database {db!r}; choose from: {', '.join(DATABASE_CHOICES)}",
            param_hint="--db",
        )
    if not seconds > 0:
        raise typer.BadParameter("must be more than 0", param_hint="--seconds")
    try:
        figures = runner(databases, seconds, console, options or BenchOptions())
    except BenchmarkError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(figures_table(name, figures))
    return figures


def figures_table(name: str, figures: dict[str, float]) -> Table:
    """The figures for a person to read; `--json` gives the same for a machine."""
    table = Table(title=f"tidings bench {name}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}")
    return table
