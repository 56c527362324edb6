"""The one file lock: `fcntl.flock` on a lock file, in two uses.

- `FolderLock(dir)`: one writer per run folder and per study folder, on DIR/.lock, held while a process writes
  there; a second writer is refused at once (UserError naming the holder's PID).
- `wait_lock(path)`: parallel study jobs that need the same cache entry (the quality classifier, a real-data
  floor) wait their turn on PATH.lock, so it is built once, not once each.

`fcntl.flock` belongs to the open file, so the kernel drops it when the holder exits, however it exits
(kill -9 included): a lock can never be stale (a file left by a killed holder is simply locked again).
The holder writes its PID into the file so that a refused second writer can say who holds the folder,
and deletes the file on release while still holding it; a process that locked a file already deleted
(it opened it just before) sees that the path no longer names its file and tries again, so two
processes never hold two files of one name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from gan.errors import UserError
from gan.files.layout import LOCK_FILE


class FolderLock:
    """`with FolderLock(dir, "run folder"):` holds dir/.lock exclusively; a second holder gets a UserError."""

    def __init__(self, folder: str | Path, what: str = "folder") -> None:
        self.folder, self.what = Path(folder), what
        self._fh = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE  # RunDir.lock / StudyDir.lock: any folder of either kind

    def acquire(self) -> "FolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fh = open(self.path, "a+", encoding="utf-8")  # not inherited by child processes (Python's default)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                pid = fh.read().strip() or "unknown"
                fh.close()
                raise UserError(f"the {self.what} '{self.folder}' is in use by another gan process (PID {pid}); "
                                f"wait for it to finish or stop it (kill {pid}), then run this command again") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()  # the holder before us deleted this file as we opened it: lock the new one
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self.path.unlink(missing_ok=True)  # still locked: nobody can take the file we delete
            self._fh.close()  # closing drops the lock
            self._fh = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def wait_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`.lock, waiting for the holder to finish (a cache entry built once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
