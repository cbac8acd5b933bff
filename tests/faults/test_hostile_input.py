"""Hostile arguments and paths: refused by the parser or before reading, in one line,
exit 2, at once (a FIFO would hang a reader forever; /dev/zero would fill memory)."""
import os
import subprocess

import pytest

from tests.faults.conftest import FLAG, NOW, at, here, one_clear_line, rollout

ARGS = [
    (["gate", FLAG, "--window", "999999999d"], "at most 3650d"),
    (["gate", FLAG, "--at", "0001-01-01"], "between 1990 and 2200"),
    (["gate", FLAG, "--at", ""], "expected an ISO-8601 time"),
    (["gate", FLAG, "--window", "0m"], "expected a positive duration"),
    (["guard", "--interval", "nan"], "'nan': expected a number > 0"),
    (["guard", "--interval", "inf"], "'inf': expected a number > 0"),
    (["guard", "--interval", "1e308"], "<= 86400"),
    (["guard", "--interval", "0.2", "--count", "0"], "'0': expected a number >= 1"),
    (["guard", "--interval", "0.2", "--count", "-1"], "'-1': expected a number >= 1"),
    (["guard", "--window", "0m"], "expected a positive duration"),
    (["drill", "--seed", "-1"], "'-1': expected a number >= 0"),
    (["drill", "--rate", "1e9"], "expected a whole number"),
    (["bucket", FLAG, "u", "--percentage", "101"], "<= 100"),
]


def in_process(args, cwd, env, capsys):
    """The real entry point without a new interpreter (the parser's refusals are cheap to
    show in bulk); one case of each kind also runs as a subprocess below."""
    code = here(args, cwd, env)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


@pytest.mark.parametrize("args,words", ARGS, ids=[" ".join(a) or "''" for a, _ in ARGS])
def test_argument_ranges_are_checked_by_the_parser(repo, args, words, capsys):
    try:
        r = in_process(args, repo, {}, capsys)
    except SystemExit as exc:                  # argparse exits
        out, err = capsys.readouterr()
        r = subprocess.CompletedProcess(args, exc.code, out, err)
    line = one_clear_line(r, 2)
    assert words in line and line.startswith("usage: rollout")


def test_argument_ranges_through_a_subprocess(repo):
    line = one_clear_line(rollout(["guard", "--interval", "nan"], repo), 2)
    assert "'nan': expected a number > 0" in line


@pytest.mark.parametrize("value", ["0001-01-01T00:00Z", "9999-12-31", "yesterday"])
def test_rollout_now_out_of_range_is_one_line(repo, value, capsys):
    line = one_clear_line(in_process(["status"], repo, {"ROLLOUT_NOW": value}, capsys), 2)
    assert "ROLLOUT_NOW" in line


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command,path", [
    (["validate"], "/dev/zero"), (["validate"], "/dev/urandom"), (["validate"], "FIFO"),
    (["validate"], "DIR"), (["events", "import"], "/dev/zero"), (["events", "import"], "FIFO")])
def test_devices_fifos_and_directories_are_refused_before_reading(repo, fifo, tmp_path,
                                                                   command, path):
    target = {"FIFO": str(fifo), "DIR": str(tmp_path)}.get(path, path)
    line = one_clear_line(rollout([*command, target], repo), 2)
    assert target in line and "expected a" in line


def test_an_oversized_events_file_is_refused_without_reading_it(repo, tmp_path, monkeypatch):
    big = tmp_path / "big.ndjson"
    with open(big, "wb") as f:                       # sparse: 300 MB that take no disk
        f.truncate(300 * 1024 * 1024)
    line = one_clear_line(rollout(["events", "import", str(big)], repo), 2)
    assert "expected at most" in line


def test_a_store_path_that_is_a_device_is_refused(repo):
    line = one_clear_line(rollout(["status", "--store", "sqlite:////dev/zero"], repo, at(NOW)), 2)
    assert "not a regular file" in line
