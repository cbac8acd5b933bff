"""Read a small YAML file the strict way: committed state must be plain data.

Rejects what a careless loader accepts: binary or oversized files, explicit tags,
anchors and aliases (the "billion laughs" bomb), and duplicate keys (the last one
would silently win). Every failure is a one-line UserError naming the file.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from rollout.errors import UserError

MAX_BYTES = 256 * 1024


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(None, None, "anchors and aliases are not allowed",
                                       event.start_mark)
        if getattr(event, "tag", None) not in (None, "!"):
            raise yaml.MarkedYAMLError(None, None, f"tag {event.tag} is not allowed",
                                       event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.MarkedYAMLError(None, None, f"duplicate key {key!r}",
                                           key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str | bytes, name: str):
    """Parse YAML text; `name` is what error messages call the source."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise UserError(f"{name}: file is {len(text)} bytes, expected at most {MAX_BYTES}")
        if b"\x00" in text:
            raise UserError(f"{name}: binary file, expected YAML text")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise UserError(f"{name}: file is empty, expected a YAML mapping")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"{name}:{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{name}: invalid YAML ({exc.__class__.__name__})") from None


def load_yaml(path: str | Path):
    from rollout.localfile import read_regular_file

    path = Path(path)
    return parse_yaml(read_regular_file(path, MAX_BYTES, "a YAML file"), str(path))
