"""The `mmeops` command line: a thin layer over the library.

Each command builds its objects, calls one library function and prints. The library never
prints; errors come back as the project's own exceptions and leave here as one line with
the exit code the error carries (2 for bad input, 3 for a verdict, 1 otherwise).
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from mmeops.errors import MmeopsError

# Each command's module, which registers it on `main` when imported. A module is imported
# when one of its commands runs (or `--help` lists them all), so `mmeops --version` and each
# command pay only their own imports: importing every module cost about a second of CPU per
# process, and a workflow job runs several. tests/cli/test_lazy_commands.py checks this table
# against what the modules register.
COMMANDS = {
    "validate": "config_cmds",
    "schema": "config_cmds",
    "stack": "stack_cmds",
    "serve": "stack_cmds",
    "extract": "extract_cmds",
    "tune": "tune_cmds",
    "register": "register_cmds",
    "retrain": "register_cmds",
    "due": "loop_cmds",
    "started": "loop_cmds",
    "invoke": "loop_cmds",
    "demo": "demo_cmds",
    "reconcile": "reconcile_cmds",
    "promote": "reconcile_cmds",
    "affected": "workflow_cmds",
    "undeployed": "workflow_cmds",
    "rolling": "workflow_cmds",
    "monitor": "monitor_cmds",
    "new": "new_cmds",
    "routes": "routes_cmds",
    "review-kind": "review_cmds",
    "invoker": "invoker_cmds",
    "canary": "canary_cmds",
}


def load_all() -> None:
    """Import every command's module (what `--help` does)."""
    for module in sorted(set(COMMANDS.values())):
        importlib.import_module(f"{__name__}.{module}")


class CommandError(click.ClickException):
    """A project error on its way out: click prints `Error: <message>` on stderr."""

    def __init__(self, error: MmeopsError):
        super().__init__(str(error))
        self.exit_code = error.exit_code


class UnexpectedError(click.ClickException):
    """Any other exception: a bug. One line that says where, never the exception's text (it may
    quote a DSN or a key); `--debug` shows the whole traceback."""

    exit_code = 1

    def __init__(self, error: BaseException):
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if "/mmeops/" in f.filename] or frames
        where = (
            f" at {ours[-1].filename.rpartition('/mmeops/')[2]}:{ours[-1].lineno}" if ours else ""
        )
        super().__init__(
            f"unexpected {type(error).__name__}{where}; rerun with --debug to see the "
            "traceback, and report it if the cause is not yours"
        )


class MmeopsGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}")
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MmeopsError as e:
            raise CommandError(e) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            if ctx.params.get("debug"):
                raise
            # os.stat in click's Path type refuses a NUL byte with a ValueError
            if isinstance(e, ValueError) and "null byte" in str(e):
                raise click.UsageError("an argument holds a NUL byte; no name or path may") from e
            raise UnexpectedError(e) from None


@click.group(cls=MmeopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mmeops")
@click.option(
    "--repo",
    "repo_root",
    type=click.Path(file_okay=False, exists=True),
    envvar="MMEOPS_REPO",
    show_envvar=True,
    help="Repository root holding mmeops.yaml, models/ and environments/ "
    "[default: the nearest folder at or above this one holding mmeops.yaml]. Point it (or "
    "MMEOPS_REPO) at a copy to try the loop without editing your clone.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="MMEOPS_DEBUG",
    show_envvar=True,
    help="On an unexpected error, show Python's traceback instead of one line.",
)
@click.pass_context
def main(ctx: click.Context, repo_root: str | None, debug: bool) -> None:
    """GitOps for SageMaker multi-model endpoints.

    Example:

        mmeops validate
    """
    from mmeops.config.repo import find_root
    from mmeops.outputs import check_github_files

    check_github_files()  # before any command writes anything anywhere
    ctx.obj = {"repo_root": repo_root or str(find_root())}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
