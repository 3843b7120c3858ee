"""Insights operations: tracking budgets and goals on the posting path, spending views and
suggestions. Stateless; never commits."""
