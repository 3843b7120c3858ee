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
        _open_locks.add(self)

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take it, waiting for another process to let go unless not `blocking` (then False
        if it is held elsewhere). Taking it again while holding it is a no-op."""
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(self._open(), flags)
        except BlockingIOError:
            return False
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
                    # Read-only is enough for flock, so a process of another user that
                    # may write the database may lock it too (the umask decides, as for
                    # the database file itself).
                    self._descriptor = os.open(
                        self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666
                    )
                descriptor = self._descriptor
        return descriptor

    def _forget_after_fork(self) -> None:
        # The child shares the parent's open file, and with it the parent's lock: it opens
        # its own on next use (closing the shared one lets go of nothing the parent holds).
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        self._mutex = threading.Lock()


_open_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_open_locks):
        lock._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
