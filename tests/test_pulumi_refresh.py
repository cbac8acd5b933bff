"""`pulumi preview --refresh` of an untouched stack plans nothing (drift.yml stays quiet).

A refresh copies what Render returns into the inputs. tests/pulumi_plan.refresh simulates
it from the provider's OpenAPI document: every input path Render's answer always carries
(required in the response schema) comes back as the program set it, or as Render's own
value where the program set nothing, or as a generated name where the SDK sent its
placeholder text; then the result is diffed against the program.
"""
from __future__ import annotations

import copy

import pytest

from tests.pulumi_harness import run_main
from tests.pulumi_plan import GENERATED_BY_RENDER, REPLACE, UPDATE, refresh

WEB = ("render:services:WebService", "web")


@pytest.fixture(scope="module")
def run():
    return run_main()


def autoscaled(run) -> dict:
    """What Render reports for the web after the autoscaler moved it to 6 instances: the
    count, and the autoscaling settings AutoscaleService wrote."""
    scaling = run.one("render:services:AutoscaleService").inputs
    return {WEB: {"serviceDetails.numInstances": 6,
                  "serviceDetails.autoscaling": {k: scaling[k] for k in
                                                 ("enabled", "min", "max", "criteria")}}}


def test_a_refresh_of_the_untouched_stack_plans_nothing(run):
    assert refresh(run) == {}


def test_nor_after_the_autoscaler_moved_the_web(run):
    assert refresh(run, autoscaled(run)) == {}


def without(run, typ: str, path: str, name: str | None = None):
    """The run with one input path of the resource of `typ` (and `name`, where the type
    has several) removed, as the program was."""
    broken = copy.deepcopy(run)
    (r,) = [r for r in broken.custom if r.typ == typ and name in (None, r.name)]
    node = r.raw_inputs
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    del node[leaf]
    return broken, r.key


@pytest.mark.parametrize("typ, name, path, kind", [
    # Render always returns the deprecated serviceDetails.env: left unset, every daily
    # drift check saw a diff
    ("render:services:WebService", "web", "serviceDetails.env", UPDATE),
    ("render:services:WebService", "guard", "serviceDetails.env", UPDATE),
    ("render:services:PrivateService", None, "serviceDetails.env", UPDATE),
    ("render:services:PrivateService", None, "rootDir", UPDATE),
    ("render:key-value:KeyValue", None, "ipAllowList", UPDATE),
    ("render:env-groups:EnvGroup", None, "secretFiles", REPLACE),
], ids=lambda x: str(x))
def test_each_explicit_input_is_needed(run, typ, name, path, kind):
    broken, key = without(run, typ, path, name)
    changes = refresh(broken)
    assert set(changes) == {key}
    assert changes[key].kind == kind


def test_without_ignore_changes_the_autoscaler_would_look_like_drift(run):
    broken = copy.deepcopy(run)
    (web,) = [r for r in broken.custom if r.key == WEB]
    web.opts = {**web.opts, "ignore_changes": []}
    assert refresh(broken, autoscaled(run))[WEB].inputs == ("serviceDetails",)


def test_pulumi_renders_placeholder_database_name_would_replace_the_database(run):
    """pulumi-render fills databaseName/databaseUser with the OpenAPI default text
    "randomly generated"; Render answers with the name it generated, and neither field is
    in the PATCH body: the next refresh plans a replacement of the database."""
    broken = copy.deepcopy(run)
    (pg,) = [r for r in broken.custom if r.typ == "render:postgres:Postgres"]
    pg.raw_inputs["databaseName"] = "randomly generated"
    change = refresh(broken)[pg.key]
    assert (change.kind, change.why) == (REPLACE, ("databaseName",))
    assert GENERATED_BY_RENDER != "randomly generated"
    # the program names them itself
    real = run.one("render:postgres:Postgres").inputs
    assert "randomly generated" not in (real["databaseName"], real["databaseUser"])
