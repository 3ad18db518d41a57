"""The generated reference pages match what they are generated from: docs/cli.md is every command's --help."""

import importlib
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import cli_docs  # noqa: E402


@pytest.mark.parametrize("name,module", cli_docs.commands())
def test_the_cli_reference_is_each_commands_help(name, module, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", cli_docs.COLUMNS)
    monkeypatch.delenv("AAE_DATA_ROOT", raising=False)  # as the page is written: with the built-in defaults
    monkeypatch.setattr(sys, "argv", [name])  # the installed command's name heads its usage
    with pytest.raises(SystemExit) as exit:
        importlib.import_module(module).main(["--help"])
    assert exit.value.code == 0
    help_text = capsys.readouterr().out.rstrip()
    assert f"## {name}\n\n```text\n{help_text}\n```" in (REPO / "docs" / "cli.md").read_text(), \
        f"docs/cli.md differs from {name} --help: run python tools/cli_docs.py"


def test_cli_docs_check_passes_on_the_committed_page():
    result = subprocess.run([sys.executable, "tools/cli_docs.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_relative_link_of_the_readme_and_docs_names_a_file():
    import re

    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.relative_to(REPO)} links to missing {target}"


def test_every_table_row_preset_is_in_the_help_and_in_the_presets_table_with_its_flags():
    from aae_dist.config import PRESETS, TrainConfig, flag

    help_text = " ".join(TrainConfig.__dataclass_fields__["preset"].metadata["help"].split())
    table = {row.split("|")[1].strip(" `"): row for row in (REPO / "docs" / "training.md").read_text().splitlines()
             if row.startswith("| `")}
    for name, values in PRESETS.items():
        assert name in help_text, f"--preset's help does not name {name}"
        if name in ("seed", "paper"):  # described in prose: the lecture's recipe, and the likelihood model
            continue
        assert name in table, f"docs/training.md's table of presets has no row {name}"
        for key, value in values.items():
            shown = f"{value:g}" if isinstance(value, float) else value
            assert f"{flag(key)} {shown}" in table[name], f"docs/training.md: {name}'s row lacks {flag(key)} {shown}"
