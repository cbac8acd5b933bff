"""The rollout command end to end: a temporary git repository and SQLite store."""
import json
import sqlite3

import pytest

from tests.cli import git, make_repo, rollout, set_percentage


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


def test_reconcile_is_idempotent_and_records_history(repo):
    r = rollout(["reconcile"], repo)
    assert r.returncode == 0, r.stderr
    assert "create the flag at 0%" in r.stdout
    again = rollout(["reconcile", "--output", "json"], repo)
    assert again.returncode == 0
    assert json.loads(again.stdout)["outcomes"][0]["action"] == "noop"
    db = sqlite3.connect(repo / ".rollout/flags.db")
    assert db.execute("SELECT name, percentage, enabled, version FROM feature_flags").fetchall() == [
        ("skills_rollout", 0, 0, 1)]
    rows = db.execute("SELECT kind, from_pct, to_pct, git_commit, actor FROM rollout_history").fetchall()
    head = __import__("subprocess").run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                        text=True).stdout.strip()
    assert rows == [("applied", None, 0, head, "tester")]


def test_walk_the_ladder_with_soak(repo):
    env = {"ROLLOUT_NOW": "2026-11-02T09:00:00Z"}
    assert rollout(["reconcile"], repo, env).returncode == 0
    set_percentage(repo, 5)
    r = rollout(["reconcile"], repo, env)
    assert r.returncode == 0 and "step up 0% → 5%" in r.stdout
    set_percentage(repo, 25)
    held = rollout(["reconcile"], repo, {"ROLLOUT_NOW": "2026-11-03T09:00:00Z"})
    assert held.returncode == 1
    assert "24h of 72h served, 48h remaining" in held.stdout
    status = json.loads(rollout(["status", "-o", "json"], repo,
                                {"ROLLOUT_NOW": "2026-11-03T09:00:00Z"}).stdout)["flags"][0]
    assert (status["desired"], status["applied"], status["step"], status["soak_remaining"]) == (
        25, 5, "canary", "48h")
    assert status["last_decision"]["kind"] == "held"
    hist = json.loads(rollout(["history", "skills_rollout", "-o", "json"], repo).stdout)
    assert [(h["kind"], h["from"], h["to"]) for h in hist] == [
        ("applied", None, 0), ("applied", 0, 5), ("held", 5, 25)]


def test_step_down_applies_at_once(repo):
    env = {"ROLLOUT_NOW": "2026-11-02T09:00:00Z"}
    set_percentage(repo, 5)
    assert rollout(["reconcile"], repo, env).returncode == 0
    set_percentage(repo, 0)
    r = rollout(["reconcile"], repo, {"ROLLOUT_NOW": "2026-11-02T09:05:00Z"})
    assert r.returncode == 0 and "rollback is always allowed" in r.stdout


def test_dry_run_writes_nothing(repo):
    r = rollout(["reconcile", "--dry-run"], repo)
    assert r.returncode == 0 and "(dry run) apply" in r.stdout
    db = sqlite3.connect(repo / ".rollout/flags.db")
    assert db.execute("SELECT count(*) FROM feature_flags").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM rollout_history").fetchone() == (0,)


def test_store_from_environment(repo, tmp_path):
    url = f"sqlite:///{tmp_path}/elsewhere.db"
    assert rollout(["reconcile"], repo, {"ROLLOUT_STORE": url}).returncode == 0
    assert (tmp_path / "elsewhere.db").exists() and not (repo / ".rollout").exists()


MOVES = [(5, 0, "ok: one step up 0% → 5%"), (25, 1, "skips step canary"),
         (0, 0, "percentage unchanged")]


@pytest.mark.parametrize("pct,code,text", MOVES)
def test_validate_base_judges_the_pull_request(repo, pct, code, text):
    git(repo, "checkout", "-qb", "phase-change")
    set_percentage(repo, pct, commit=False)
    r = rollout(["validate", "--base", "main"], repo)
    assert r.returncode == code, r.stdout + r.stderr
    assert text in r.stdout


def test_changed_lists_flags_whose_percentage_moved(repo):
    set_percentage(repo, 5, commit=False)
    assert rollout(["changed", "--base", "main"], repo).stdout.split() == ["skills_rollout"]
    set_percentage(repo, 0, commit=False)
    assert rollout(["changed", "--base", "main"], repo).stdout == ""


def test_bucket_matches_the_vectors(repo):
    r = rollout(["bucket", "skills_rollout", "user-42", "--percentage", "100"], repo)
    assert r.returncode == 0
    assert "bucket 84; in at 100% (what-if)" in r.stdout


def test_help_has_examples_for_every_command(repo):
    from rollout.cli.main import COMMANDS
    for name in COMMANDS:
        r = rollout([name, "--help"], repo)
        assert r.returncode == 0 and "examples:" in r.stdout, name


