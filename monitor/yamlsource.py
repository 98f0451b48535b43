"""YAML documents that remember where each value came from, for `file:line: reason` errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class SourceError(Exception):
    """A problem in an input file, located by file and line (1-based; 0 when unknown)."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


PathKey = Sequence[str | int]


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data plus its node tree, so any path into the data maps to a line."""

    file: str
    data: Any
    root: yaml.Node | None

    def line_of(self, path: PathKey) -> int:
        """The line of the deepest key or list item the path reaches (the parent's when a key is
        missing). A key's line, not its value's: `holidays:` is where a bad block list is named."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for key in path:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                        child = v
                        line = k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None:
                return line
            node = child
        return line

    def error(self, path: PathKey, reason: str) -> SourceError:
        return SourceError(self.file, self.line_of(path), reason)


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings: we parse them ourselves, with a located error,
    instead of PyYAML raising a bare ValueError on an impossible date such as 2024-02-30."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; a syntax error becomes a SourceError at its line."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise SourceError(file, line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(file, 0, f"invalid YAML: {exc}") from None
    return YamlDocument(file, data, root)


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), 0, f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise SourceError(str(path), 0, f"cannot read: {exc.strerror}") from None
    return parse_yaml(text, str(path))


def load_yaml_mapping(path: Path) -> YamlDocument:
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise SourceError(str(path), 1, "the file must hold a mapping at the top level")
    return doc


def pydantic_errors(doc: YamlDocument, exc: Any, prefix: PathKey = ()) -> list[SourceError]:
    """Turn a pydantic ValidationError into located errors, one per problem."""
    errors: list[SourceError] = []
    for err in exc.errors():
        # a mapping's key at fault is located at the key (pydantic adds "[key]" after it)
        loc = [*prefix, *(p for p in err["loc"] if isinstance(p, str | int) and p != "[key]")]
        where = ".".join(str(p) for p in loc) or "(top)"
        errors.append(doc.error(loc, f"{where}: {err['msg']}"))
    return errors
