"""`tidings bus status`: the streams, the ingest consumer and the publisher's lag."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tidings.config import get_settings

bus_app = typer.Typer(help="The event bus (NATS JetStream).", no_args_is_help=True)


@bus_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print each stream's messages and sequences, the `tidings-ingest` consumer's pending and
    unacked messages, and how many outbox events are not published yet."""
    from tidings.app.context import build_context
    from tidings.bus.repository import count_unpublished
    from tidings.bus.status import status_at
    from tidings.kit.db import read_transaction

    settings = get_settings()
    err = Console(stderr=True)
    if settings.nats_url is None:
        err.print("[red]TIDINGS_NATS_URL is not set:[/red] the event bus is off")
        raise typer.Exit(2)
    try:
        found = asyncio.run(status_at(settings.nats_url))
    except Exception as exc:
        err.print(f"[red]NATS at {settings.nats_url} does not answer:[/red] {exc}")
        raise typer.Exit(1) from exc
    with read_transaction(build_context(settings).engine) as conn:
        unpublished = count_unpublished(conn)
    if as_json:
        typer.echo(json.dumps({**found.as_json(), "unpublished_events": unpublished}))
        return
    out = Console()
    streams = Table(title=f"Streams at {settings.nats_url}")
    for column in (
        "stream",
        "subjects",
        "messages",
        "bytes",
        "first seq",
        "last seq",
        "dup window",
    ):
        streams.add_column(column)
    for stream in found.streams:
        if not stream.exists:
            streams.add_row(stream.name, ", ".join(stream.subjects), "[yellow]missing[/yellow]")
            continue
        streams.add_row(
            stream.name,
            ", ".join(stream.subjects),
            f"{stream.messages:,}",
            f"{stream.bytes:,}",
            str(stream.first_seq),
            str(stream.last_seq),
            f"{stream.duplicate_window_s:g} s",
        )
    out.print(streams)
    consumer = found.consumer
    if consumer.exists:
        out.print(
            f"consumer {consumer.name} on {consumer.stream}: {consumer.pending:,} pending, "
            f"{consumer.ack_pending:,} unacked, {consumer.redelivered:,} redelivered, "
            f"acked up to seq {consumer.ack_floor_seq}"
        )
    else:
        out.print(f"consumer {consumer.name} on {consumer.stream}: [yellow]missing[/yellow]")
    out.print(f"outbox events not yet published: {unpublished:,}")
