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

# The pseudo parameters CloudFormation gives a stack, per partition (`LocalCloud(mode=...)`, `earchive local up --china`).
# AWS China: partition aws-cn, Beijing region, service endpoints under amazonaws.com.cn (docs.amazonaws.cn, "ARNs" and
# "Endpoints"); the local cloud runs the same template under either set.
MODES: dict[str, dict[str, str]] = {
    "global": {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"},
    "china": {"AWS::Partition": "aws-cn", "AWS::Region": "cn-north-1", "AWS::URLSuffix": "amazonaws.com.cn"},
}


class RuleFailed(ValueError):
    """A template Rule's assertion failed: CloudFormation refuses the stack before creating anything."""


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
    mode: str = "global"

    def __post_init__(self) -> None:
        for name, p in self.template.get("Parameters", {}).items():
            self.params.setdefault(name, str(p.get("Default", "")))
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: one of {', '.join(MODES)}")
        self.params.update({"AWS::AccountId": ACCOUNT, "AWS::StackName": "earchive-local", **MODES[self.mode]})

    @property
    def partition(self) -> str:
        return str(self.params["AWS::Partition"])

    @property
    def region(self) -> str:
        return str(self.params["AWS::Region"])

    @property
    def url_suffix(self) -> str:
        return str(self.params["AWS::URLSuffix"])

    def check_rules(self) -> None:
        """Evaluate the template's Rules as CloudFormation does before creating a stack: every assertion of a rule whose
        RuleCondition holds (or that has none) must hold, else the stack is refused with its AssertDescription."""
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.value(assertion["Assert"]):
                    raise RuleFailed(f"template rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")

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
