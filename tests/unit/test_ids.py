"""Ids sort in the order a thread made them, even many within one millisecond, and threads
making ids at once never make the same one."""

from __future__ import annotations

import threading

from tidings.kit.ids import is_id, new_id

MANY = 5_000


def test_ids_one_thread_makes_sort_in_the_order_it_made_them() -> None:
    ids = [new_id("evt") for _ in range(MANY)]  # thousands share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == MANY
    assert all(is_id(made, "evt") for made in ids)


def test_threads_making_ids_at_once_never_make_the_same_one() -> None:
    made: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(new_id("trf") for _ in range(MANY))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [made_id for into in made for made_id in into]
    assert len(set(every)) == len(every)
    for into in made:
        assert into == sorted(into)
