"""kmshell.files: what kmshell writes and reads, as root on a shared machine.

Writes go only to regular files, atomically, keeping modes; reads come only from regular
files of bounded size. Every command that writes (save, record, export, --export-html,
--junit) goes through the same module, so each rule is checked here once and then per
command where the command adds something (a message, a stopped recording).
"""

from __future__ import annotations

import errno
import io
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmshell import files
from kmshell.files import FileError, read_text, write_text
from kmshell.session import Session
from kmshell.shell.app import default_history
from kmshell.views.outcome import render_outcome


def special_files(directory: Path) -> dict[str, Path]:
    """A directory, a FIFO, a socket and (as root) a character device like the null one,
    all inside directory."""
    made = {"directory": directory / "adir", "FIFO": directory / "fifo",
            "socket": directory / "sock"}
    made["directory"].mkdir()
    os.mkfifo(made["FIFO"])
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(made["socket"]))
    try:
        os.mknod(directory / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["character device"] = directory / "null"
    except PermissionError:
        pass  # not root: the other kinds still show the rule
    return made


def leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_save_refuses_a_device_fifo_socket_or_directory_and_leaves_it_untouched(tmp_path):
    session = Session()
    for kind, path in special_files(tmp_path).items():
        before = os.lstat(path)
        outcome = session.execute(f"save {path}")
        assert not outcome.ok and "kmshell writes only regular files" in outcome.error.message
        after = os.lstat(path)
        assert (stat.S_IFMT(after.st_mode), after.st_ino, after.st_rdev) == \
            (stat.S_IFMT(before.st_mode), before.st_ino, before.st_rdev), kind
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "adir") == []


def test_save_to_dot_or_a_directory_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    session = Session()
    for target in (".", "adir", "adir/"):
        assert not session.execute(f"save {target}").ok
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "adir") == []


def test_a_symlink_is_followed_its_target_replaced_and_the_link_kept(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert Session().execute(f"save {link}").ok
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert '"format": "kmshell-session"' in target.read_text()


def test_a_new_file_gets_0666_less_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path):
    old_mask = os.umask(0o027)
    try:
        write_text(tmp_path / "new.txt", "a")
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o604)
        write_text(kept, "new")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604 and kept.read_text() == "new"


def no_space(fd, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("line", ["save {}", "export html {}", "export svg {}"])
def test_a_full_disk_leaves_the_old_file_whole_and_no_temporary_file(tmp_path, monkeypatch,
                                                                     line):
    from kmshell.views.console import make_console

    target = tmp_path / "out"
    target.write_text("the old contents")
    session = Session()
    session.console = make_console(file=io.StringIO(), record=True)
    session.console.print("something shown")
    monkeypatch.setattr(files, "_write_all", no_space)
    outcome = session.execute(line.format(target))
    assert not outcome.ok and "No space left on device" in outcome.error.message
    assert target.read_text() == "the old contents" and leftovers(tmp_path) == []


def test_recording_onto_a_full_disk_says_so_stops_and_keeps_the_lines_written(tmp_path,
                                                                            monkeypatch):
    path = tmp_path / "mine.kms"
    session = Session()
    for line in (f"record {path}", "process create a.exe"):
        assert session.execute(line).ok
    monkeypatch.setattr(files, "_write_all", no_space)
    outcome = session.execute("step 2")
    assert outcome.ok and session.recorder is None
    assert any("recording stopped" in str(part) and "No space left" in str(part)
               for part in render_outcome(outcome, session.settings))  # what the user sees
    assert path.read_text().splitlines()[-1] == "process create a.exe"
    assert leftovers(tmp_path) == []


def test_record_leaves_an_existing_file_whole_until_it_can_replace_it(tmp_path, monkeypatch):
    path = tmp_path / "lesson.kms"
    path.write_text("say my old lesson\n")
    monkeypatch.setattr(files, "_write_all", no_space)
    outcome = Session().execute(f"record {path}")
    assert not outcome.ok and path.read_text() == "say my old lesson\n"


KILLED_WRITER = """
import os, signal, sys
from kmshell import files
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write
files.write_text(sys.argv[1], "new")
"""


def test_a_killed_writer_leaves_the_old_file_and_the_next_write_removes_its_temporary(
        tmp_path):
    target = tmp_path / "lab.json"
    target.write_text("old")
    child = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False)
    assert child.returncode == -9 and target.read_text() == "old"
    [left] = leftovers(tmp_path)  # the dead writer's: nobody could remove it then
    write_text(target, "newer")  # a minute has not passed: it may be a write under way
    assert leftovers(tmp_path) == [left]
    old = time.time() - files.STALE_SECONDS - 1
    os.utime(tmp_path / left, (old, old))
    (tmp_path / ".lab.json.12345.0.tmp").write_text("someone else's")
    write_text(target, "newest")
    assert target.read_text() == "newest"
    assert leftovers(tmp_path) == [".lab.json.12345.0.tmp"]  # only kmshell's own are swept


