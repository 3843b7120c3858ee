"""Background loops: outbox relay, delivery dispatcher, periodic jobs."""
