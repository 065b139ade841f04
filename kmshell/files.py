"""Every file kmshell reads or writes goes through this module.

kmshell runs as root on lab machines, and instructors hand scenario and save files to students,
so a file operation must never do more than the user asked:

- Writes go only to regular files. An existing target that is a directory, device, FIFO or
  socket is refused and left untouched; a symbolic link is followed and its target replaced,
  the link kept. Every write is atomic: the text goes to a temporary file in the target's
  directory, is synced, and is renamed over the target, so a full disk or a kill leaves the
  old file whole. The temporary file is removed on any error; one that a killed process
  left (`.NAME.kmshell-PID-N.tmp`) is removed by a later write of the same file. A new file
  gets 0666 less the umask, a replaced one keeps its mode and owner. A recording grows by
  appending (`append_text`), cut back to its last whole line if the disk fills.
- Reads come only from regular files of at most MAX_READ bytes, decoded as UTF-8 with or
  without a byte-order mark, so `load /dev/zero` is an error instead of an endless read.
- Lines run from a scenario or a save file do not write unless the user allowed it
  (`WriteRule`): `kmshell run --allow-writes DIR` confines them below DIR.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from kmshell.nt.rtl import printable

MAX_READ = 4 * 1024 * 1024  # the largest scenario, driver spec or save file read (4 MiB)


class FileError(Exception):
    """A file could not be read or written; the message says which and why, with any control
    character in a file name escaped, so it is safe to print."""

    def __init__(self, message: str):
        super().__init__(printable(message))


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _require_regular(name: str, info: os.stat_result, what: str) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise FileError(f"{name} is {kind}; a {what} must be a regular file")


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The text of a regular file of at most MAX_READ bytes; FileError says what is wrong."""
    name = os.fspath(path)
    try:
        _require_regular(name, os.stat(name), what)
        # O_NONBLOCK: had it become a FIFO since, opening must not wait for a writer.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileError(f"{name}: no such file") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise FileError(f"{name}: cannot read it: {_reason(error)}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        _require_regular(name, info, what)
        if info.st_size > MAX_READ:
            raise FileError(f"{name} is {info.st_size:,} bytes; a {what} may be at most "
                            f"{MAX_READ:,} bytes")
        try:
            data = file.read(MAX_READ + 1)
        except OSError as error:
            raise FileError(f"{name}: cannot read it: {_reason(error)}") from None
    if len(data) > MAX_READ:  # it grew while we read it
        raise FileError(f"{name} is over {MAX_READ:,} bytes; a {what} may be at most that")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileError(f"{name} is not UTF-8 text (byte {error.start + 1} is "
                        f"0x{data[error.start]:02X})") from None


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Replace (or create) the regular file at path with text, atomically; returns the path
    written (a symbolic link's target). FileError says what is wrong; nothing is changed then.
    """
    name = os.fspath(path)
    if not name or name.endswith(os.sep):
        raise FileError(f"cannot write '{name}': " + ("no file name given" if not name else
                                                      "a name ending in / names a directory"))
    try:
        target = Path(os.path.realpath(name))
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    except (OSError, ValueError) as error:
        raise FileError(f"cannot write {name}: {_reason(error)}") from None
    if existing is not None and (kind := _kind(existing.st_mode)) is not None:
        raise FileError(f"cannot write {name}: it is {kind}; kmshell writes only regular files")
    data = text.encode("utf-8", "backslashreplace")  # never fails, whatever text holds
    try:
        _replace(target, data, existing)
    except OSError as error:
        raise FileError(f"cannot write {name}: {_reason(error)}") from None
    return target


def append_text(path: Path, text: str) -> None:
    """Add text at the end of the regular file at path, which write_text returned (a
    recording, a line at a time, without rewriting what is there). A link put in its place
    since is not followed; on an error the file is cut back to what it was."""
    data = text.encode("utf-8", "backslashreplace")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise FileError(f"cannot write {path}: {_reason(error)}") from None
    try:
        info = os.fstat(fd)
        if (kind := _kind(info.st_mode)) is not None:
            raise FileError(f"cannot write {path}: it is {kind} now")
        try:
            _write_all(fd, data)
        except OSError:
            os.ftruncate(fd, info.st_size)  # no half line: the file stays a valid scenario
            raise
    except OSError as error:
        raise FileError(f"cannot write {path}: {_reason(error)}") from None
    finally:
        os.close(fd)


def _replace(target: Path, data: bytes, existing: os.stat_result | None) -> None:
    _sweep(target)
    fd, temporary = _temporary(target)
    try:
        _write_all(fd, data)
        if existing is not None:  # a replaced file keeps its mode and, where we may, its owner
            os.fchmod(fd, stat.S_IMODE(existing.st_mode))
            try:
                os.fchown(fd, existing.st_uid, existing.st_gid)
            except PermissionError:
                pass
        os.fsync(fd)
        os.replace(temporary, target)
    except BaseException:
        _unlink(temporary)
        raise
    finally:
        os.close(fd)


def _temporary(target: Path) -> tuple[int, str]:
    """A new file beside target, named as only kmshell names its temporary files
    (`.NAME.kmshell-PID-N.tmp`), with 0666 less the umask as a new file of the user's gets."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(100):
        temporary = str(target.parent / f".{target.name}.kmshell-{os.getpid()}-{attempt}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary file name", str(target.parent))


STALE_SECONDS = 60  # a write takes milliseconds: a temporary file this old is abandoned


def _sweep(target: Path) -> None:
    """Remove what a killed writer of target left: SIGKILL or a power cut gives a process no
    chance to clean up, so the next write does. Only files named as kmshell names its
    temporaries, whose writer is gone from this machine and which nobody has touched for a
    minute, so a write still under way elsewhere (another container, a network share) is
    never disturbed. (An unnamed O_TMPFILE would leave nothing at all, but linking one into
    place through /proc is refused on some file systems, this sandbox's among them.)"""
    prefix, suffix = f".{target.name}.kmshell-", ".tmp"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        pid, dash, attempt = name[len(prefix):-len(suffix)].partition("-")
        if not (name.startswith(prefix) and name.endswith(suffix) and dash
                and pid.isascii() and pid.isdigit() and attempt.isascii() and attempt.isdigit()):
            continue
        path = str(target.parent / name)
        try:
            if time.time() - os.lstat(path).st_mtime < STALE_SECONDS:
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its writer is gone
            _unlink(path)
        except (OSError, OverflowError, ValueError):
            pass  # alive, gone already, or not ours to judge


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@dataclass(frozen=True)
class WriteRule:
    """Where lines may write files. In the shell, wherever the user names; in a scenario or
    a save file, nowhere unless `--allow-writes DIR`, and then only below DIR."""

    allowed: bool = True
    root: Path | None = None  # when set, writes must land below this directory
    why: str = ""  # why writes are refused, with what would allow them

    @classmethod
    def below(cls, directory: str | os.PathLike[str]) -> WriteRule:
        return cls(True, Path(os.path.realpath(directory)))

    def check(self, path: str, folder: str | os.PathLike[str] | None = None) -> str:
        """The path a line may write, or FileError. A relative path is taken from folder (the
        folder of the scenario the line comes from, as every other command takes it, so a
        scenario can `load` what it `save`d) or, without one, the current directory; it must
        still land below root. Messages name the path as the line gave it."""
        if not self.allowed:
            raise FileError(f"refused to write {path}: {self.why}")
        full = os.path.join(folder, path) if folder is not None and path and \
            not os.path.isabs(path) else path
        if self.root is None:
            return full
        try:
            real = Path(os.path.realpath(full))
        except (OSError, ValueError) as error:
            raise FileError(f"cannot write {path}: {_reason(error)}") from None
        if not real.is_relative_to(self.root):
            raise FileError(f"refused to write {path}: it is outside {self.root}, the "
                            "directory --allow-writes names")
        return str(real)


ANYWHERE = WriteRule()
