"""The bus's Prometheus metrics (served on `/metrics`, or `tidings worker --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UNPUBLISHED = Gauge(
    "tidings_bus_unpublished_events",
    "Outbox events JetStream has not acked yet (the publisher's lag), as last counted.",
)
PUBLISHED = Counter("tidings_bus_published_total", "Outbox events published and acked.")
PUBLISH_DUPLICATES = Counter(
    "tidings_bus_publish_duplicates_total",
    "Publishes JetStream recognised as a repeat (a crash between publish and mark).",
)
PUBLISH_LATENCY = Histogram(
    "tidings_bus_publish_latency_seconds",
    "From an event recorded in the outbox to JetStream's ack of it (our own events).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMED = Counter(
    "tidings_bus_consumed_total",
    "Ingest messages taken, by outcome (accepted, duplicate, dead_lettered, retry).",
    ["outcome"],
)
