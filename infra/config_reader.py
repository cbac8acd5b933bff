"""Reads one Pulumi config namespace as typed, checked values: every missing or invalid
value is ONE ConfigError naming the key and the `pulumi config set` command that fixes it
(raised as pulumi.RunError, so the CLI prints it without a traceback)."""
from __future__ import annotations

import ipaddress
import json
import os
import re

import pulumi
from pulumi.runtime.config import get_config, is_config_secret

PROJECT = "skills-rollout"
DIGITS = re.compile(r"^[0-9]+$")
_REQUIRED = object()     # lookup() without a default: a missing key is an error


class ConfigError(pulumi.RunError):
    """A stack configuration value is missing or invalid."""


class ConfigReader:
    """Reads one config namespace; every failure names the key and how to set it."""

    def __init__(self, namespace: str):
        self.ns = namespace

    def _key(self, top: str) -> str:
        return f"{self.ns}:{top}"

    def fail(self, path: str, problem: str, example: str, secret: bool = False):
        flags = (" --secret" if secret else "") + (" --path" if "." in path else "")
        key = path if self.ns == PROJECT else f"{self.ns}:{path}"
        raise ConfigError(f"config {self.ns}:{path}: {problem}; "
                          f"set it with: pulumi config set{flags} {key} {example}")

    def raw(self, top: str):
        return get_config(self._key(top))

    def string(self, path: str, example: str, pattern: re.Pattern | None = None,
               choices: tuple | None = None, what: str = "", default=_REQUIRED) -> str:
        value = self.lookup(path, example, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected {what or 'a non-empty string'}, got {value!r}", example)
        value = value.strip()
        if choices is not None and value not in choices:
            self.fail(path, f"expected one of {', '.join(choices)}, got {value!r}", example)
        if pattern is not None and not pattern.match(value):
            self.fail(path, f"expected {what}, got {value!r}", example)
        return value

    def integer(self, path: str, example: str, low: int, high: int) -> int:
        value = self.lookup(path, example)
        if isinstance(value, str) and DIGITS.match(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"expected a whole number from {low} to {high}, got {value!r}", example)
        return value

    def boolean(self, path: str, example: str, default=_REQUIRED) -> bool:
        value = self.lookup(path, example, default)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}", example)
        return value

    def string_list(self, path: str, example: str, pattern: re.Pattern, what: str,
                    default=_REQUIRED) -> tuple:
        """A list in the stack file; `pulumi config set --path <key> a,b` stores a
        comma-separated string, which is read as the same list."""
        value = self.lookup(path, example, default)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, str) and pattern.match(v) for v in value):
            self.fail(path, f"expected a list of {what}, got {value!r}", example)
        return tuple(value)

    def lookup(self, path: str, example: str, default=_REQUIRED):
        """The value at a dotted path; structured values arrive as JSON text. A missing
        key is an error unless a default is given."""
        top, *rest = path.split(".")
        value = self.raw(top)
        if value is None:
            if default is not _REQUIRED:
                return default
            self.fail(path, "missing", example)
        if rest:
            try:
                value = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                pass
            walked = top
            for part in rest:
                if not isinstance(value, dict):
                    raise ConfigError(
                        f"config {self.ns}:{walked}: expected a mapping with key {part!r}, got "
                        f"{value!r}; set its keys with: pulumi config set --path "
                        f"{walked}.<key> <value> (docs/infrastructure.md lists them)")
                if part not in value:
                    if default is not _REQUIRED:
                        return default
                    self.fail(path, "missing", example)
                value = value[part]
                walked += "." + part
        return value

    def cidr_list(self, path: str, example: str, default: tuple) -> tuple:
        """CIDR blocks (a list, or the comma-separated string `config set --path` stores);
        an empty list is allowed: no connection from outside Render."""
        value = self.lookup(path, example, default)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        try:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError
            return tuple(str(ipaddress.ip_network(v, strict=True)) for v in value)
        except ValueError:
            self.fail(path, f"expected a list of CIDR blocks like 203.0.113.0/24 (or [] for "
                      f"none), got {value!r}", example)

    def secret(self, top: str, example: str) -> pulumi.Output:
        """`example` says what the value is, e.g. "the PagerDuty integration key"."""
        value = self.raw(top)
        # Leaving the value out makes the CLI prompt for it: it stays out of shell history.
        prompt = f"(it prompts for {example})"
        if value is None or not str(value).strip():
            self.fail(top, "missing (a secret)", prompt, secret=True)
        if not is_config_secret(self._key(top)):
            self.fail(top, "is stored in plain text; it must be a secret", prompt, secret=True)
        return pulumi.Output.secret(str(value))

    def credential(self, top: str, example: str, env: tuple) -> None:
        """A provider credential: the provider reads it itself, from this config key or from
        its environment variable (how CI passes it); we only check that one of them is set."""
        if self.raw(top) is None and any(os.environ.get(e) for e in env):
            return
        try:
            self.secret(top, example)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (or export {' or '.join(env)})") from None
