"""Commands load their module when they run: `mmeops --version` and each command import only
what they need, and the table that says which module holds a command is the modules' own."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from mmeops import cli


def test_the_table_names_every_command_the_modules_register():
    cli.load_all()
    registered = {
        name: command.callback.__module__.rpartition(".")[2]
        for name, command in cli.main.commands.items()
    }
    assert registered == cli.COMMANDS


def test_help_lists_every_command():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1]
    assert {line.split()[0] for line in listed.strip().splitlines() if line.strip()} == set(
        cli.COMMANDS
    )


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom mmeops.cli import main\ntry:\n"
        f"    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('MODULES:', *(m for m in sys.modules if m.startswith(('mmeops.cli.', 'boto3'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.rpartition("MODULES:")[2].split())


def test_version_imports_no_command_and_a_command_only_its_own():
    assert _modules_after(["--version"]) == set()
    assert _modules_after(["schema", "--help"]) == {"mmeops.cli.config_cmds"}
