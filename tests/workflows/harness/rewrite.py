"""What the harness changes in its engine copy of the repository, and nowhere else, so act runs
the workflows as GitHub would. Each change exists because act lacks something GitHub has:

- `$/PATH` (GitHub's self-repository syntax, unknown to act 0.2.89) becomes
  `ORG/REPO/PATH@SHA`, which `--local-repository ORG/REPO@SHA=COPY` maps back to this commit:
  as on GitHub, actions and called workflows come from the workflow's commit, never from the
  workspace a step could have written to.
- GitHub environments: act has repository-wide `vars` and `secrets` only. A job that names an
  `environment:` gets the job variable MMEOPS_HARNESS_ENVIRONMENT set to that expression, so
  act evaluates it exactly as the workflow declares it (inputs, matrix), and its `vars.X` and
  `secrets.X` read the environment's value first, then the repository's (GitHub's
  precedence). The OIDC stand-in builds the token's `sub` from the same variable.
- Deployment branches (an environment's protection rule, "Deployment branches and tags"):
  GitHub sends a job that references an environment to a runner only once the environment's
  protection rules pass, and gives it the environment's secrets only then (GitHub docs,
  "Deployment environments"). act has no protection rules: a first step
  (harness/protection.py) fails the job when the branch that triggered the run (a pull
  request's head branch, else the ref's) is not one the environment admits, and every other
  step is skipped, `always()` ones included, so nothing in the job runs or reads a secret.
- `id-token: write`: GitHub gives a job an OIDC token only with that permission (job level,
  else workflow level); MMEOPS_HARNESS_ID_TOKEN tells the stand-in whether it has one.
- Speed, not a gap: `pip install .` in actions/setup becomes standins.py install-mmeops, which
  links the package the harness built once per session from the same sources (the commit's
  `scripts/`, `pyproject.toml`, `setup.py`, `README.md` by git object id) and runs the real
  `pip install .` whenever the job's checkout differs from them.
- One last step per job (`if: always()`) reports the job's status, environment, outputs (the
  workflow's own `outputs:` expressions, evaluated), matrix size and step summary size to the
  harness, which records deployments from it and checks GitHub's limits.
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

from ruamel.yaml import YAML

ENV_VAR = "MMEOPS_HARNESS_ENVIRONMENT"
ENVIRONMENTS_VAR = "MMEOPS_HARNESS_ENVIRONMENTS"
DENIED_VAR = "MMEOPS_HARNESS_DENIED"
_EXPR = re.compile(r"^\$\{\{\s*(.*?)\s*\}\}$", re.S)
_CONTEXT_REF = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)\b")


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def self_uses(text: str, repository: str, sha: str) -> str:
    """`uses: $/x` -> `uses: ORG/REPO/x@SHA` (text level: comments and layout stay)."""
    return re.sub(
        r"(\buses:\s*)\$/(\S+)", lambda m: f"{m.group(1)}{repository}/{m.group(2)}@{sha}", text
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _expr(value) -> str:
    """A workflow value as an expression: `${{ e }}` -> `e`; a literal -> a quoted string."""
    if isinstance(value, str):
        m = _EXPR.match(value.strip())
        if m:
            return m.group(1)
        if "${{" in value:  # a template: format('{0}-readonly', matrix.environment)
            parts = re.split(r"\$\{\{\s*(.*?)\s*\}\}", value, flags=re.S)
            literal = "".join(
                p.replace("{", "{{").replace("}", "}}") if i % 2 == 0 else f"{{{i // 2}}}"
                for i, p in enumerate(parts)
            )
            args = "".join(f", {p}" for p in parts[1::2])
            return f"format({_quote(literal)}{args})"
        return _quote(value)
    return _quote(str(value).lower() if isinstance(value, bool) else str(value))


def _environment_expr(job: dict) -> str | None:
    env = job.get("environment")
    if env is None:
        return None
    name = env.get("name") if isinstance(env, dict) else env
    return _expr(name)


def _scoped(value):
    """Every `vars.X` / `secrets.X` in a job's strings read from its environment first."""
    if isinstance(value, str):
        return _CONTEXT_REF.sub(
            lambda m: (
                f"(fromJSON(vars.{ENVIRONMENTS_VAR})[env.{ENV_VAR}].{m.group(1)}.{m.group(2)}"
                f" || {m.group(1)}.{m.group(2)})"
            ),
            value,
        )
    if isinstance(value, dict):
        for k in list(value):
            value[k] = _scoped(value[k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = _scoped(v)
    return value


def _has_id_token(job: dict, workflow: dict) -> bool:
    perms = job.get("permissions", workflow.get("permissions"))
    if perms == "write-all":
        return True
    return isinstance(perms, dict) and perms.get("id-token") == "write"


def _recorder_step(job: dict) -> dict:
    outputs = ", ".join(
        f'"{name}": ${{{{ toJSON({_expr(value)}) }}}}'
        for name, value in (job.get("outputs") or {}).items()
    )
    line = (
        '{"status": ${{ toJSON(job.status) }}, '
        f'"environment": ${{{{ toJSON(env.{ENV_VAR}) }}}}, '
        '"job_total": ${{ toJSON(strategy.job-total) }}, '
        '"matrix": ${{ toJSON(matrix) }}, '
        f'"outputs": {{{outputs}}}}}'
    )
    return {
        "name": "mmeops-harness record",
        "if": "always()",
        "shell": "bash",
        "run": (
            '"$MMEOPS_HARNESS_PYTHON" "$MMEOPS_HARNESS_RECORDER" <<\'MMEOPS_HARNESS_EOF\'\n'
            f"{line}\nMMEOPS_HARNESS_EOF\n"
        ),
    }


def _protection_step() -> dict:
    return {
        "name": "mmeops-harness environment protection",
        "shell": "bash",
        "env": {"MMEOPS_HARNESS_BRANCH": "${{ github.head_ref || github.ref_name }}"},
        "run": '"$MMEOPS_HARNESS_PYTHON" "$MMEOPS_HARNESS_DIR/protection.py"',
    }


def _unless_denied(step: dict) -> dict:
    """The step runs only if the protection step admitted the job, whatever its own `if:`."""
    cond = step.get("if", "success()")
    if isinstance(cond, str):
        m = _EXPR.match(cond.strip())
        cond = m.group(1) if m else cond
    else:
        cond = str(cond).lower()
    step["if"] = f"env.{DENIED_VAR} != 'true' && ({cond})"
    return step


@functools.cache
def rewrite_workflow(text: str) -> str:
    """The workflow with the harness's steps and variables (a YAML round trip of about 0.2 s
    per file, so cached by text: most runs of a session rewrite the same files). Applied
    before `self_uses`, which puts each run's commit into the text."""
    y = _yaml()
    wf = y.load(text)
    for job in (wf.get("jobs") or {}).values():
        env_expr = _environment_expr(job)
        if "steps" not in job:
            continue  # a reusable-workflow call: its called jobs get all of this
        job_env = job.setdefault("env", {})
        if env_expr is not None:
            _scoped(job["steps"])
            job_env[ENV_VAR] = f"${{{{ {env_expr} }}}}"
            steps = [_unless_denied(step) for step in job["steps"]]
            job["steps"] = [_protection_step(), *steps]
        job_env["MMEOPS_HARNESS_ID_TOKEN"] = "true" if _has_id_token(job, wf) else "false"
        job["steps"].append(_recorder_step(job))
    out = io.StringIO()
    y.dump(wf, out)
    return out.getvalue()


PIP_INSTALL = "python -m pip install --quiet --disable-pip-version-check --no-compile ."
INSTALL_STANDIN = '"$MMEOPS_HARNESS_PYTHON" "$MMEOPS_HARNESS_STANDINS/standins.py" install-mmeops'


def install_from_session_build(text: str) -> str:
    """actions/setup's `pip install .` -> the stand-in (fails loudly if the line changed)."""
    assert text.count(PIP_INSTALL) == 1, f"actions/setup no longer runs `{PIP_INSTALL}`"
    return text.replace(PIP_INSTALL, INSTALL_STANDIN)


def rewrite_tree(root: Path, repository: str, sha: str) -> None:
    """Apply every rewrite to the engine copy at `root` (never to the test's repository)."""
    for path in sorted((root / ".github" / "workflows").glob("*.yml")):
        path.write_text(self_uses(rewrite_workflow(path.read_text()), repository, sha))
    for path in sorted((root / "actions").glob("*/action.yml")):
        text = self_uses(path.read_text(), repository, sha)
        if path.parent.name == "setup":
            text = install_from_session_build(text)
        path.write_text(text)
