"""An exclusive lock shared by every process on this machine: `flock` on a file.

The kernel drops it when the process holding it dies, however it dies, so nothing is left
to clean up. It belongs to the open file, not to a thread: the threads of one process share
it and must exclude each other by other means.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from pathlib import Path


class FileLock:
    """One exclusive `flock` on `path` (created if missing), opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._mutex = threading.Lock()
        self._waiter: _Waiter | None = None
        _open_locks.add(self)

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take it, waiting for another process to let go unless not `blocking` (then False
        if it is held elsewhere), and for at most `timeout` seconds if given (then False if
        it was not let go by then). Taking it again while holding it is a no-op.

        Python has no timed `flock`: a free lock is taken at once (`LOCK_NB`), and a wait
        with a limit is handed to a thread blocked in `flock` on a file of its own, which the
        kernel wakes the moment the lock is free (`_Waiter`), while the caller waits for that
        thread with the limit."""
        descriptor = self._open()
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not blocking:
                return False
            if timeout is None:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                return True
            return self._wait(timeout)
        return True

    def release(self) -> None:
        fcntl.flock(self._open(), fcntl.LOCK_UN)

    def __enter__(self) -> FileLock:
        """Held for the block, waiting for another process to let go first."""
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def close(self) -> None:
        """Let go of it and of the file (it is opened again on the next `acquire`)."""
        with self._mutex:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None

    def _open(self) -> int:
        descriptor = self._descriptor
        if descriptor is None:
            with self._mutex:
                if self._descriptor is None:
                    self._descriptor = _open_for_flock(self.path)
                descriptor = self._descriptor
        return descriptor

    def _wait(self, timeout: float) -> bool:
        with self._mutex:
            waiter = self._waiter
            if waiter is None:
                waiter = self._waiter = _Waiter(self)
            waiter.ask()
        taken = waiter.taken.acquire(timeout=max(timeout, 0.0))
        with self._mutex:
            # Taken just after the time ran out is taken all the same.
            if not taken and not waiter.taken.acquire(blocking=False):
                waiter.wanted = False  # it lets go as soon as it gets it
                return False
            # Its file now holds the lock: it becomes the one this lock releases, and this
            # one's (which held nothing: the lock was elsewhere) the waiter's next.
            assert self._descriptor is not None
            self._descriptor, waiter.descriptor = waiter.descriptor, self._descriptor
        return True

    def _forget_after_fork(self) -> None:
        # The child shares the parent's open file, and with it the parent's lock: it opens
        # its own on next use (closing the shared one lets go of nothing the parent holds).
        # The waiter's thread does not exist in the child.
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        if self._waiter is not None:
            os.close(self._waiter.descriptor)
            self._waiter = None
        self._mutex = threading.Lock()


class _Waiter:
    """A thread that waits in `flock` for a `FileLock` whose caller waits with a limit.

    `flock` cannot be interrupted, so a caller that gives up cannot wait in it itself. The
    thread waits on an open file of its own (a lock belongs to the open file, so it never
    shares the lock with the caller's file): when it gets the lock, it hands its file over
    to the caller if still wanted, or lets go at once. Started on the first wait and kept
    (one per `FileLock`, blocked on a `threading.Lock` while idle): a contended wait costs
    two wake-ups, not a new thread; a caller that waits again while it is still blocked
    from a wait given up carries on with it."""

    def __init__(self, lock: FileLock) -> None:
        self.descriptor = _open_for_flock(lock.path)
        self.wanted = False  # under the FileLock's mutex, as are `waiting` and `descriptor`
        self.waiting = False
        self._asked = threading.Lock()
        self._asked.acquire()
        self.taken = threading.Lock()
        self.taken.acquire()
        threading.Thread(
            target=self._serve, args=(lock,), name="filelock-waiter", daemon=True
        ).start()

    def ask(self) -> None:
        """Wait for the lock (unless still waiting from a wait given up); under the mutex."""
        self.wanted = True
        if not self.waiting:
            self.waiting = True
            self._asked.release()

    def _serve(self, lock: FileLock) -> None:
        while True:
            self._asked.acquire()
            fcntl.flock(self.descriptor, fcntl.LOCK_EX)
            with lock._mutex:
                self.waiting = False
                if self.wanted:
                    self.wanted = False
                    self.taken.release()
                else:
                    fcntl.flock(self.descriptor, fcntl.LOCK_UN)  # nobody waits any more


def _open_for_flock(path: Path) -> int:
    # Read-only is enough for flock, so a process of another user that may write the
    # database may lock it too (the umask decides, as for the database file itself).
    return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)


_open_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_open_locks):
        lock._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
