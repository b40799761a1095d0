"""Documentation that is generated from code stays in sync with it."""

from pathlib import Path

from earchive.check import CATALOGUE, catalogue_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_checks_md_matches_catalogue():
    text = (ROOT / "docs" / "checks.md").read_text("utf-8")
    assert catalogue_markdown() in text, "regenerate docs/checks.md from earchive.check.catalogue_markdown()"
    assert len(CATALOGUE) == text.count("| GD-")


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text("utf-8")
