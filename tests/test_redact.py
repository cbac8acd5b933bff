"""The redaction filter, case by case (the end-to-end proof is tests/faults/test_redaction.py)."""
import io

import pytest

from rollout import redact as r

CASES = [
    # (text, what must go, what must stay)
    ("postgress://rollout:S3cret-pw@db:5432/prod", "S3cret-pw", "postgress://rollout:***@db"),
    ("postgres://u:p@ss@w0rd@db/x", "ss@w0rd", "@db/x"),
    ("https://admin:FlagApiPw1@app.example/api", "FlagApiPw1", "https://admin:***@app.example"),
    ("host=db port=5432 password=hunter2hunter dbname=prod", "hunter2hunter", "dbname=prod"),
    ("host=db password='two words' dbname=prod", "two words", "dbname=prod"),
    ("GET https://x/api?token=abc123def&page=2", "abc123def", "page=2"),
    ("https://x/hook?api_key=k3y-value", "k3y-value", "api_key=***"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9", "Bearer ***"),
    ("set NEW_RELIC_API_KEY to NRAK-ABCDEFGHIJ0123456789", "NRAK-ABCDEFGHIJ", "NRAK-***"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz012345 refused", "ghp_abcdefghij", "refused"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "11ABCDEFG0123456789", "github_pat_***"),
    ("POST https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX failed",
     "XXXXsecretXXXX", "hooks.slack.com/services/***"),
    ('{"routing_key": "R0UT1NGKEY0000000000000000000000", "x": 1}', "R0UT1NGKEY", '"x": 1'),
]


@pytest.mark.parametrize("text,gone,kept", CASES, ids=[c[0][:40] for c in CASES])
def test_patterns(text, gone, kept):
    out = r.redact(text)
    assert gone not in out and kept in out and r.MASK in out


@pytest.mark.parametrize("text", [
    '{"key": "requests", "value": 12}',              # report rows named by "key"
    "dedup_key=rollout/skills_rollout/abc123",
    "the token in ROLLOUT_HTTP_TOKEN was refused",
    "sqlite:///.rollout/flags.db",
    "WHERE result = 'SUCCESS' AND monitorName LIKE '%health%'",
])
def test_ordinary_text_is_left_alone(text):
    assert r.redact(text) == text


def test_secret_environment_values_are_masked_wherever_they_appear(monkeypatch):
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "pdkeywithnoshape0000000000000042")
    monkeypatch.setenv("ROLLOUT_STORE", "postgres://u:envPassw0rd@db/x")
    monkeypatch.setenv("SHORT_TOKEN", "abc")                       # too short to mask safely
    out = r.redact("echo: pdkeywithnoshape0000000000000042 envPassw0rd abc")
    assert out == "echo: *** *** abc"


def test_passwords_given_as_arguments_are_masked_even_when_quoted_apart(monkeypatch):
    monkeypatch.setattr(r, "_literals", set())
    r.register_args(["--store", "postgres://u:ArgPassw0rd@db/x"])
    assert r.redact("could not parse 'ArgPassw0rd'") == "could not parse '***'"


def test_the_stream_redacts_whole_lines_even_when_written_in_pieces(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_pieceBYpieceTOKEN")
    sink = io.StringIO()
    stream = r.RedactingStream(sink)
    for piece in ("token ghs_piece", "BYpiece", "TOKEN done\nnext ", "line"):
        stream.write(piece)
    stream.flush()
    assert sink.getvalue() == "token *** done\nnext line"
