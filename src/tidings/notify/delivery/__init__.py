"""Delivering planned notices: the dispatcher, authenticity codes, provider receipts."""
