"""`rollout drill` against the staging store (a real PostgreSQL, tests/pg.py): a flag of
its own, the real flag never touched, the outcome recorded as `drill` evidence of the
real flag in the production store, and no password anywhere."""
import json

import pytest

from dataclasses import replace
from datetime import datetime, timezone

from rollout.adapters.store import open_store
from rollout.core.state import APPLIED, Event
from rollout.drill_staging import drill_flag, leave_at_zero, same_place
from rollout.errors import UserError
from rollout.flagfiles import find_flag
from tests import pg
from tests.cli import ROOT, rollout

FLAG = "skills_rollout"


@pytest.fixture
def staging():
    cluster = pg.cluster()
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


def drill(staging, prod, *args):
    return rollout(["drill", "--store", staging, "--record-in", prod, *args], ROOT,
                   {"ROLLOUT_NOW": "2026-11-20T09:00:00Z", "ROLLOUT_ACTOR": "ci"})


def test_a_staging_drill_walks_its_own_flag_and_records_evidence_in_production(staging, tmp_path):
    prod = f"sqlite:///{tmp_path}/prod.db"
    r = drill(staging, prod, "--fault", "error-rate", "--output", "json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    out = json.loads(r.stdout)
    assert out["rolled_back"] and out["as_expected"]
    name = out["drill_flag"]
    assert name.startswith(f"{FLAG}__drill_20261120090000_")
    with open_store(staging) as s:
        assert s.read(FLAG) is None and s.history(FLAG) == []     # the real flag: untouched
        assert s.read(name).percentage == 0
        assert [e.kind for e in s.history(name)][-1] == "aborted"     # the guard's rollback
    with open_store(prod) as s:
        (row,) = s.history(FLAG)
        assert s.read(FLAG) is None                    # evidence only, no flag change
    ev = row.evidence
    assert (row.kind, row.actor, ev["verdict"], ev["fault"], ev["tests"]) == (
        "drill", "ci", "pass", "error-rate", "rollback")
    assert ev["store_kind"] == "postgres" and ev["drill_flag"] == name
    # the judge needs the step's evidence (~165 canary requests at the drill's rate):
    # a few guard intervals, not one (docs/judge.md)
    minutes = ev["fault_to_rollback_minutes"]
    assert 0 < minutes <= 6 * ev["guard_interval_minutes"]
    assert f"rolled back within {minutes} simulated minutes" in row.reasons[0]
    assert pg.PASSWORD not in r.stdout + r.stderr + json.dumps(row.to_json())
    assert ev["store"] in r.stdout and "@127.0.0.1:" in ev["store"]


def test_the_rehearsals_flag_is_left_at_zero(staging):
    # a drill that ends live (fault none: 100 %; provider-outage: held at 5 %) must not
    # leave a rehearsal flag switched on in the staging application's table
    t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    with open_store(staging) as s:
        s.apply("f__drill_x", 0, None, Event("f__drill_x", t, APPLIED, None, 0, ("c",)))
        s.apply("f__drill_x", 5, 1, Event("f__drill_x", t, APPLIED, 0, 5, ("up",)))
        leave_at_zero(s, "f__drill_x", t, actor="drill")
        leave_at_zero(s, "f__drill_x", t, actor="drill")      # nothing more to do
        assert s.read("f__drill_x").percentage == 0
        last = s.history("f__drill_x")
    assert [(e.from_pct, e.to_pct) for e in last] == [(None, 0), (0, 5), (5, 0)]
    assert "drill over" in last[-1].reasons[0]


def test_two_drills_never_share_a_flag_nor_take_a_real_ones_name():
    base = find_flag(FLAG, ROOT / "rollout/flags")
    t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    a, b = (drill_flag(base, t, [FLAG]) for _ in range(2))
    assert a.flag != b.flag and a.flag.startswith(f"{FLAG}__drill_20261120090000_")
    assert a.preflight == () and a.ladder == base.ladder
    with pytest.raises(UserError, match="too long to name a drill flag"):
        drill_flag(replace(base, flag="x" * 40), t, [])


def test_the_drill_refuses_to_record_into_the_store_it_drills(staging):
    r = drill(staging, staging.replace("postgres:pg-test", "rollout_ro:other"))
    assert r.returncode == 2 and "name the same database" in r.stderr
    assert pg.PASSWORD not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, env, message", [
    (["--store", "sqlite:///d.db", "--record-in", "sqlite:///p.db"], {},
     "only a drill against the staging store"),
    (["--record-in", "sqlite:///p.db"], {}, "only a drill against the staging store"),
    ([], {"ROLLOUT_STORE": "postgres://rollout:s3cret@db.example/prod"},
     "name the staging store with --store"),
    (["--store", "https://legal-platform-web.onrender.com"], {}, "needs a database store"),
])
def test_refusals_are_one_line_exit_2(tmp_path, args, env, message):
    r = rollout(["drill", *args], ROOT, env)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "s3cret" not in r.stderr


def test_an_unreachable_record_in_store_fails_before_the_drill(staging):
    r = drill(staging, pg.closed_port_url())
    assert r.returncode == 4 and "store postgres://" in r.stderr
    assert pg.PASSWORD not in r.stderr
    with open_store(staging) as s:
        assert s.read_all() == {}                    # nothing rehearsed


@pytest.mark.parametrize("a, b, same", [
    ("postgres://u@db:5432/rollout", "postgres://ro@db:5432/rollout", True),
    ("postgres://u@db:5432/rollout", "postgres://u@db:5432/staging", False),
    ("postgres://u@db:5432/rollout", "sqlite:///rollout.db", False),
])
def test_same_place(a, b, same):
    assert same_place(a, b) is same
