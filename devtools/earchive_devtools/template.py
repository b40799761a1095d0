"""template.yaml read as CloudFormation would: short-form tags, and the intrinsic functions the template uses.

The local cloud provisions from this, so the template and what runs locally cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


class _Tag:
    def __init__(self, tag: str, value: Any):
        self.tag, self.value = tag, value


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml with CloudFormation short-form tags turned into {'Fn::X': …} / {'Ref': …}."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(path.read_text("utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Resolver:
    """Evaluates the intrinsic functions the template uses, against local names."""

    template: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # logical id -> physical name / id
    arns: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, p in self.template.get("Parameters", {}).items():
            self.params.setdefault(name, str(p.get("Default", "")))
        self.params.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": "earchive-local",
                            "AWS::URLSuffix": "amazonaws.com"})

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not _NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref":
                if v == "AWS::NoValue":
                    return _NOVALUE
                return self.params[v] if v in self.params else self.names[v]
            if k == "Fn::GetAtt":
                logical, attr = v
                return self.arns[logical] if attr == "Arn" else self.names[logical]
            if k == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), v)
            if k == "Fn::If":
                cond, yes, no = v
                return self.value(yes if self.condition(cond) else no)
            if k == "Fn::Join":  # the console's origin from ConsoleUrl (the staging bucket's CORS)
                return str(self.value(v[0])).join(str(x) for x in self.value(v[1]))
            if k == "Fn::Split":
                return str(self.value(v[1])).split(str(self.value(v[0])))
            if k == "Fn::Select":
                return self.value(v[1])[int(self.value(v[0]))]
            if k == "Fn::Not":
                return not self.value(v[0])
            if k == "Fn::Equals":
                return self.value(v[0]) == self.value(v[1])
            if k == "Fn::And":
                return all(bool(self.value(c)) for c in v)
            if k == "Fn::Or":
                return any(bool(self.value(c)) for c in v)
            if k in ("Condition", "Fn::Condition") and isinstance(v, str):
                return self.condition(v)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not _NOVALUE}

    def _sub(self, expr: str) -> str:
        if expr in self.params:
            return str(self.params[expr])
        if "." in expr:
            logical, attr = expr.split(".", 1)
            return self.arns[logical] if attr == "Arn" else self.names[logical]
        return self.names[expr]


_NOVALUE = object()
