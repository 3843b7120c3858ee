"""SQLite's one writer in a process: handed over in the order writers asked for it."""

from __future__ import annotations

import threading

from tidings.kit.db import WriterLock


def test_writers_get_the_writer_in_the_order_they_asked() -> None:
    lock = WriterLock()
    lock.acquire()
    order: list[int] = []
    threads = []
    for number in range(5):
        thread = threading.Thread(target=_write, args=(lock, order, number))
        thread.start()
        threads.append(thread)
        _wait_until_queued(lock, number + 1)
    lock.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def test_a_releasing_writer_queues_behind_those_already_waiting() -> None:
    lock = WriterLock()
    lock.acquire()
    order: list[str] = []
    waiter = threading.Thread(target=lambda: _record(lock, order, "api"))
    waiter.start()
    _wait_until_queued(lock, 1)
    lock.release()
    lock.acquire()  # the worker, back for its next batch
    order.append("worker")
    lock.release()
    waiter.join()
    assert order == ["api", "worker"]


def test_the_holder_may_take_it_again_and_others_cannot_take_it_without_waiting() -> None:
    lock = WriterLock()
    assert lock.acquire(blocking=False)
    assert lock.acquire(blocking=False)  # re-entrant for its holder
    taken: list[bool] = []
    other = threading.Thread(target=lambda: taken.append(lock.acquire(blocking=False)))
    other.start()
    other.join()
    assert taken == [False]
    lock.release()
    lock.release()
    assert lock.acquire(blocking=False)
    lock.release()


def _write(lock: WriterLock, order: list[int], number: int) -> None:
    lock.acquire()
    order.append(number)
    lock.release()


def _record(lock: WriterLock, order: list[str], name: str) -> None:
    lock.acquire()
    order.append(name)
    lock.release()


def _wait_until_queued(lock: WriterLock, count: int) -> None:
    while lock.waiting < count:
        threading.Event().wait(0.001)
