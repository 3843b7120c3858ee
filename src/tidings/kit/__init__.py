"""Shared building blocks: storage, money, ids, clocks, errors, pagination."""
