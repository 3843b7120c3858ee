"""The relay's batch on SQLite: sized to hold the one writer about a budget's time."""

from __future__ import annotations

from tidings.app.notify import paced_batch


def test_a_batch_that_held_the_writer_too_long_shrinks_to_fit_the_budget() -> None:
    assert paced_batch(500, 0.5, most=500, budget_s=0.02) == 20


def test_a_quick_batch_grows_at_most_twofold_and_never_past_the_setting() -> None:
    assert paced_batch(20, 0.001, most=500, budget_s=0.02) == 40
    assert paced_batch(400, 0.001, most=500, budget_s=0.02) == 500


def test_a_batch_never_shrinks_below_one_event() -> None:
    assert paced_batch(3, 10.0, most=500, budget_s=0.02) == 1


def test_an_unmeasurably_quick_batch_doubles() -> None:
    assert paced_batch(8, 0.0, most=500, budget_s=0.02) == 16
