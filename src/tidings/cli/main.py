"""`tidings serve | worker | migrate | demo | token | ledger check | keys | bus status | bench`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tidings.cli.bus import bus_app
from tidings.config import get_settings
from tidings.kit.logging import configure_logging

app = typer.Typer(
    help="Tidings: wallet core and financial notification engine.", no_args_is_help=True
)
ledger_app = typer.Typer(help="Ledger checks.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
jobs_app = typer.Typer(help="Periodic jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(bus_app, name="bus")
keys_app = typer.Typer(help="Data keys: rotate every encrypted value, check.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


@app.callback()
def _setup() -> None:
    try:
        settings = get_settings()
    except ValidationError as exc:  # refuse to start on a bad setting, naming it
        for error in exc.errors():
            console.print(f"[red]configuration error:[/red] {error['msg']}")
        raise typer.Exit(code=2) from None
    configure_logging(level=settings.log_level, json=settings.log_json)


def _check_provider_settings() -> None:
    """Stop before starting anything when a provider setting is wrong (never fail silently)."""
    from tidings.notify.channels.config import ChannelConfigError, check_channel_settings

    try:
        check_channel_settings()
    except ChannelConfigError as exc:
        console.print(f"[red]invalid setting[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def migrate() -> None:
    """Bring the database to the latest schema."""
    from tidings.app.context import build_context
    from tidings.kit.migrate import upgrade

    context = build_context(get_settings())
    upgrade(context.engine)
    console.print(
        f"[green]database is up to date[/green] ({context.engine.url.render_as_string()})"
    )


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port (default TIDINGS_PORT, 8000).")] = None,
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1).")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only.")] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each with its own pool of "
            "TIDINGS_DATABASE_POOL_SIZE connections. On PostgreSQL each runs a worker too "
            "(unless --no-worker); on SQLite one of them does, and another takes over if it "
            "dies, while writes take turns through a lock file next to the database.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API, with the background worker in the same process unless --no-worker."""
    import uvicorn

    from tidings.cli.server import STARTUP_FAILURE, QuietServer

    _check_provider_settings()
    settings = get_settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    worker_note = "API only" if no_worker else "API and worker"
    if processes > 1 and settings.is_sqlite and not no_worker:
        worker_note = "API, and the worker in one of them"
    console.print(
        f"[green]Tidings listening on http://{bind_host}:{bind_port}[/green] ({worker_note}"
        f"{f', {processes} processes' if processes > 1 else ''}; "
        f"API docs at /docs, health at /healthz)"
    )
    factory = "serving_app_without_worker" if no_worker else "serving_app"
    options: dict[str, Any] = {
        "factory": True,
        "host": bind_host,
        "port": bind_port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
    }
    app_path = f"tidings.app.factory:{factory}"
    if processes > 1:
        uvicorn.run(app_path, workers=processes, **options)
        return
    server = QuietServer(uvicorn.Config(app_path, **options))
    server.run()
    if not server.started:  # as uvicorn.run: the port taken, the app failing to start
        raise typer.Exit(STARTUP_FAILURE)


