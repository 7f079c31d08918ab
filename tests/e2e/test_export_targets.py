"""Where `journey export -o` writes and what `journey verify-export` reads (issue 11, hole 6).

Before the fix the export wrote ``PATH.partial`` and renamed it over whatever ``PATH`` was:
a FIFO, a symbolic link, a device node (as root, ``-o /dev/null`` replaced the device by a
file), an existing export, silently; ``-o -`` wrote a file named ``-``; ``-o ''`` was an
internal error. Now only regular files are written, an existing one only with ``--force``,
``-`` is standard output, and everything else is one clear line with nothing touched.
"""

from __future__ import annotations

import io
import os
import pty
import stat
import subprocess
from pathlib import Path

import fastavro
import pytest

from tests.support import JOURNEY, Journey, line, order, part


@pytest.fixture
def journey(tmp_path: Path) -> Journey:
    journey = Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)
    journey.run("ingest", "-", stdin=b"".join(line(o) + b"\n" for o in (
        order("O1"), order("O2"), part("received", qty=3))))
    return journey


def _refused(result: subprocess.CompletedProcess[bytes], message: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert f"journey: error: {message}" == stderr.strip(), stderr
    assert result.stdout == b""


def _records(data: bytes) -> list[dict[str, object]]:
    return list(fastavro.reader(io.BytesIO(data)))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


def test_a_new_file_is_written_and_verifies(journey: Journey, tmp_path: Path) -> None:
    summary = journey.json("export", "-o", str(tmp_path / "all.avro"))
    assert 4 <= summary["records"] == len(_records((tmp_path / "all.avro").read_bytes()))
    assert journey.json("verify-export", str(tmp_path / "all.avro"))["ok"]
    assert _leftovers(tmp_path) == []


def test_an_existing_file_needs_force(journey: Journey, tmp_path: Path) -> None:
    target = tmp_path / "all.avro"
    target.write_bytes(b"an earlier export")

    refused = journey.run("export", "-o", str(target), check=False)
    kept = target.read_bytes()
    journey.run("export", "-o", str(target), "--force")

    _refused(refused, f"{target} exists: use --force to replace it")
    assert kept == b"an earlier export"
    assert journey.json("verify-export", str(target))["ok"]
    assert _leftovers(tmp_path) == []


def test_a_fifo_is_refused_untouched_even_with_force(journey: Journey, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    plain = journey.run("export", "-o", str(fifo), check=False)
    forced = journey.run("export", "-o", str(fifo), "--force", check=False)

    for result in (plain, forced):
        _refused(result, f"{fifo} is a FIFO: export writes only regular files "
                         "(-o - writes to standard output)")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _leftovers(tmp_path) == []


def test_a_device_is_refused_untouched(journey: Journey, tmp_path: Path) -> None:
    before = os.lstat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)

    result = journey.run("export", "-o", "/dev/null", "--force", check=False)

    _refused(result, "/dev/null is a character device: export writes only regular files "
                     "(-o - writes to standard output)")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (before.st_ino, before.st_rdev) == (after.st_ino, after.st_rdev)
    assert not list(Path("/dev").glob("null.*.partial"))


def test_a_directory_is_refused(journey: Journey, tmp_path: Path) -> None:
    directory = tmp_path / "exports"
    directory.mkdir()
    result = journey.run("export", "-o", str(directory), "--force", check=False)
    _refused(result, f"{directory} is a directory: export writes only regular files "
                     "(-o - writes to standard output)")
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symbolic_link_is_refused_and_not_followed(
        journey: Journey, tmp_path: Path, dangling: bool) -> None:
    pointed = tmp_path / "real.avro"
    if not dangling:
        pointed.write_bytes(b"keep me")
    link = tmp_path / "latest.avro"
    link.symlink_to(pointed)

    result = journey.run("export", "-o", str(link), "--force", check=False)

    _refused(result, f"{link} is a symbolic link: export writes only regular files and "
                     "does not follow links (give the path it points to)")
    assert os.path.islink(link)
    assert pointed == Path(os.readlink(link))
    assert (b"keep me" if not dangling else None) == (
        pointed.read_bytes() if pointed.exists() else None)


def test_dash_is_standard_output_holding_the_container_alone(
        journey: Journey, tmp_path: Path) -> None:
    result = journey.run("export", "-o", "-", "--customer", "C1")

    records = _records(result.stdout)
    assert len(records) == 2
    assert {"C1"} == {r["customer_id"] for r in records}
    assert not (tmp_path / "-").exists()
    assert "exported 2 events to standard output" in result.stderr.decode()
    checked = subprocess.run([JOURNEY, "--db", journey.db, "verify-export", "-", "--json"],
                             input=result.stdout, capture_output=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert b'"ok": true' in checked.stdout


def test_dash_appended_to_a_file_is_still_a_whole_container(
        journey: Journey, tmp_path: Path) -> None:
    # fastavro appends to a seekable stream that is not at its start: never for an export.
    target = tmp_path / "out.avro"
    target.write_bytes(b"")
    with target.open("ab") as out:
        subprocess.run([JOURNEY, "--db", journey.db, "export", "-o", "-"], stdout=out,
                       stderr=subprocess.PIPE, check=True, timeout=120)
    assert journey.json("verify-export", str(target))["ok"]


def test_dash_with_json_is_refused_before_writing(journey: Journey, tmp_path: Path) -> None:
    for args in (("export", "-o", "-", "--json"), ("--json", "export", "-o", "-")):
        _refused(journey.run(*args, check=False),
                 "--json prints the summary on standard output, which -o - uses for the "
                 "export: drop --json (the summary goes to stderr)")
    assert not (tmp_path / "-").exists()


def test_an_empty_output_name_is_a_clear_error(journey: Journey) -> None:
    _refused(journey.run("export", "-o", "", check=False),
             "'' names no file: give a file name (or - for standard output)")


def test_a_missing_directory_is_a_clear_error(journey: Journey, tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "all.avro"
    _refused(journey.run("export", "-o", str(target), check=False),
             f"cannot write {target}: No such file or directory")


def test_verify_export_reads_regular_files_or_standard_input_only(
        journey: Journey, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer: opening it the ordinary way would wait for ever
    directory = tmp_path / "exports"
    directory.mkdir()

    for path, kind in ((fifo, "a FIFO"), (directory, "a directory"),
                       (Path("/dev/null"), "a character device")):
        _refused(journey.run("verify-export", str(path), check=False),
                 f"{path} is {kind}: verify-export reads a regular file "
                 "(or - for standard input)")
    _refused(journey.run("verify-export", "", check=False),
             "'' names no file: give an export file (or - for standard input)")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_verify_export_follows_a_link_to_a_regular_file(
        journey: Journey, tmp_path: Path) -> None:
    journey.run("export", "-o", str(tmp_path / "real.avro"))
    (tmp_path / "latest.avro").symlink_to(tmp_path / "real.avro")
    assert journey.json("verify-export", str(tmp_path / "latest.avro"))["ok"]


def test_dash_refuses_to_print_binary_on_a_terminal(journey: Journey, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([JOURNEY, "--db", journey.db, "export", "-o", "-"],
                                stdout=follower, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(follower)
    os.set_blocking(leader, False)
    try:
        shown = os.read(leader, 4096)
    except OSError:  # nothing was written (EAGAIN), or the terminal is gone (EIO)
        shown = b""
    os.close(leader)
    assert result.returncode == 1
    assert result.stderr.strip() == (b"journey: error: standard output is a terminal: "
                                     b"redirect or pipe -o - (an Avro container is binary)")
    assert b"Obj\x01" not in shown
