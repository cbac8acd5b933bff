"""Derive, from the pulumi-render provider's OpenAPI document, what each Render resource type
of the stack can change in place, and what Render always sends back on a read.

    .venv/bin/python tests/data/render_update_in_place.py [OPENAPI.yml] > tests/data/render_update_in_place.json

The provider diffs a resource against the body of its update request (REFERENCE: "a changed
top-level input that the PATCH body does not accept is a replacement"). Per resource type the
JSON holds:

  update_body     the top-level inputs the update request (PATCH or PUT) carries; a change of
                  any other input replaces the resource (path parameters such as serviceId
                  included: they are not in the body)
  nested          for object inputs in the update body, the keys the body carries inside them
                  (a changed key outside that list is planned as an update Render never sees)
  always_returned input paths Render's answer always carries (required in the response
                  schema): a refresh copies them into the inputs, so the program must set them
                  or ignore them, or every `preview --refresh` shows a diff
  generated       inputs whose schema default is text Render replaces with its own value
                  ("randomly generated"): the SDK sends the text, Render answers another
  one_of_update   the update body is a oneOf: the provider's diff treats every change as a
                  replacement

The document itself stays out of the repository; this table is the test data. Render's
PATCH of a service, for example, carries no `envVars`, so env vars set on a service replace
it when they change: hence render:services:EnvVarsForService (a PUT of the whole list).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "render-provider-openapi.yml"

# Which request and response schemas stand for each resource type of the provider. The
# provider is generated from this document: create = POST of the collection, read = the
# create/update answer, update = PATCH (or PUT where the API has no PATCH).
RESOURCES = {
    "render:services:WebService": {
        "create": "#/components/schemas/webService",
        "update": "#/components/schemas/webServicePatch",
        "read": "#/components/schemas/webServiceOutput"},
    "render:services:PrivateService": {
        "create": "#/components/schemas/privateService",
        "update": "#/components/schemas/privateServicePatch",
        "read": "#/components/schemas/privateServiceOutput"},
    "render:postgres:Postgres": {
        "create": "#/paths/~1postgres/post/requestBody/content/application~1json/schema",
        "update": "#/paths/~1postgres~1{postgresId}/patch/requestBody/content/application~1json/schema",
        "read": "#/paths/~1postgres~1{postgresId}/get/responses/200/content/application~1json/schema"},
    "render:key-value:KeyValue": {
        "create": "#/paths/~1key-value/post/requestBody/content/application~1json/schema",
        "update": "#/paths/~1key-value~1{keyValueId}/patch/requestBody/content/application~1json/schema",
        "read": "#/paths/~1key-value~1{keyValueId}/get/responses/200/content/application~1json/schema"},
    "render:env-groups:EnvGroup": {
        "create": "#/paths/~1env-groups/post/requestBody/content/application~1json/schema",
        "update": "#/paths/~1env-groups~1{envGroupId}/patch/requestBody/content/application~1json/schema",
        "read": "#/paths/~1env-groups~1{envGroupId}/get/responses/200/content/application~1json/schema"},
    # PUT /services/{serviceId}/env-vars: the whole list, for create and update alike.
    "render:services:EnvVarsForService": {
        "create": "#/paths/~1services~1{serviceId}~1env-vars/put/requestBody/content/application~1json/schema",
        "update": "#/paths/~1services~1{serviceId}~1env-vars/put/requestBody/content/application~1json/schema",
        "read": None},
    # PUT /services/{serviceId}/autoscaling, likewise.
    "render:services:AutoscaleService": {
        "create": "#/paths/~1services~1{serviceId}~1autoscaling/put/requestBody/content/application~1json/schema",
        "update": "#/paths/~1services~1{serviceId}~1autoscaling/put/requestBody/content/application~1json/schema",
        "read": "#/paths/~1services~1{serviceId}~1autoscaling/put/responses/200/content/application~1json/schema"},
    # One variable: its update body is a oneOf (value | generateValue). Listed so a test can
    # show why the stack does not use them.
    "render:services:EnvVar": {
        "create": "#/paths/~1services~1{serviceId}~1env-vars~1{envVarKey}/put/requestBody/content/application~1json/schema",
        "update": "#/paths/~1services~1{serviceId}~1env-vars~1{envVarKey}/put/requestBody/content/application~1json/schema",
        "read": None},
    "render:env-groups:EnvGroupEnvVar": {
        "create": "#/paths/~1env-groups~1{envGroupId}~1env-vars~1{envVarKey}/put/requestBody/content/application~1json/schema",
        "update": "#/paths/~1env-groups~1{envGroupId}~1env-vars~1{envVarKey}/put/requestBody/content/application~1json/schema",
        "read": None},
}

GENERATED_DEFAULT = "randomly generated"


class Schemas:
    def __init__(self, doc: dict):
        self.doc = doc

    def ref(self, pointer: str) -> dict:
        node = self.doc
        for part in pointer.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.ref(schema["$ref"])
        return schema

    def properties(self, schema: dict) -> dict:
        schema = self.resolve(schema)
        out = {}
        for part in schema.get("allOf", []):
            out.update(self.properties(part))
        out.update(schema.get("properties", {}))
        return out

    def required(self, schema: dict) -> set:
        schema = self.resolve(schema)
        out = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            out |= self.required(part)
        return out

    def is_object(self, schema: dict) -> bool:
        schema = self.resolve(schema)
        return bool(self.properties(schema)) and schema.get("type", "object") == "object"


def always_returned(s: Schemas, read: dict, create: dict, prefix: str = "") -> list[str]:
    """Input paths that the read schema lists as required, recursively into objects."""
    out = []
    given, returned = s.properties(create), s.properties(read)
    for key in sorted(s.required(read) & set(given)):
        out.append(prefix + key)
        if key in returned and s.is_object(returned[key]) and s.is_object(given[key]):
            out += always_returned(s, returned[key], given[key], f"{prefix}{key}.")
    return out


def table(doc: dict) -> dict:
    s = Schemas(doc)
    out = {}
    for typ, where in RESOURCES.items():
        create, update = s.ref(where["create"]), s.ref(where["update"])
        entry = {"update_body": [], "nested": {}, "always_returned": [], "generated": [],
                 "one_of_update": "oneOf" in s.resolve(update)}
        if not entry["one_of_update"]:
            body = s.properties(update)
            entry["update_body"] = sorted(k for k in body if k != "type")
            entry["nested"] = {k: sorted(s.properties(v)) for k, v in sorted(body.items())
                               if s.is_object(v)}
        if where["read"]:
            entry["always_returned"] = always_returned(s, s.ref(where["read"]), create)
        entry["generated"] = sorted(k for k, v in s.properties(create).items()
                                    if s.resolve(v).get("default") == GENERATED_DEFAULT)
        out[typ] = entry
    return out


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = {"source": f"{path.name}, {doc['info']['title']} {doc['info']['version']}",
            "generator": "tests/data/render_update_in_place.py",
            "resources": table(doc)}
    json.dump(data, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