@app.command()
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve this process's Prometheus metrics on this port (/metrics); each worker "
            "process needs its own port.",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run the background loops only (relay, dispatcher); any number may run on PostgreSQL, on
    SQLite one at a time (the others stand by to take over)."""
    import signal
    import threading

    from prometheus_client import start_http_server

    from tidings.app.context import build_context
    from tidings.app.worker import Worker, leader_lock

    _check_provider_settings()
    context = build_context(get_settings())
    leader = leader_lock(context)
    if leader is not None:
        console.print(
            "[yellow]SQLite: one process runs the worker loops[/yellow]; this one stands by "
            f"while another holds {leader.path}"
        )
    running = Worker(context, leader=leader)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    running.start()
    if metrics_port is not None:
        start_http_server(metrics_port, addr=context.settings.host)
        console.print(f"metrics on http://{context.settings.host}:{metrics_port}/metrics")
    console.print("[green]worker running[/green]; Ctrl-C to stop")
    stopped.wait()
    running.shutdown()


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="The user's id (usr_…) or external id.")],
    days: Annotated[int, typer.Option(help="Valid for this many days.")] = 30,
) -> None:
    """Print a user-scoped bearer token."""
    from tidings.app.context import build_context
    from tidings.kit.db import write_transaction
    from tidings.users import directory
    from tidings.users import service as users

    context = build_context(get_settings())
    with write_transaction(context.engine) as conn:
        user_id = directory.find_user_id(conn, context.keyring, user)
        if user_id is None:
            console.print(f"[red]no user {user!r}[/red]")
            raise typer.Exit(1)
        issued = users.issue_token(conn, user_id, at=context.clock.now(), ttl=timedelta(days=days))
    typer.echo(issued.token)


@ledger_app.command("check")
def ledger_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Prove every balance equals the sum of its postings and all postings sum to zero."""
    from tidings.app.context import build_context
    from tidings.kit.db import read_transaction
    from tidings.ledger import service as ledger

    context = build_context(get_settings())
    with read_transaction(context.engine) as conn:
        result = ledger.trial_balance(conn)
    bad = [a for a in result.accounts if not a.consistent]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "accounts": len(result.accounts),
                    "inconsistent_accounts": [a.account_id for a in bad],
                    "totals": result.totals,
                    "unbalanced_entries": result.unbalanced_entries,
                }
            )
        )
    else:
        table = Table(title="Trial balance")
        for column in ("currency", "accounts", "sum of postings"):
            table.add_column(column)
        for currency, total in sorted(result.totals.items()):
            count = sum(1 for a in result.accounts if a.currency == currency)
            table.add_row(currency, str(count), str(total))
        console.print(table)
        for account in bad:
            console.print(
                f"[red]{account.account_id}: balance {account.balance} != postings {account.posted}"
            )
        for entry in result.unbalanced_entries:
            console.print(f"[red]entry {entry} does not balance")
        console.print("[green]ledger balances[/green]" if result.ok else "[red]ledger is broken")
    if not result.ok:
        raise typer.Exit(1)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="e.g. notify.digests")],
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", help="The moment to run for (default now).")
    ] = None,
) -> None:
    """Run a periodic job for a moment; a past moment catches up after downtime."""
    from tidings.app.context import build_context
    from tidings.app.jobs import run_job
    from tidings.kit.clock import as_utc
    from tidings.kit.errors import AppError

    context = build_context(get_settings())
    try:
        summary = run_job(context, name, as_utc(as_of) if as_of else None)
    except AppError as exc:
        console.print(f"[red]{exc.detail}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(summary, ensure_ascii=False))


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every value under the first key of TIDINGS_DATA_KEY, in batches, while the
    service runs; safe to stop and run again (it resumes where values are left)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tidings.app import keys
    from tidings.app.context import build_context
    from tidings.kit.db import read_transaction

    context = build_context(get_settings())
    keyring = context.keyring
    with read_transaction(context.engine) as conn:
        totals = {p.name: keys.pending(conn, keyring, p) for p in keys.places()}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        tasks = {name: progress.add_task(name, total=total) for name, total in totals.items()}
        done = keys.rotate(
            context.engine,
            keyring,
            batch=batch,
            on_batch=lambda place, seen: progress.advance(tasks[place.name], seen),
        )
    typer.echo(json.dumps({"active_key": keyring.active_key_id, "rewritten": done}))


@keys_app.command("check")
def keys_check(
    retiring: Annotated[
        str | None, typer.Option("--retiring", help="Fail if any value still needs this key.")
    ] = None,
) -> None:
    """Prove every encrypted value opens with TIDINGS_DATA_KEY (and, with --retiring, that
    none needs the key about to be removed)."""
    from tidings.app import keys
    from tidings.app.context import build_context

    context = build_context(get_settings())
    report = keys.check(context.engine, context.keyring, retiring=retiring)
    counts = {place: dict(tally) for place, tally in report.counts.items() if tally}
    typer.echo(json.dumps({"ok": report.ok, "values_by_key": counts}))
    for line in report.unknown:
        console.print(f"[red]no key for {line}")
    for line in report.retiring:
        console.print(f"[red]still under the retiring key: {line}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def catalogue() -> None:
    """Print the event catalogue (types, categories, data fields) as Markdown."""
    from tidings.notify.docs import catalogue_markdown

    typer.echo(catalogue_markdown(), nl=False)


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="How many demo users.")] = 5,
    days: Annotated[int, typer.Option(help="Days of activity.")] = 30,
) -> None:
    """Create demo users with zh-CN names, sub-wallets and a month of activity."""
    from tidings.app.context import build_context
    from tidings.cli.demo import create_demo_data

    context = build_context(get_settings())
    create_demo_data(context, users=users, days=days, console=console)


