"""No literal partition in what CloudFormation and Step Functions receive (issue 22, F1): a China stack (aws-cn) runs the
same template and state machines as a global one, so every ARN is built from ${AWS::Partition} (the template) or the
${Partition} substitution (the ASL). A literal arn:aws: fails every execution in China with States.Runtime."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LITERAL = re.compile(r"arn:aws(?:-cn|-us-gov|-iso[a-z-]*)?:")


def literal_partitions(text: str) -> list[str]:
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {text[m.start():m.start() + 60].splitlines()[0]}" for m in LITERAL.finditer(text)]


def test_the_finder_finds_each_partition_and_spares_the_substituted_form():
    assert len(literal_partitions('"arn:aws:states:::lambda:invoke" arn:aws-cn:s3:::b arn:aws-us-gov:iam::1:root')) == 3
    assert literal_partitions('"arn:${Partition}:states:::lambda:invoke" !Sub "arn:${AWS::Partition}:s3:::${B}"') == []


def test_no_state_machine_names_a_partition():
    machines = sorted((ROOT / "statemachine").glob("*.json"))
    assert machines, "the state machines are in statemachine/"
    found = {m.name: literal_partitions(m.read_text("utf-8")) for m in machines}
    assert not any(found.values()), {k: v for k, v in found.items() if v}
    for m in machines:
        assert "arn:${Partition}:" in m.read_text("utf-8"), f"{m.name}: its Resources name the partition substituted"


def test_the_template_names_no_partition():
    assert literal_partitions((ROOT / "template.yaml").read_text("utf-8")) == []
