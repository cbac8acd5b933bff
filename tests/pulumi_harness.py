"""Run the Pulumi program under Pulumi's own mock runtime, with the real stack config.

The Pulumi CLI is not available here, so nothing is deployed or previewed: the SDK's
`set_mocks` answers each resource registration and data-source call, and this module
records them. The configuration is the real Pulumi.<stack>.yaml (prod unless a test asks
for `stack="staging"`), loaded the way the CLI
would pass it (structured values as JSON text, keys without a namespace belonging to the
project); `secure:` values, and the secrets a fresh checkout does not have yet, get plain
stand-ins marked secret.

    run = run_main()                      # the real __main__.py (from tests.pulumi_harness)
    run = run_program(lambda: Alerts("alerts", load_settings().newrelic, catalog))
    run.one("newrelic:index/alertPolicy:AlertPolicy").inputs
"""
from __future__ import annotations

import asyncio
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
STACK = "prod"
STACK_FILE = ROOT / f"Pulumi.{STACK}.yaml"


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]

# The secrets docs/infrastructure.md tells the operator to set with --secret.
SECRET_STAND_INS = {
    "render:apiKey": "rnd_test_stand_in",
    "newrelic:apiKey": "NRAK-TESTSTANDIN",
    f"{PROJECT}:pagerdutyServiceKey": "pd-test-integration-key",
    f"{PROJECT}:anthropicApiKey": "sk-ant-test-stand-in",
    # rollout serve (infra/guard_service.py, alerts/webhook.py)
    f"{PROJECT}:guardHookToken": "hook-token-test-stand-in-0123456789abcdef",
    f"{PROJECT}:guardNewRelicQueryKey": "NRAK-QUERYSTANDIN",
    f"{PROJECT}:guardSlackWebhookUrl": "https://hooks.slack.com/services/T0/B0/standin",
    f"{PROJECT}:guardGithubToken": "github_pat_test_stand_in",
    f"{PROJECT}:guardPageToken": "page-token-test-stand-in-0123456789abcdef",
}

# The marker the SDK's serializer puts on secret values.
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

if str(ROOT) not in sys.path:       # __main__.py imports infra/, alerts/, dashboards/
    sys.path.insert(0, str(ROOT))


def _wire(value) -> str:
    """A config value as the CLI hands it to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_config(path: Path = STACK_FILE) -> tuple[dict, list]:
    """(config, secret keys) from a stack file, with stand-ins for the secrets."""
    data = yaml.safe_load(path.read_text()) or {}
    config, secret_keys = {}, []
    for key, value in (data.get("config") or {}).items():
        key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECRET_STAND_INS.get(key, "secret-stand-in")
            secret_keys.append(key)
        else:
            config[key] = _wire(value)
    for key, value in SECRET_STAND_INS.items():
        if key not in config:
            config[key] = value
            secret_keys.append(key)
    return config, secret_keys


DELETE = object()       # set_path(data, path, DELETE) removes the key


def set_path(data: dict, path: str, value) -> None:
    """Set, or with DELETE remove, the value at a dotted path of nested mappings."""
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value


def unwrap(value):
    """Inputs with secrets replaced by their plain values."""
    if isinstance(value, dict):
        if "value" in value and any(v == _SECRET_SIG for v in value.values()):
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def is_secret(value) -> bool:
    return isinstance(value, dict) and any(v == _SECRET_SIG for v in value.values())


@dataclass
class Resource:
    typ: str
    name: str
    raw_inputs: dict
    id: str
    state: dict
    opts: dict = field(default_factory=dict)   # protect, ignore_changes, delete_before_replace

    @property
    def inputs(self) -> dict:
        return unwrap(self.raw_inputs)

    @property
    def key(self) -> tuple:
        """What identifies the resource between two runs (its URN, less the stack)."""
        return (self.typ, self.name)


@dataclass
class Run:
    resources: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def of_type(self, typ: str) -> list:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {len(found)}"
        return found[0]

    def by_id(self, id_: str) -> Resource:
        return next(r for r in self.resources if r.id == id_)

    @property
    def custom(self) -> list:
        """Resources a deployment would create (not the component wrappers)."""
        return [r for r in self.resources if not r.typ.startswith(f"{PROJECT}:")]


class _Recorder(pulumi.runtime.Mocks):
    """Answers as the providers would, with the outputs the program reads."""

    def __init__(self, run: Run):
        self.run = run

    def new_resource(self, args):
        state = dict(args.inputs)
        name = unwrap(args.inputs).get("name", args.name)
        if args.typ in ("render:services:WebService", "render:services:PrivateService"):
            url = (f"https://{name}.onrender.com" if args.typ.endswith("WebService")
                   else f"{name}:10000")
            state["serviceDetails"] = {**state.get("serviceDetails", {}), "url": url}
            state["slug"] = name
        if args.typ == "newrelic:index/oneDashboard:OneDashboard":
            state["guid"] = f"GUID-{args.name}"
            state["permalink"] = f"https://one.newrelic.com/redirect/entity/GUID-{args.name}"
        id_ = f"{args.name}-id"
        self.run.resources.append(Resource(args.typ, args.name, dict(args.inputs), id_, state))
        return [id_, state]

    def call(self, args):
        self.run.calls.append((args.token, dict(args.args)))
        if args.token == "newrelic:index/getNotificationDestination:getNotificationDestination":
            return {"id": "slack-destination-id", "name": args.args.get("exactName"),
                    "type": "SLACK", "active": True}
        if args.token == "render:postgres:getPostgresConnectionInfo":
            return {"internalConnectionString": f"postgresql://u:p@{args.args['postgresId']}/db",
                    "externalConnectionString": "postgresql://external", "password": "p",
                    "psqlCommand": "psql"}
        if args.token == "render:key-value:getKeyValueConnectionInfo":
            return {"internalConnectionString": f"redis://{args.args['keyValueId']}:6379",
                    "externalConnectionString": "rediss://external", "cliCommand": "redis-cli"}
        return {}


def run_program(program: Callable[[], object], config: dict | None = None,
                secret_keys: list | None = None, stack: str = STACK) -> Run:
    """Run `program` as stack `stack` under mocks with the given (default: the real) stack
    config."""
    if config is None:
        config, default_secrets = stack_config(stack_file(stack))
        secret_keys = default_secrets if secret_keys is None else secret_keys
    run = Run()
    pulumi.runtime.reset_options(project=PROJECT, stack=stack)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(_Recorder(run), project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(config, secret_keys or [])

        options: dict = {}

        def record_options(args):
            o = args.opts
            options[(args.type_, args.name)] = {
                "protect": bool(o.protect), "ignore_changes": list(o.ignore_changes or []),
                "delete_before_replace": bool(o.delete_before_replace)}

        @pulumi.runtime.test
        def _run():
            # Mocks see inputs only; the options the program gives each resource (protect,
            # ignore_changes) are recorded by a stack transformation.
            pulumi.runtime.register_stack_transformation(record_options)
            program()
            exported = pulumi.runtime.settings.get_root_resource().outputs
            return pulumi.Output.all(**exported).apply(run.outputs.update) if exported else None

        _run()
        for r in run.resources:
            r.opts = options.get(r.key, {})
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return run


def run_main(config: dict | None = None, secret_keys: list | None = None,
             stack: str = STACK) -> Run:
    """Run the real __main__.py."""
    return run_program(lambda: runpy.run_path(str(MAIN), run_name="__main__"), config,
                       secret_keys, stack)
