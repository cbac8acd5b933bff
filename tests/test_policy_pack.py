"""The policy pack as the Pulumi engine runs it: a process speaking the Analyzer gRPC protocol.

The CLI starts a Python pack with `python3 -u -m pulumi.policy <engine> .` in the pack's
directory, with the stack's name in PULUMI_STACK; the pack prints the port of its gRPC
server, and the engine calls GetAnalyzerInfo, Configure (levels and properties from
--policy-pack-config), Analyze (each resource's inputs, secrets marked) and AnalyzeStack
(every resource's outputs and property dependencies). These tests do exactly that against
policy/__main__.py, with the resources the program registers under mocks; the CLI itself
is not available here.
"""
from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

from tests.policy_support import POLICY_DIR, policy_resources, urn
from tests.pulumi_harness import run_main

from skills_policy import RULES
from skills_policy.levels import PACK_NAME

NRAK = "NRAK-0123456789ABCDEFGHIJKLMNOPQ"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"     # the engine's unknown marker


class Pack:
    """policy/ running as the engine starts it, and a client of its Analyzer service."""

    def __init__(self, stack: str):
        env = {**os.environ, "PULUMI_STACK": stack, "PULUMI_PROJECT": "skills-rollout",
               "PULUMI_DRY_RUN": "true"}
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
                                     cwd=POLICY_DIR, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise AssertionError(f"the pack printed no port: {port!r} {self.proc.stderr.read()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def close(self):
        if getattr(self, "channel", None):
            self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def struct(data: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    json_format.ParseDict(data, s)
    return s


@pytest.fixture(scope="module")
def run():
    return run_main()


@pytest.fixture(scope="module")
def prod():
    pack = Pack("prod")
    yield pack
    pack.close()


def analyze(pack, run, edit=None) -> list:
    """Analyze every resource's inputs as the engine sends them (secrets still marked)."""
    diagnostics = []
    for r in run.custom:
        props = dict(r.raw_inputs)
        if edit:
            props = edit(r, props)
        reply = pack.stub.Analyze(pb.AnalyzeRequest(
            type=r.typ, name=r.name, urn=urn(r.typ, r.name), properties=struct(props)))
        diagnostics += reply.diagnostics
    return diagnostics


def analyze_stack(pack, run, drop=()) -> list:
    deps = {res.urn: res.deps for res in policy_resources(run)}
    resources = [pb.AnalyzerResource(
        type=r.typ, name=r.name, urn=urn(r.typ, r.name), properties=struct(r.state),
        propertyDependencies={k: pb.AnalyzerPropertyDependencies(urns=sorted(v))
                              for k, v in deps[urn(r.typ, r.name)].items()})
        for r in run.custom if r.name not in drop]
    return list(pack.stub.AnalyzeStack(pb.AnalyzeStackRequest(resources=resources)).diagnostics)


def test_the_pack_announces_every_rule_mandatory_in_prod(prod):
    info = prod.stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [r.id for r in RULES]
    for policy, r in zip(info.policies, RULES):
        assert policy.enforcementLevel == pb.MANDATORY
        assert policy.policy_type == (pb.POLICY_TYPE_RESOURCE if r.types else pb.POLICY_TYPE_STACK)
        assert policy.description == f"{r.description} ({r.reason})"
        assert "waiver" in policy.configSchema.properties


def test_the_program_passes_the_pack(prod, run):
    assert analyze(prod, run) == []
    assert analyze_stack(prod, run) == []


def test_a_dropped_health_check_fails_the_preview(prod, run):
    def drop_health_check(r, props):
        if r.name == "web":
            props["serviceDetails"] = {k: v for k, v in props["serviceDetails"].items()
                                       if k != "healthCheckPath"}
        return props
    [d] = analyze(prod, run, drop_health_check)
    assert (d.policyName, d.enforcementLevel, d.policyPackName) == ("web-health-check", pb.MANDATORY, PACK_NAME)
    assert "'legal-platform-web' has no health check path" in d.message


def test_a_plain_key_fails_and_the_marked_secrets_pass(prod, run):
    def leak(r, props):
        if r.name == "web-env":
            props["envVars"] = props["envVars"] + [{"key": "NEW_RELIC_KEY", "value": NRAK}]
        return props
    [d] = analyze(prod, run, leak)
    assert d.policyName == "no-plaintext-secrets" and "envVars[NEW_RELIC_KEY].value" in d.message
    assert NRAK not in d.message


def test_values_unknown_during_a_preview_are_not_findings(prod, run):
    def fresh(r, props):
        if r.name in ("ai-service-env", "data-env"):
            props = {**props, "serviceId": UNKNOWN_STRING, "envVars": UNKNOWN_STRING}
        return props
    assert analyze(prod, run, fresh) == []


def test_a_sev1_condition_without_its_workflow_fails_the_stack(prod, run):
    found = analyze_stack(prod, run, drop=("workflow-pagerduty",))
    assert {d.policyName for d in found} == {"paging-reaches-pagerduty"}
    assert urn("newrelic:index/nrqlAlertCondition:NrqlAlertCondition",
               "condition-skills-service-down") in {d.urn for d in found}
    assert all(d.enforcementLevel == pb.MANDATORY for d in found)


def test_a_waiver_from_the_pack_config_reports_advisory_with_its_reason(prod, run):
    reason = "the PagerDuty service moves to a new account this week, OPS-9"
    prod.stub.Configure(pb.ConfigureAnalyzerRequest(policyConfig={
        "paging-reaches-pagerduty": pb.PolicyConfig(enforcementLevel=pb.ADVISORY,
                                                    properties=struct({"waiver": reason}))}))
    try:
        found = analyze_stack(prod, run, drop=("workflow-pagerduty",))
    finally:
        prod.stub.Configure(pb.ConfigureAnalyzerRequest())
    assert found and all(d.enforcementLevel == pb.ADVISORY for d in found)
    assert all(f"waived ({reason}): " in d.message for d in found)


def test_staging_is_advisory():
    pack = Pack("staging")
    try:
        info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
        assert {p.enforcementLevel for p in info.policies} == {pb.ADVISORY}
    finally:
        pack.close()
