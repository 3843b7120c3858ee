"""Alembic migrations, shipped in the package so `tidings migrate` works from anywhere."""
