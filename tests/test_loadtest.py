"""`rollout loadtest`: Locust really runs, in its own process, against a fake skills
service on 127.0.0.1 whose latency and error rate each test sets (issue 12).

Each run uses a compressed profile of its own (a YAML file of phases, ≤ 16 s with its
grace, most of it waiting), so the tests keep the seed's semantics (rates, pacing,
scenario weights, the catalog's budget) at a fraction of its 19 minutes.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from rollout.adapters.store import open_store
from rollout.core.evidence import latest_evidence
from rollout.core.state import LOADTEST
from tests.cli import ROOT, git, make_repo, rollout
from tests.fakes.skills_service import FakeSkillsService

FLAG = "skills_rollout"


def profile(tmp_path: Path, name: str, phases: list, pacing="1s", max_requests=400) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "pacing": pacing, "max_requests": max_requests,
                                    "phases": phases}))
    return str(path)


def loadtest(tmp_path, target, prof, *extra, env=None, cwd=ROOT):
    store = f"sqlite:///{tmp_path}/flags.db"
    r = rollout(["loadtest", "--target", target, "--profile", prof, "--out", str(tmp_path / "out"),
                 "--store", store, "--progress", "2", *extra], cwd, env)
    return r, store


def summary_of(tmp_path) -> dict:
    return json.loads((tmp_path / "out/summary.json").read_text())


def history(store: str) -> list:
    with open_store(store) as s:
        return s.history(FLAG)


def missed(summary: dict) -> set[tuple[str, str]]:
    return {(c["scope"], c["figure"]) for c in summary["budget"]["checks"] if not c["passed"]}


def everything_written(tmp_path, r) -> str:
    files = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").iterdir())
    return r.stdout + r.stderr + files


# ---------------------------------------------------------------- real runs

def test_a_healthy_service_meets_the_budget_and_the_run_is_recorded(tmp_path):
    user, password = "loadtester", "s3cr3t-pw"
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    phases = [{"name": "warm-up", "duration": "1s", "rate": 10},
              {"name": "sustained", "duration": "4s", "rate": 20},
              {"name": "cool-down", "duration": "1s", "rate": 10}]
    with FakeSkillsService(latency=0.02, auth=basic) as svc:
        target = svc.base_url.replace("http://", f"http://{user}:{password}@")
        r, store = loadtest(tmp_path, target, profile(tmp_path, "quick", phases))
        by_path, answered, base = dict(svc.by_path), svc.count, svc.base_url
    assert r.returncode == 0, r.stdout + r.stderr
    s = summary_of(tmp_path)

    # every scenario ran, in the seed's proportions, with payloads the service accepted
    assert s["overall"]["failures"] == 0 and s["overall"]["requests"] == answered >= 70
    weights = {"/api/ai/analyze": 40, "/api/ai/draft": 30, "/api/ai/research": 20,
               "/api/ai/compliance": 10}
    for path, weight in weights.items():
        assert abs(by_path[path] - answered * weight / 100) <= 1, by_path
    assert [p["name"] for p in s["phases"]] == ["warm-up", "sustained", "cool-down"]
    assert 70 <= s["phases"][1]["requests"] <= 85       # 4 s at 20/s
    for scope in [s["overall"], *s["scenarios"].values()]:
        assert scope["p50_ms"] <= scope["p95_ms"] <= scope["p99_ms"] < 1000
        assert scope["error_rate"] == 0 and scope["success_rate"] == 100
    assert s["budget"]["verdict"] == "pass" and not missed(s)
    assert len(s["budget"]["checks"]) == 4 * 5            # 4 figures x (overall + 4 scenarios)

    # outputs: Locust's HTML report, progress lines, the table
    assert "<html" in (tmp_path / "out/report.html").read_text().lower()
    assert "users" in r.stderr and "rps" in r.stderr and "p95" in r.stderr
    assert "budget met" in r.stdout and "compliance_check" in r.stdout

    # the history row is the evidence a readiness gate reads
    [row] = history(store)
    assert row.kind == LOADTEST and (row.from_pct, row.to_pct) == (None, None)
    found = latest_evidence(history(store), LOADTEST, row.at, where={"profile": "quick"})
    assert found == row
    ev = row.evidence
    assert ev["verdict"] == "pass" and ev["target"] == base and ev["profile"] == "quick"
    assert ev["budget"] == {"p95_ms": "< 5000", "p99_ms": "< 10000", "error_rate": "< 2",
                            "success_rate": "> 98"}
    assert set(ev["figures"]["scenarios"]) == {"contract_analysis", "document_drafting",
                                               "legal_research", "compliance_check"}
    assert ev["figures"]["overall"]["requests"] == answered
    assert ev["reports"]["html"].endswith("out/report.html")

    # the password in --target reached the service as Basic auth, and nowhere else
    written = everything_written(tmp_path, r) + json.dumps(row.to_json())
    assert password not in written and user not in json.dumps(row.evidence)


def test_a_p95_of_6_seconds_misses_the_budget_on_p95(tmp_path):
    with FakeSkillsService(latency=6.0) as svc:
        r, store = loadtest(tmp_path, svc.base_url,
                            profile(tmp_path, "slow", [{"name": "sustained", "duration": "3s",
                                                        "rate": 10}]),
                            "--flag", FLAG)
    assert r.returncode == 1, r.stdout + r.stderr
    s = summary_of(tmp_path)
    assert s["overall"]["requests"] >= 10 and s["overall"]["failures"] == 0
    assert 6000 <= s["overall"]["p95_ms"] < 7000
    # p95 misses everywhere; p99 (< 10 s), errors and success still hold
    assert {figure for _, figure in missed(s)} == {"p95_ms"}
    assert ("overall", "p95_ms") in missed(s)
    assert "missed: overall p95_ms 6," in r.stdout and "budget MISSED" in r.stdout
    [row] = history(store)
    assert row.evidence["verdict"] == "fail"
    assert any("p95_ms" in line for line in row.evidence["missed"])


def test_3_percent_errors_miss_the_budget_on_the_error_rate(tmp_path):
    token = "Bearer tok-0123456789"
    with FakeSkillsService(latency=0.01, error_rate=3, auth=token) as svc:
        r, store = loadtest(tmp_path, svc.base_url,
                            profile(tmp_path, "errors", [{"name": "sustained", "duration": "5s",
                                                          "rate": 20}]),
                            "--flag", FLAG, env={"ROLLOUT_LOADTEST_AUTHORIZATION": token})
        unauthorized = [q for q in svc.requests if q.status == 401]
    assert r.returncode == 1, r.stdout + r.stderr
    assert not unauthorized      # the header went with every request
    s = summary_of(tmp_path)
    assert 2.0 <= s["overall"]["error_rate"] <= 3.5, s["overall"]
    assert {("overall", "error_rate"), ("overall", "success_rate")} <= missed(s)
    assert not {f for _, f in missed(s)} & {"p95_ms", "p99_ms"}
    assert s["errors"] and "500" in s["errors"][0]["error"]
    assert history(store)[0].evidence["verdict"] == "fail"
    assert token.split()[1] not in everything_written(tmp_path, r)


def test_a_target_that_never_answers_exits_4_with_one_line_and_records_nothing(tmp_path):
    with FakeSkillsService(drop=True) as svc:   # /health answers, every skill request is cut
        base = svc.base_url
        r, store = loadtest(tmp_path, base,
                            profile(tmp_path, "dropped", [{"name": "short", "duration": "3s",
                                                           "rate": 5}]),
                            "--flag", FLAG)
    assert r.returncode == 4, r.stdout + r.stderr
    [line] = r.stderr.strip().splitlines()[-1:]
    assert "got an answer" in line and base in line and "Traceback" not in r.stderr
    assert history(store) == []


# ---------------------------------------------------------------- refused before any load

def test_a_dead_target_exits_4_with_one_line_before_any_load(tmp_path):
    with FakeSkillsService() as svc:
        dead = svc.base_url                      # a port nobody listens on any more
    r, store = loadtest(tmp_path, dead, "smoke", "--flag", FLAG)
    assert r.returncode == 4
    assert r.stderr.count("\n") == 1 and "unreachable" in r.stderr and dead in r.stderr
    assert not (tmp_path / "out").exists() and history(store) == []


BAD = [
    (["--target", "ftp://staging"], "expected an http(s) URL"),
    (["--target", "http://host:99999"], "port out of range"),
    (["--target", "http://host/?key=abc"], "expected no query string"),
    (["--profile", "fast"], "--profile 'fast': expected seed, smoke or a YAML file"),
    (["--profile", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
    (["--profile", "{tmp}/p.yaml"], "field phases[0].rate: expected a non-negative number"),
    (["--profile", "{tmp}/seed.yaml"], "'seed' is a built-in profile"),
    (["--progress", "0"], "--progress: expected seconds"),
    (["--flag", "nope"], "no file rollout/flags/nope.yaml"),
    (["--out", "{tmp}/used"], "already holds a load test"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_sends_nothing(tmp_path, args, message):
    (tmp_path / "p.yaml").write_text("phases: [{name: a, duration: 5s, rate: -1}]\n")
    (tmp_path / "seed.yaml").write_text("name: seed\nphases: [{name: a, duration: 5s, rate: 1}]\n")
    (tmp_path / "used").mkdir()
    (tmp_path / "used/summary.json").write_text("{}")
    with FakeSkillsService() as svc:
        base = {"--target": svc.base_url, "--profile": "smoke", "--flag": FLAG}
        given = dict(zip(args[::2], [a.replace("{tmp}", str(tmp_path)) for a in args[1::2]]))
        argv = ["loadtest", *[x for k, v in {**base, **given}.items() for x in (k, v)],
                "--store", f"sqlite:///{tmp_path}/flags.db"]
        r = rollout(argv, ROOT)
        sent = len(svc.requests)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert sent == 0 and not (tmp_path / "flags.db").exists()


def test_usage_errors_exit_2(tmp_path):
    r = rollout(["loadtest", "--profile", "smoke"], ROOT)
    assert r.returncode == 2 and "--target" in r.stderr.splitlines()[-1]


def test_the_flag_is_required_when_there_are_several(tmp_path):
    repo = make_repo(tmp_path)
    other = (repo / "rollout/flags/skills_rollout.yaml").read_text().replace(FLAG, "other_flag")
    (repo / "rollout/flags/other_flag.yaml").write_text(other)
    git(repo, "add", ".")
    r = rollout(["loadtest", "--target", "http://127.0.0.1:9", "--profile", "smoke"], repo)
    assert r.returncode == 2
    assert r.stderr.strip() == ("rollout loadtest: --flag: required, rollout/flags holds 2 "
                                "flags (other_flag, skills_rollout)")


def test_credentials_in_the_url_and_the_header_variable_conflict(tmp_path):
    r = rollout(["loadtest", "--target", "https://u:pw-123@staging.example.com"], ROOT,
                {"ROLLOUT_LOADTEST_AUTHORIZATION": "Bearer x"})
    assert r.returncode == 2 and "pw-123" not in r.stderr and "expected one of them" in r.stderr


def test_the_command_line_never_imports_locust_or_gevent():
    code = ("import sys; from rollout.cli.main import build_parser; build_parser(); "
            "import rollout.loadtest.launch, rollout.loadtest.record, rollout.cli.cmd_loadtest; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_an_interrupted_run_stops_its_worker_and_records_nothing(tmp_path):
    prof = profile(tmp_path, "long", [{"name": "sustained", "duration": "5m", "rate": 5}])
    store = f"sqlite:///{tmp_path}/flags.db"
    with FakeSkillsService(latency=0.01) as svc:
        cli = subprocess.Popen([sys.executable, "-m", "rollout", "loadtest", "--target", svc.base_url,
                                "--profile", prof, "--out", str(tmp_path / "out"), "--store", store,
                                "--flag", FLAG], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ROLLOUT_ACTOR": "tester"})
        deadline = time.monotonic() + 30
        while svc.count < 5 and time.monotonic() < deadline:   # the worker is sending
            time.sleep(0.2)
        workers = psutil.Process(cli.pid).children(recursive=True)
        assert workers and svc.count >= 5
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=30)
    assert cli.returncode == 130, out + err
    assert "Traceback" not in err
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
    assert history(store) == [] and not (tmp_path / "out/summary.json").exists()
