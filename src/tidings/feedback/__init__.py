"""Feedback: surveys, responses, tickets, analytics."""
