"""YAML read with YAML 1.2 scalars, so that a YAML schema means what the same JSON would.

PyYAML follows YAML 1.1, where ``no`` is false, ``12:30`` is the integer 750 and
``2024-01-31`` is a date object: in a schema file that would silently change enum values and
bounds. Here only YAML 1.2's core forms are resolved (true/false, null, decimal integers,
floats); everything else stays a string, as it would be in JSON.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_DECIMAL = re.compile(r"[-+]?[0-9]+")


class _Yaml12Loader(yaml.SafeLoader):
    pass


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in {_BOOL, _INT, _FLOAT, _TIMESTAMP}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Yaml12Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    # YAML 1.1 reads "017" as octal 15; YAML 1.2 and JSON read it as 17. Explicitly tagged
    # forms (!!int 0x1F) keep PyYAML's reading.
    text = loader.construct_scalar(node)
    if isinstance(text, str) and _DECIMAL.fullmatch(text):
        return int(text)
    return loader.construct_yaml_int(node)


_Yaml12Loader.add_constructor(_INT, _construct_int)


def load_yaml(text: str) -> Any:
    """One YAML document; raises ``yaml.YAMLError`` or ``ValueError`` (a bad tagged value)."""
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
