"""Spending insights: budgets, goals, categorisation, suggestions."""
