"""Which role each command runs under, from which workflow `environment:`: the table below is
the design (docs/iam/README.md prints it), and until the workflows are executed this test
checks it against the workflow files themselves.

From every workflow job it derives each mmeops command the job runs (a `$/actions/NAME` step
runs `mmeops NAME`, reconcile with the `mode` it is given; `run:` lines) and the GitHub
environment it runs in, with matrices expanded and reusable workflows followed into their
callers (`inputs.*` substituted, the `environment:` expression evaluated). The role is then
the one whose OIDC trust in infra/bootstrap.yaml admits that environment's token
(tests/iam/iam_model.py), and the roles the command reaches from it are the chained hops the
template allows.
"""

from __future__ import annotations

import itertools
import re

import pytest
import yaml
from iam_model import ROOT, reachable, web_identity_roles, world

# The design, in the package: the demo runs each step under the same roles.
from mmeops.stack.iam.workflow_roles import ENVIRONMENTS, TABLE

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _evaluate(text: str, values: dict[str, str]) -> str:
    """A `${{ }}` expression of the few forms the workflows use for `environment:` and
    `with:` values: `inputs.x`, `matrix.x`, string literals, ==, &&, || and format()."""

    def one(m: re.Match) -> str:
        expr = m[1].strip()
        expr = re.sub(r"\b(?:inputs|matrix)\.[\w-]+", lambda v: repr(values[v[0]]), expr)
        expr = expr.replace("&&", " and ").replace("||", " or ")
        expr = re.sub(r"format\('([^']*)', ", r"_format('\1', ", expr)
        assert re.fullmatch(r"[\w\s'{}\-=().,]*", expr), f"expression not modelled: {m[1]}"
        return str(eval(expr, {"_format": lambda f, *a: f.format(*a)}))  # noqa: S307

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def _commands(step: dict, values: dict[str, str]) -> list[str]:
    uses = step.get("uses", "")
    # setup installs mmeops, deployed asks GitHub (gh): neither runs an mmeops command.
    if uses.startswith("$/actions/") and uses not in ("$/actions/setup", "$/actions/deployed"):
        name = uses.rpartition("/")[2]
        if name == "reconcile":
            return [f"reconcile --{_evaluate(step['with']['mode'], values)}"]
        return [name]
    return re.findall(r"^\s*mmeops ([a-z-]+)", step.get("run", ""), re.M)


def _job_runs(job: dict, inputs: dict[str, str]):
    """(command, environment or None, assumes a role) for each matrix leg of a steps job."""
    matrix = {k: v for k, v in job.get("strategy", {}).get("matrix", {}).items()
              if isinstance(v, list)}  # fmt: skip
    for combo in itertools.product(*matrix.values()):
        values = {f"inputs.{k}": v for k, v in inputs.items()}
        values |= {f"matrix.{k}": v for k, v in zip(matrix, combo, strict=True)}
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment["name"]
        environment = _evaluate(environment, values) if environment else None
        role = any("role-to-assume" in s.get("with", {}) for s in job["steps"])
        for step in job["steps"]:
            for command in _commands(step, values):
                yield command, environment, role


def derived() -> set[tuple[str, str | None, bool]]:
    """Every (command, GitHub environment, assumes a role) the workflows run."""
    found = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in _load(path.name)["jobs"].values():
            if "steps" in job and "workflow_call" not in _load(path.name)["on"]:
                found |= set(_job_runs(job, {}))
            elif job.get("uses", "").startswith("$/.github/workflows/"):
                called = _load(job["uses"].rpartition("/")[2])
                declared = called["on"]["workflow_call"].get("inputs", {})
                inputs = {k: v.get("default", "") for k, v in declared.items()}
                inputs |= {k: str(v) for k, v in job.get("with", {}).items()}
                for inner in called["jobs"].values():
                    found |= set(_job_runs(inner, inputs))
    return found


def _generic(environment: str | None) -> str | None:
    for e in ENVIRONMENTS:
        if environment in (e, f"{e}-readonly"):
            return environment.replace(e, "ENV")
    return environment


def mismatches(runs) -> list[str]:
    """Where the workflows and the table disagree."""
    problems = [f"{c}: not in the table" for c in sorted({c for c, _, _ in runs} - set(TABLE))]
    problems += [f"{c}: no workflow runs it" for c in sorted(set(TABLE) - {c for c, _, _ in runs})]
    for command, environment, role in sorted(runs, key=str):
        expected, role_name, _ = TABLE.get(command, (None, None, ()))
        if _generic(environment) != expected:
            problems.append(f"{command}: runs in {environment}, the table says {expected}")
        if command in TABLE and role != (role_name is not None):
            problems.append(f"{command}: configures a role: {role}")
    return problems


def test_the_table_is_what_the_workflows_run():
    assert mismatches(derived()) == []


def test_every_environment_of_the_table_runs_all_three_accounts_where_it_says_env():
    runs = derived()
    for command, (environment, _, _) in TABLE.items():
        if environment and "ENV" in environment:
            got = {e for c, e, _ in runs if c == command}
            assert got == {environment.replace("ENV", e) for e in ENVIRONMENTS}, command


@pytest.mark.parametrize("command", sorted(c for c, row in TABLE.items() if row[1]))
def test_each_commands_environment_gets_its_role_and_reaches_what_it_assumes(command):
    environment, role_name, assumes = TABLE[command]
    w = world()
    for env in ENVIRONMENTS if "ENV" in environment else (None,):
        github_env = environment.replace("ENV", env) if env else environment
        (role,) = web_identity_roles(w, github_env)
        assert role.rpartition("/")[2] == role_name, github_env
        names = {arn.rpartition("/")[2] for arn in reachable(w, github_env)}
        assert set(assumes) <= names, (github_env, names)


def test_a_job_moved_to_another_environment_is_caught():
    """Test of the test: monitor.yml's job back in ENV-readonly, as before this design."""
    job = _load("monitor.yml")["jobs"]["monitor"]
    job["environment"] = "${{ matrix.environment }}-readonly"
    runs = {r for r in derived() if r[0] != "monitor"} | set(_job_runs(job, {}))
    assert mismatches(runs) == [
        f"monitor: runs in {e}-readonly, the table says monitor" for e in sorted(ENVIRONMENTS)
    ]
