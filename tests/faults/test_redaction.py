"""Secrets never print: a failing-everything run through the real CLI, with receivers that
quote our requests back in their errors, and every output, history row, delivery detail
and written file searched for each planted secret."""
import sqlite3
from datetime import timedelta

from rollout.drill import FAULTY
from tests import pg
from tests.fakes.hostile import EchoingFailure
from tests.faults.conftest import NOW, add_traffic, at, rollout

PG_PASSWORD = "Pg-Planted-Passw0rd-91"
NR_KEY = "NRAK-PLANTEDKEY0000000000000000"
ROUTING_KEY = "PDROUTINGKEYplanted0000000000001"       # 32 characters, no telltale prefix
GH_TOKEN = "ghp_PlantedGitHubToken0123456789abcdefgh"
SLACK_SECRET = "PlantedSlackWebhookSecret77"
FLAGAPI_PASSWORD = "FlagApi-Planted-Pw-5"
FLAGAPI_TOKEN = "flagapi-planted-bearer-3141"
SECRETS = [PG_PASSWORD, NR_KEY, ROUTING_KEY, GH_TOKEN, SLACK_SECRET, FLAGAPI_PASSWORD,
           FLAGAPI_TOKEN]


def test_no_secret_in_any_output_row_or_file(live, tmp_path):
    add_traffic(live / ".rollout/flags.db", FAULTY["error-rate"])
    closed = pg.closed_port_url("prod").replace(pg.PASSWORD, PG_PASSWORD)
    port = closed.rsplit(":", 1)[1].split("/")[0]
    summary = tmp_path / "step-summary.md"
    outputs = []
    with EchoingFailure(400) as echo:
        env = {**at(NOW), "ROLLOUT_HTTP_ATTEMPTS": "1", "GITHUB_STEP_SUMMARY": str(summary),
               "SLACK_WEBHOOK_URL": f"{echo.base_url}/services/T0PLANT/B0PLANT/{SLACK_SECRET}",
               "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": echo.base_url,
               "GITHUB_TOKEN": GH_TOKEN, "GITHUB_REPOSITORY": "acme/ops",
               "GITHUB_API_URL": echo.base_url, "NEW_RELIC_API_KEY": NR_KEY,
               "NEW_RELIC_API_URL": echo.base_url + "/graphql",
               "ROLLOUT_HTTP_TOKEN": FLAGAPI_TOKEN}
        flag_api = echo.base_url.replace("http://", f"http://admin:{FLAGAPI_PASSWORD}@")
        runs = [
            (["guard", "--once"], 3),                      # rolls back; every receiver refuses
            (["abort", "skills_rollout", "--reason", "again"], 4),   # retries them: still refused
            (["guard", "--once", "--metrics", "newrelic://1"], 4),  # New Relic refuses: blind
            (["gate", "skills_rollout", "--metrics", "newrelic://1", "-o", "markdown",
              "--at", (NOW - timedelta(minutes=1)).isoformat()], 4),      # before the rollback
            (["status", "--store", closed], 4),
            (["status", "--store", closed.replace("postgresql://", "postgress://")], 2),
            (["status", "--store", f"host=127.0.0.1 port={port} password={PG_PASSWORD} dbname=x"], 2),
            (["drill", "--store", closed], 4),             # accepted when named: unreachable
            (["reconcile", "--store", flag_api, "--history", f"sqlite:///{tmp_path}/h.db"], 4),
            (["status", "--store", flag_api, "--history", closed], 4),
        ]
        for args, code in runs:
            r = rollout(args, live, env)
            assert r.returncode == code, (args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr, r.stderr
            outputs += [r.stdout, r.stderr]
        assert len(echo.requests) >= 6                     # they really were asked (and quoted us)
    with sqlite3.connect(live / ".rollout/flags.db") as db:
        rows = db.execute("SELECT reasons, evidence FROM rollout_history").fetchall() + \
            db.execute("SELECT channel, status, detail FROM rollout_deliveries").fetchall()
    assert any(status == "failed" for _, status, _ in rows[-3:]) or \
        any("failed" in str(r) for r in rows)
    written = {p: p.read_bytes() for p in list(tmp_path.rglob("*")) + list(live.rglob("*"))
               if p.is_file() and ".git" not in p.parts}
    assert summary in written and written[summary]
    everything = "\n".join(outputs + [repr(r) for r in rows])
    for secret in SECRETS:
        assert secret not in everything, secret
        leaked = [str(p) for p, data in written.items() if secret.encode() in data]
        assert not leaked, (secret, leaked)
    assert "***" in everything                             # what was masked shows it was
