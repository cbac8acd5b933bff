"""Walking a parsed JSON / YAML tree (workflows, resource inputs)."""
from __future__ import annotations


def strings(node, path=()):
    """Every string in the tree with the key path that leads to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, path + (index,))
    elif isinstance(node, str):
        yield path, node


def texts(node):
    """Every string in the tree."""
    return (text for _, text in strings(node))