def test_the_shell_history_file_is_private_as_shells_keep_theirs(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_state_dir", lambda name: str(tmp_path / name))
    history = default_history()
    history.append_string("process create a.exe")
    path = tmp_path / "kmshell" / "history"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_reads_refuse_devices_fifos_sockets_and_directories(tmp_path):
    for path in special_files(tmp_path).values():
        with pytest.raises(FileError, match="must be a regular file"):
            read_text(path, "scenario")


def test_reads_refuse_a_file_over_the_limit_without_reading_it(tmp_path):
    big = tmp_path / "big.kms"
    with open(big, "wb") as file:
        file.truncate(files.MAX_READ + 1)  # sparse: nothing is really written
    with pytest.raises(FileError, match="may be at most 4,194,304 bytes"):
        read_text(big, "scenario")


@pytest.mark.parametrize("line", ["load {}", "replay {}", "driver load {}"])
def test_load_replay_and_driver_load_of_a_device_are_clear_errors(tmp_path, line):
    from kmshell.views.console import make_console

    made = special_files(tmp_path)
    device = made.get("character device", made["FIFO"])
    link = tmp_path / "zero.toml"  # driver load reads FILE.toml: a link with that name
    link.symlink_to(device)
    session = Session()
    session.console = make_console(file=io.StringIO())
    outcome = session.execute(line.format(link))
    assert not outcome.ok and "must be a regular file" in outcome.error.message


def test_a_byte_order_mark_and_crlf_line_ends_are_read_as_plain_text(tmp_path):
    path = tmp_path / "bom.kms"
    path.write_bytes(b"\xef\xbb\xbftitle BOM\r\nprocess create a.exe\r\nexpect process a.exe "
                     b"state == Active\r\n")
    assert read_text(path, "scenario").startswith("title BOM\r\n")
    result = subprocess.run([sys.executable, "-m", "kmshell", "check", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("option", [["--junit", ""], ["--junit", "sub/"]])
def test_an_empty_or_directory_output_name_is_an_error_not_ignored(tmp_path, option):
    (tmp_path / "lab.kms").write_text("step\n")
    result = subprocess.run([sys.executable, "-m", "kmshell", "check", "lab.kms", *option],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "cannot write" in result.stderr
    assert os.listdir(tmp_path) == ["lab.kms"]


def test_save_to_a_name_ending_in_a_slash_writes_nothing(tmp_path):
    (tmp_path / "ok.json").write_text("mine")
    outcome = Session().execute(f"save {tmp_path / 'ok.json'}/")
    assert "a name ending in / names a directory" in outcome.error.message
    assert (tmp_path / "ok.json").read_text() == "mine"


def test_the_history_file_is_not_followed_through_a_link(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_state_dir", lambda name: str(tmp_path / name))
    (tmp_path / "kmshell").mkdir()
    made = special_files(tmp_path)
    device = made.get("character device", made["FIFO"])
    before = os.stat(device)
    (tmp_path / "kmshell" / "history").symlink_to(device)
    assert type(default_history()).__name__ == "InMemoryHistory"
    assert os.stat(device).st_mode == before.st_mode
