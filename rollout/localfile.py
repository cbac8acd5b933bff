"""Reading a file named by the user: regular files only, size-capped, checked first.

`/dev/zero` or `/dev/urandom` given as a flag or events file would be read until memory
runs out, and a FIFO would block forever on open or read. So a path is opened without
blocking, checked with fstat on the very descriptor that is read (no gap for a swap
between check and read), and refused in one line unless it is a regular file within
the size limit. Exit 2: the user named the wrong thing.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from rollout.errors import UserError


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _open(path: Path, expected: str) -> int:
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected {expected}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _checked(fd: int, path: Path, max_bytes: int, expected: str) -> int:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path}: is {_kind(st.st_mode)}, expected {expected}")
    if st.st_size > max_bytes:
        raise UserError(f"{path}: file is {st.st_size} bytes, expected at most {max_bytes}")
    return st.st_size


def check_regular_file(path: Path, expected: str = "a regular file") -> None:
    """UserError unless `path` is a regular file (without reading it)."""
    fd = _open(path, expected)
    try:
        _checked(fd, path, 1 << 62, expected)
    finally:
        os.close(fd)


def read_regular_file(path: Path, max_bytes: int, expected: str = "a regular file") -> bytes:
    """The bytes of `path`, or a one-line UserError: missing, not a regular file, larger
    than max_bytes (also if it grows past it while being read), unreadable."""
    fd = _open(path, expected)
    try:
        _checked(fd, path, max_bytes, expected)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:
                raise UserError(f"{path}: file is over {max_bytes} bytes, expected at most "
                                f"{max_bytes}")
            chunks.append(chunk)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
