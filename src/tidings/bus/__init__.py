"""The event bus adapter (NATS JetStream): every outbox event out as a CloudEvent, external
CloudEvents in through the same door as `POST /v1/events`. Off unless `TIDINGS_NATS_URL` is
set; the outbox stays the source of truth (docs/event-bus.md)."""