BAD_FILES = [
    ("invalid yaml", "flag: skills_rollout\npercentage: [\n", "line"),
    ("yaml tag", "flag: !!python/object:os.system skills_rollout\n", "tag"),
    ("alias bomb", "a: &a [1,1,1,1]\nb: [*a,*a,*a,*a]\n", "anchors and aliases are not allowed"),
    ("duplicate key", "flag: skills_rollout\npercentage: 5\npercentage: 25\n", "duplicate key 'percentage'"),
    ("empty", "", "file is empty"),
    ("binary", b"\x00\x01\x02PNG", "binary file"),
    ("huge", "# " + "x" * (21 * 1024 * 1024), "expected at most"),
    ("unknown key", "flag: skills_rollout\npercentage: 5\nladder: []\nprecentage: 5\n", "unknown key 'precentage'"),
    ("wrong type", "flag: skills_rollout\npercentage: '5'\nladder: [{percentage: 0, step: 'off'}, {percentage: 100, step: full}]\n",
     "field percentage: '5' is not of type 'integer'"),
    ("off ladder", "flag: skills_rollout\npercentage: 10\nladder: [{percentage: 0, step: 'off'}, {percentage: 5, step: canary}, {percentage: 100, step: full}]\n",
     "field percentage: 10 is not on the ladder, expected one of 0, 5, 100"),
    ("not a mapping", "- 1\n- 2\n", "expected a mapping"),
    ("sql in the flag name", "flag: \"x'; DROP TABLE feature_flags;--\"\npercentage: 0\nladder: [{percentage: 0, step: 'off'}, {percentage: 100, step: full}]\n",
     "is not a plain identifier"),
    ("bad soak", "flag: skills_rollout\npercentage: 0\nladder: [{percentage: 0, step: 'off'}, {percentage: 100, step: full, soak: 3 days}]\n",
     "field ladder.1.soak"),
    ("ladder not rising", "flag: skills_rollout\npercentage: 0\nladder: [{percentage: 0, step: 'off'}, {percentage: 25, step: b}, {percentage: 5, step: c}, {percentage: 100, step: full}]\n",
     "must rise strictly from 0 to 100"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_one_line_exit_2_nothing_applied(repo, name, content, message):
    path = repo / "rollout/flags/skills_rollout.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for cmd in (["validate"], ["reconcile"]):
        r = rollout(cmd, repo)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert message in r.stderr
        assert "skills_rollout.yaml" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (repo / ".rollout").exists()


def test_bad_file_name_is_rejected(repo):
    (repo / "rollout/flags/Bad-Name.yaml").write_text("flag: x\n")
    r = rollout(["validate"], repo)
    assert r.returncode == 2 and "Bad-Name.yaml" in r.stderr and "plain identifier" in r.stderr


BAD_ARGS = [
    (["history", "robert'); DROP TABLE"], "is not a plain identifier"),
    (["reconcile", "--store", "mysql://x"], "unknown scheme 'mysql'"),
    (["reconcile", "--store", "sqlite://"], "expected sqlite:///relative/path.db"),
    (["validate", "--base", "no-such-ref"], "not a git revision"),
    (["bucket", "skills_rollout", "u", "--percentage", "101"], "expected a number >= 0 and <= 100"),
    (["bucket", "nope", "u"], "no file rollout/flags/nope.yaml"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args,message", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments(repo, args, message):
    r = rollout(args, repo)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_validate_with_metrics_runs_the_gate_for_a_step_up(repo, tmp_path):
    """A pull request raising 5 -> 25 while the gate holds fails its check with the table."""
    env = {"ROLLOUT_NOW": "2026-11-02T09:00:00Z"}
    set_percentage(repo, 5)
    assert rollout(["reconcile"], repo, env).returncode == 0
    git(repo, "checkout", "-qb", "to-beta")
    set_percentage(repo, 25, commit=False)
    summary = tmp_path / "summary.md"
    r = rollout(["validate", "--base", "main", "--metrics",
                 f"sqlite:///{repo}/.rollout/flags.db"], repo,
                {"ROLLOUT_NOW": "2026-11-06T09:00:00Z", "GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 1, r.stdout + r.stderr      # no traffic: inconclusive holds
    assert "ok: one step up 5% → 25% (beta)" in r.stdout
    assert "| Metric | Canary | Control |" in r.stdout and "inconclusive" in r.stdout
    assert "| Metric | Canary | Control |" in summary.read_text()
    # a step down needs no gate
    set_percentage(repo, 0, commit=False)
    assert rollout(["validate", "--base", "main", "--metrics", "sqlite:///x.db"], repo,
                   env).returncode == 0
