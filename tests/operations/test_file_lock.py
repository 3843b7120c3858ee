"""`FileLock.acquire(timeout=…)`: a wait with a limit on an `flock`. Two `FileLock`s on one
path conflict as two processes do (a lock belongs to the open file), so one process shows it."""

from __future__ import annotations

import threading
from pathlib import Path

from tidings.kit.filelock import FileLock

# Only bounds waits that must succeed; never reached when the lock works.
GENEROUS_S = 30.0


def test_a_wait_with_a_limit_gives_up_while_the_lock_is_held_elsewhere(tmp_path: Path) -> None:
    holder, waiter = FileLock(tmp_path / "x.writer"), FileLock(tmp_path / "x.writer")
    assert holder.acquire()

    assert waiter.acquire(timeout=0.05) is False
    assert waiter.acquire(timeout=0.05) is False  # again, while the first wait still blocks
    holder.release()


def test_a_wait_with_a_limit_gets_the_lock_when_it_is_let_go_and_then_holds_it(
    tmp_path: Path,
) -> None:
    holder, waiter = FileLock(tmp_path / "x.writer"), FileLock(tmp_path / "x.writer")
    assert holder.acquire()
    let_go = threading.Timer(0.1, holder.release)
    let_go.start()

    assert waiter.acquire(timeout=GENEROUS_S) is True
    let_go.join()
    assert holder.acquire(blocking=False) is False  # the waiter holds it now
    waiter.release()
    assert holder.acquire(blocking=False) is True  # and has let go of it


def test_a_wait_given_up_lets_go_of_the_lock_it_gets_later(tmp_path: Path) -> None:
    holder, waiter = FileLock(tmp_path / "x.writer"), FileLock(tmp_path / "x.writer")
    assert holder.acquire()
    assert waiter.acquire(timeout=0.05) is False
    holder.release()

    # The given-up wait gets the lock once it is free, and lets go of it at once.
    assert holder.acquire(timeout=GENEROUS_S) is True
    holder.release()
    assert waiter.acquire(timeout=GENEROUS_S) is True
    assert holder.acquire(blocking=False) is False
    waiter.release()