@app.command()
def bench(
    name: Annotated[
        str,
        typer.Argument(
            help="Benchmark: ledger, notify, bus, risk, credit, feedback, insights or campaign."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Last line: one JSON object.")] = False,
    db: Annotated[str, typer.Option(help="sqlite, postgresql or both.")] = "sqlite",
    seconds: Annotated[float, typer.Option(help="Length of each timed phase.")] = 10.0,
    transfers: Annotated[
        int, typer.Option(min=1, help="risk: synthetic transfers to score.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="risk: the synthetic stream's seed.")] = 2026,
    installments: Annotated[
        int, typer.Option(min=3, help="credit: active installments in the nightly run.")
    ] = 1_000_000,
    rate: Annotated[
        float | None,
        typer.Option(min=1, help="notify: events per second in the steady phase (200)."),
    ] = None,
    backlog: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="notify: events in the backlog phase, two deliveries each (default: what "
            "--seconds drains at 1,000 deliveries/s; 50000 is the 100,000-delivery memory run).",
        ),
    ] = None,
    idle_seconds: Annotated[
        float, typer.Option(min=1, help="notify: how long an idle `tidings serve` is watched.")
    ] = 60.0,
    phases: Annotated[
        str | None,
        typer.Option(
            help="ledger: the phases to run, comma-separated (service, scored, model, raw, "
            "concurrent, http); all by default.",
        ),
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(
            min=10,
            help="insights: users the suggestions job goes over (100,000); campaign: users "
            "in the population (1,000,000).",
        ),
    ] = None,
) -> None:
    """Run one benchmark and print its figures."""
    from tidings.bench import BenchOptions, figures_table, run_benchmark

    if name == "credit":  # always PostgreSQL: the nightly run at production scale
        from tidings.bench import credit
        from tidings.bench.support import BenchmarkError

        try:
            figures = credit.run(console=console, installments=installments)
        except BenchmarkError as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from exc
        console.print(figures_table(name, figures))
    elif name == "insights":  # its own size: the suggestions job's users
        from tidings.bench import DATABASE_CHOICES, insights

        if db not in DATABASE_CHOICES:
            raise typer.BadParameter(f"unknown database {db!r}", param_hint="--db")
        figures = insights.run(
            databases=DATABASE_CHOICES[db], seconds=seconds, console=console, users=users or 100_000
        )
    elif name == "campaign":  # always PostgreSQL: a million-user campaign
        from tidings.bench import campaign
        from tidings.bench.support import BenchmarkError

        try:
            figures = campaign.run(console=console, users=users or 1_000_000)
        except BenchmarkError as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from exc
        console.print(figures_table(name, figures))
    elif name == "risk":  # no database: pure scoring over a synthetic stream
        from tidings.bench import risk

        figures = risk.run(console=console, transfers=transfers, seed=seed)
        console.print(figures_table(name, figures))
    elif name == "feedback":  # no database: the search index and the analysis are pure
        from tidings.bench import feedback

        figures = feedback.run(console=console, seed=seed)
        console.print(figures_table(name, figures))
    else:
        options = BenchOptions(
            rate=rate,
            backlog=backlog,
            idle_seconds=idle_seconds,
            phases=tuple(phase.strip() for phase in phases.split(",")) if phases else None,
        )
        figures = run_benchmark(name, db=db, seconds=seconds, console=console, options=options)
    if as_json:
        typer.echo(json.dumps(figures))
