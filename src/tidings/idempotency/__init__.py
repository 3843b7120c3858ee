"""Idempotency keys: the same key with the same body returns the first result."""
