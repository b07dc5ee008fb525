"""Reading a recipe's YAML strictly: UTF-8 only, no duplicate keys, errors with their line, and
bounded in what a small file can make the loader build: nesting depth, aliases (a billion-laughs
document is a few lines of anchors that expand to gigabytes) and integer length."""

from __future__ import annotations

from pathlib import Path

import yaml


class YamlProblem(ValueError):
    """A recipe file that is not a valid YAML document; the message starts with the line."""


# A recipe nests about six levels; a tiny-config's `config` a few more.
MAX_DEPTH = 32
# Aliases a recipe may use (`<<: *defaults` and the like), and the nodes the document may hold
# once every alias is expanded, as a consumer walking it sees them.
MAX_ALIASES = 64
MAX_EXPANDED_NODES = 100_000
# Digits of an integer: a 64-bit value has at most 20; Python refuses to parse past 4,300.
MAX_INTEGER_DIGITS = 24


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML lets the last of two equal keys win silently; a recipe must not. Depth, aliases and
    integer length are checked while composing, before any object is built."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise YamlProblem(f"line {mark.line + 1}: more than {MAX_ALIASES} aliases (`*name`) in one recipe")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlProblem(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expanded_size(node)
        return node

    def construct_yaml_int(self, node):
        text = str(node.value).lstrip("+-").replace("_", "")
        digits = len(text[2:] if text[:2].lower() in ("0x", "0o", "0b") else text)
        if digits > MAX_INTEGER_DIGITS:
            raise YamlProblem(
                f"line {node.start_mark.line + 1}: an integer of {digits} digits (at most {MAX_INTEGER_DIGITS})"
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<:` merges may override keys by design
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first_line:
                        raise YamlProblem(f"line {line}: duplicate key {key!r} (first set on line {first_line[key]})")
                    first_line[key] = line
                except TypeError:
                    continue  # unhashable keys: the base constructor names them
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


def _check_expanded_size(root) -> None:
    """The nodes ``root`` holds with every alias expanded, counted once per shared node (memoized),
    so the count itself takes time linear in the document."""
    sizes: dict[int, int] = {}
    # Children before parents, without recursion (depth is bounded, but this needs no stack).
    order, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
        if sizes[id(node)] > MAX_EXPANDED_NODES:
            raise YamlProblem(
                f"line {node.start_mark.line + 1}: aliases expand this document past {MAX_EXPANDED_NODES:,} "
                "values (an alias bomb?)"
            )


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml(path: Path) -> object:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise YamlProblem(f"line {line}: not UTF-8 text (byte {raw[err.start]:#04x})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        detail = " ".join(str(part) for part in (err.context, err.problem) if part)
        raise YamlProblem(f"{where}: {detail}") from None
    except yaml.YAMLError as err:
        raise YamlProblem(f"YAML: {err}") from None
