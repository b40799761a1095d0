"""Regenerate what the docs take from code: ``python -m earchive_devtools.docs`` (tests/contract checks they agree).

docs/checks.md (the DA/T 70 catalogue), docs/pipeline.md (each state's input and output) and the
README's table of environment variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

from earchive.check import catalogue_markdown
from earchive.config import environment_markdown
from earchive.pipeline.contracts import pipeline_markdown

from .localcloud import repo_root


def _replace_table(text: str, start: str, table: str) -> str:
    """Swap the Markdown table that begins with the line ``start`` (up to the first blank line) for ``table``."""
    i = text.index(start)
    j = text.find("\n\n", i)
    return text[:i] + table.rstrip("\n") + (text[j:] if j != -1 else "\n")


def regenerate(root: Path) -> list[Path]:
    written = []
    for path, start, table in ((root / "docs" / "checks.md", "| 归档 ID |", catalogue_markdown()),
                               (root / "docs" / "pipeline.md", "| state | module |", pipeline_markdown()),
                               (root / "README.md", "| variable | read by |", environment_markdown())):
        text = path.read_text("utf-8")
        new = _replace_table(text, start, table) if path.name != "pipeline.md" else text[: text.index(start)] + table
        if new != text:
            path.write_text(new, "utf-8")
            written.append(path)
    return written


def main() -> int:
    for path in regenerate(repo_root()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
