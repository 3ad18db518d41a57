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


def documented_commands():
    """(page, installed command name, its flags) of every command line in the README's and docs' text: `aae-NAME
    ...`, `python launch/NAME.py ...` and `accelerate launch ... -m aae_dist.train` or `launch/train.py` (the
    flags after the program; docs/cli.md is --help itself)."""
    import re

    program = re.compile(r"(?:\baae-(train|generate|evaluate|plot|push)\b|\blaunch/(train|generate|evaluate|plot|push)"
                         r"\.py\b|-m aae_dist\.(train)\b)(.*)")
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        if page.name == "cli.md":
            continue
        text = page.read_text().replace("\\\n", " ")  # a shell line continued
        for line in text.splitlines():
            for segment in re.split(r"`|;|&&|\|", line):  # one command of a line, a code span, a table cell
                match = program.search(segment)
                if match:
                    name = "aae-" + next(group for group in match.groups()[:3] if group)
                    yield page.name, name, re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", match.group(4).split("#")[0])


def test_every_flag_of_a_documented_command_is_an_option_of_that_command():
    options = {name: importlib.import_module(module).build_parser(prog=name)._option_string_actions
               for name, module in cli_docs.commands()}
    seen = 0
    for page, name, flags in documented_commands():
        for option in flags:
            assert option in options[name], f"{page}: `{name} ... {option}`: {name} has no option {option}"
            seen += 1
    assert seen > 200  # the pages' commands were found
