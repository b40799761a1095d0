"""Every `earchive …` line in the README's shell blocks is a command line the CLI accepts (P5, P6: no drift)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from earchive.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def command_lines() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            code = raw.split("  #")[0].split(" # ")[0].strip()
            code = re.sub(r"^\w+=\$\((.*)\)$", r"\1", code)  # VAR=$(earchive …)
            code = code.split(" || ")[0].split(" | ")[0]
            if code.startswith("earchive "):
                lines.append(code)
    return lines


def test_the_readme_shows_commands():
    assert len(command_lines()) >= 25


@pytest.mark.parametrize("line", command_lines())
def test_each_readme_command_parses(line):
    argv = shlex.split(line.replace("…", "x"))[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"README: `{line}` is not a valid command line (exit {exc.code})")
