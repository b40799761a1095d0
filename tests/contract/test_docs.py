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


def test_pipeline_md_matches_the_states_types():
    from earchive.pipeline.contracts import pipeline_markdown

    text = (ROOT / "docs" / "pipeline.md").read_text("utf-8")
    assert pipeline_markdown() in text, "regenerate docs/pipeline.md from earchive.pipeline.contracts.pipeline_markdown()"


def test_every_adr_is_in_the_index_with_its_status():
    index = (ROOT / "docs" / "adr" / "README.md").read_text("utf-8")
    for adr in sorted((ROOT / "docs" / "adr").glob("0*.md")):
        assert f"({adr.name})" in index, f"docs/adr/README.md does not list {adr.name}"
        text = adr.read_text("utf-8")
        assert "Status:" in text and "## Alternatives considered" in text, f"{adr.name}: give its status and the roads not taken"
