"""Reading a recipe's YAML strictly: UTF-8 only, no duplicate keys, errors with their line."""

from __future__ import annotations

from pathlib import Path

import yaml


class YamlProblem(ValueError):
    """A recipe file that is not a valid YAML document; the message starts with the line."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML lets the last of two equal keys win silently; a recipe must not."""

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
