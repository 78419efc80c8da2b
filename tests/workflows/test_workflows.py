"""The GitHub workflows and composite actions, checked statically: what GitHub would reject at
run time (a missing action, an undeclared input, an output nobody writes), what the mmeops CLI
would reject (an option that does not exist), and the security rules (pins, permissions, no
expressions in scripts, OIDC only). zizmor and the GitHub JSON schemas run here too."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from ruamel.yaml import YAML

from mmeops.cli import main

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
BIN = Path(sys.executable).parent

# Third-party actions, each pinned to the commit of a release (looked up in the action's own
# repository: `git show-ref --tags`); a new pin or version is added here consciously.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "actions/create-github-app-token": ("1b10c78c7865c340bc4f6099eb2f838309f1e8c3", "v3.1.1"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}


# Inputs and outputs of those releases (their action.yml), for `with:` and `steps.*.outputs`.
def _words(text: str) -> set[str]:
    return set(text.split())


THIRD_PARTY_INPUTS = {
    "actions/checkout": _words(
        "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user persist-credentials "
        "path clean filter sparse-checkout sparse-checkout-cone-mode fetch-depth fetch-tags "
        "show-progress lfs submodules set-safe-directory github-server-url "
        "allow-unsafe-pr-checkout"
    ),
    "actions/setup-python": _words(
        "python-version python-version-file cache architecture check-latest token "
        "cache-dependency-path update-environment allow-prereleases freethreaded "
        "pip-version"
    ),
    "aws-actions/configure-aws-credentials": _words(
        "aws-region aws-profile overwrite-aws-profile role-to-assume aws-access-key-id "
        "aws-secret-access-key aws-session-token web-identity-token-file role-chaining audience "
        "http-proxy no-proxy mask-aws-account-id role-duration-seconds role-external-id "
        "role-session-name role-skip-session-tagging transitive-tag-keys inline-session-policy "
        "managed-session-policies output-credentials output-env-credentials "
        "unset-current-credentials disable-retry retry-max-attempts "
        "special-characters-workaround use-existing-credentials allowed-account-ids "
        "force-skip-oidc action-timeout-s custom-tags sts-endpoint"
    ),
    # Of its 60-odd permission-* inputs, the ones a step here may name.
    "actions/create-github-app-token": _words(
        "client-id app-id private-key owner repositories skip-token-revoke github-api-url "
        "permission-contents permission-pull-requests permission-members"
    ),
    "actions/upload-artifact": _words(
        "name path if-no-files-found retention-days compression-level overwrite "
        "include-hidden-files archive"
    ),
    "actions/download-artifact": _words(
        "name artifact-ids path pattern merge-multiple github-token repository run-id "
        "skip-decompress digest-mismatch"
    ),
}
THIRD_PARTY_OUTPUTS = {
    "actions/checkout": {"ref", "commit"},
    "actions/setup-python": {"python-version", "cache-hit", "python-path"},
    "aws-actions/configure-aws-credentials": {
        "aws-account-id", "aws-access-key-id", "aws-secret-access-key", "aws-session-token",
        "aws-expiration",
    },
    "actions/create-github-app-token": {"token", "installation-id", "app-slug"},
    "actions/upload-artifact": {"artifact-id", "artifact-url", "artifact-digest"},
    "actions/download-artifact": {"download-path"},
}  # fmt: skip
# Step outputs the mmeops commands write to $GITHUB_OUTPUT themselves.
MMEOPS_OUTPUTS = {
    "extract": {"run_id"},
    "register": {"version"},
    "due": {"models"},
    "started": {"claimed"},
    # One output per environment: the plan and deploy workflows' three (checked below).
    "affected": {"sandbox", "qa", "prod"},
    "undeployed": {"sandbox", "qa", "prod"},
    "monitor": {"data_drift", "quality"},
}

# Plausible values for the shell variables of `mmeops` command lines; a list tries each.
SHELL_VALUES = {
    "PR": "42",
    "KIND": "scheduled",
    "MODEL": "diabetes-progression",
    "START": "2025-01-01",
    "END": "2026-01-01",
    "RUN_ID": "20261122T030000Z-a1b2c3",
    "DATASET": "20261122T030000Z-a1b2c3",
    "BACKEND": ["sagemaker", "local"],
    "MAX_JOBS": "4",
    "testing": "1",
    "TUNING_JOB": "diabetes-progression-20261122t0300",
    "report": "/tmp/evaluation.md",
    "html": "/tmp/monitor-sandbox.html",
    "ENVIRONMENT": "sandbox",
    "MODE": ["plan", "apply", "check"],
    "prune": "1",
    "VERSION": "3",
    "TO": ["sandbox", "qa", "prod"],
    "SINCE": "2026-11-22T03:00:00Z",
    "UNTIL": "2026-11-22T04:00:00Z",
    "MODELS": "breast-cancer diabetes-progression",
    "full": "/tmp/reconcile-full.md",
    "RUNNER_TEMP": "/tmp",
    "issues": "/tmp/monitor-issues",
    "SANDBOX_SHA": ["3f2c1e0", ""],
    "QA_SHA": "3f2c1e0",
    "PROD_SHA": "",
    "GITHUB_RUN_ID": "1234567890",
    "PINS_DIR": "/tmp/retrained",
    "previous_file": "/tmp/rolling-previous.yaml",
    "previous_body": "/tmp/rolling-previous.md",
    "BODY_FILE": ["/tmp/why.md", ""],
    "body": "/tmp/body.md",
}


def _load(path: Path) -> dict:
    # YAML 1.2 (ruamel's default) keeps the `on:` key a string; PyYAML would make it True.
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


WF = {p.name: _load(p) for p in WORKFLOWS}
ACT = {p.parent.name: _load(p) for p in ACTIONS}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _local_target(uses: str) -> Path | None:
    """`./x` (workspace-relative) or `$/x` (GitHub's self-repository syntax) -> a path."""
    for prefix in ("./", "$/"):
        if uses.startswith(prefix):
            return ROOT / uses[len(prefix) :]
    return None


def _jobs():
    for name, wf in WF.items():
        for job_id, job in wf["jobs"].items():
            yield name, job_id, job


def _steps():
    """(where, steps) for every job with steps and every composite action."""
    for name, job_id, job in _jobs():
        if "steps" in job:
            yield f"{name}:{job_id}", job["steps"]
    for name, action in ACT.items():
        yield f"actions/{name}", action["runs"]["steps"]


def _runs():
    for where, steps in _steps():
        for step in steps:
            if "run" in step:
                yield where, step


def _workflow_call(wf: dict) -> dict:
    return (wf["on"].get("workflow_call") or {}) if isinstance(wf["on"], dict) else {}


# --- local actions, reusable workflows and their inputs ------------------------------------


def test_every_local_action_and_reusable_workflow_exists():
    uses = [(w, s["uses"]) for w, steps in _steps() for s in steps if "uses" in s]
    uses += [(f"{n}:{j}", job["uses"]) for n, j, job in _jobs() if "uses" in job]
    local = [(w, u, _local_target(u)) for w, u in uses if _local_target(u)]
    assert local, "no local actions found: the parser is broken"
    for where, u, target in local:
        exists = target.is_file() if u.endswith(".yml") else (target / "action.yml").is_file()
        assert exists, f"{where}: {u} does not exist"


def test_every_input_and_output_has_a_description():
    for name, action in ACT.items():
        assert action.get("description"), f"actions/{name} has no description"
        for kind in ("inputs", "outputs"):
            for key, spec in (action.get(kind) or {}).items():
                assert spec.get("description"), f"actions/{name}: {kind[:-1]} {key}"
    for name, wf in WF.items():
        call = _workflow_call(wf)
        for kind in ("inputs", "outputs", "secrets"):
            for key, spec in (call.get(kind) or {}).items():
                assert spec.get("description"), f"{name}: workflow_call {kind[:-1]} {key}"


def test_action_steps_get_only_declared_inputs_and_every_required_one():
    checked = 0
    for where, steps in _steps():
        for step in steps:
            uses = step.get("uses", "")
            given = set(step.get("with") or {})
            if target := _local_target(uses):
                declared = _load(target / "action.yml").get("inputs") or {}
                required = {k for k, v in declared.items() if v.get("required")}
                assert given <= set(declared), (
                    f"{where}: {uses} has no input {given - set(declared)}"
                )
                assert required <= given, f"{where}: {uses} needs {required - given}"
                checked += 1
            elif uses:
                known = THIRD_PARTY_INPUTS[uses.split("@")[0]]
                assert given <= known, f"{where}: {uses} has no input {given - known}"
    assert checked >= 10


def _type_ok(kind: str, value) -> bool:
    if isinstance(value, str) and value.strip().startswith("${{"):
        return True  # an expression: GitHub converts it at run time
    return {
        "boolean": isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
    }[kind]


def test_reusable_workflow_calls_pass_declared_inputs_of_the_right_type():
    calls = [(n, j, job) for n, j, job in _jobs() if "uses" in job]
    assert calls
    for name, job_id, job in calls:
        called = _load(_local_target(job["uses"]))
        call = _workflow_call(called)
        assert call, f"{name}:{job_id}: {job['uses']} is not a reusable workflow"
        declared, given = call.get("inputs") or {}, job.get("with") or {}
        for key, value in given.items():
            assert key in declared, f"{name}:{job_id}: {job['uses']} has no input {key}"
            kind = declared[key]["type"]
            assert _type_ok(kind, value), f"{name}:{job_id}: {key}={value!r} is not a {kind}"
        missing = {k for k, v in declared.items() if v.get("required")} - set(given)
        assert not missing, f"{name}:{job_id}: {job['uses']} needs {missing}"
        secrets = job.get("secrets") or {}
        if secrets != "inherit":
            assert set(secrets) <= set(call.get("secrets") or {}), f"{name}:{job_id} secrets"


# --- mmeops command lines against the real CLI ----------------------------------------------


def _substitute(line: str, values: dict) -> str:
    # ${VAR:+WORD} as if VAR were set, ${VAR:-WORD} as VAR, then $VAR and ${VAR}.
    line = re.sub(r"\$\{(\w+):\+([^}]*)\}", lambda m: m[2], line)
    line = re.sub(r"\$\{(\w+):-[^}]*\}", lambda m: values[m[1]], line)
    line = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m[1] or m[2]], line)
    return line


def _variants(line: str):
    names = sorted(set(re.findall(r"\$\{?(\w+)", line)))
    for name in names:
        assert name in SHELL_VALUES, f"no plausible value for ${name}: add it to SHELL_VALUES"
    choices = [v if isinstance(v, list) else [v] for v in (SHELL_VALUES[n] for n in names)]
    for combo in itertools.product(*choices):
        yield _substitute(line, {**SHELL_VALUES, **dict(zip(names, combo, strict=True))})


def _mmeops_lines():
    for where, step in _runs():
        script = step["run"].replace("\\\n", " ")
        for raw in script.splitlines():
            line = raw.strip()
            if line.startswith("mmeops "):
                # The command itself: what follows a redirection or `||` is the shell's.
                yield where, re.split(r"\s(?:\|\||&&|\||;|2?>>?)\s", line)[0]


def _parse(args: list[str]) -> click.Context:
    """Parse like the shell would call it, without running: unknown options, bad choices,
    missing arguments and bad values raise click's usage errors."""
    parent = click.Context(main, info_name="mmeops", obj={"repo_root": "."})
    if args[0].startswith("-"):
        assert args == ["--version"], args
        return parent
    command = main.get_command(parent, args[0])
    assert command is not None, f"mmeops has no command {args[0]!r}"
    return command.make_context(args[0], args[1:], parent=parent, resilient_parsing=False)


def test_every_mmeops_command_line_parses_against_the_cli():
    lines = list(_mmeops_lines())
    commands = set()
    for where, line in lines:
        for variant in _variants(line):
            try:
                ctx = _parse(shlex.split(variant)[1:])
            except click.UsageError as e:
                pytest.fail(f"{where}: `{variant}`: {e.format_message()}")
            commands.add(ctx.info_name)
    assert {"extract", "tune", "register", "reconcile", "promote", "due", "validate"} <= commands


def test_a_misspelt_option_would_be_caught():
    with pytest.raises(click.UsageError, match="--dry-run"):
        _parse(["reconcile", "sandbox", "--dry-run"])
    with pytest.raises(click.UsageError):
        _parse(["tune", "diabetes-progression", "--backend", "laptop"])


def test_the_outputs_mmeops_writes_are_the_ones_assumed(tmp_path, monkeypatch):
    for name, outputs in MMEOPS_OUTPUTS.items():
        source = Path(sys.modules[main.get_command(None, name).callback.__module__].__file__)
        if name in ("affected", "undeployed"):  # named after the environments: run for real
            continue
        for output in outputs:
            assert f'set_output("{output}"' in source.read_text(), f"mmeops {name}: {output}"
    # `due` is cheap to run for real: the matrix it writes is JSON.
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    main.main(["--repo", str(ROOT), "due", "--since", "2026-11-16T02:00Z", "--until",
               "2026-11-16T04:00Z"], standalone_mode=False)  # fmt: skip
    written = dict(line.partition("=")[::2] for line in out.read_text().splitlines())
    models = json.loads(written["models"])
    assert models and set(models) <= {p.name for p in ROOT.glob("models/*")}


# --- outputs read are outputs written -------------------------------------------------------


def _written_by(step: dict) -> set[str]:
    uses = step.get("uses", "")
    if target := _local_target(uses):
        return set(_load(target / "action.yml").get("outputs") or {})
    if uses:
        return THIRD_PARTY_OUTPUTS[uses.split("@")[0]]
    script = step.get("run", "")
    written = set()
    if "GITHUB_OUTPUT" in script:
        written |= set(re.findall(r'echo "([\w-]+)(?:=|<<)', script))
        # `for env in sandbox qa prod; do echo "$env=..."`: one output per loop word.
        for var in re.findall(r'echo "\$(\w+)=', script):
            loop = re.search(rf"for {var} in ([\w -]+); do", script)
            written |= set(loop[1].split()) if loop else set()
    for line in script.splitlines():
        if line.strip().startswith("mmeops "):
            written |= MMEOPS_OUTPUTS.get(line.split()[1], set())
    return written


def _expressions(node) -> str:
    return re.sub(r"\s+", " ", str(node))


def _check_step_refs(where: str, steps: list, text: str):
    by_id = {s["id"]: s for s in steps if "id" in s}
    for step_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
        assert step_id in by_id, f"{where}: no step {step_id}"
        assert output in _written_by(by_id[step_id]), f"{where}: {step_id} never writes {output}"


def test_every_output_read_is_one_its_step_or_job_writes():
    for name, job_id, job in _jobs():
        where = f"{name}:{job_id}"
        if "steps" in job:
            _check_step_refs(where, job["steps"], _expressions(job))
        for dep, output in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", _expressions(job)):
            needs = job.get("needs", [])
            assert dep in ([needs] if isinstance(needs, str) else needs), f"{where}: needs {dep}"
            other = WF[name]["jobs"][dep]
            declared = (
                _workflow_call(_load(_local_target(other["uses"]))).get("outputs")
                if "uses" in other
                else other.get("outputs")
            ) or {}
            assert output in declared, f"{where}: job {dep} has no output {output}"
    for name, wf in WF.items():
        for key, spec in (_workflow_call(wf).get("outputs") or {}).items():
            for job_id, output in re.findall(r"jobs\.([\w-]+)\.outputs\.([\w-]+)", spec["value"]):
                assert output in (wf["jobs"][job_id].get("outputs") or {}), f"{name}: {key}"
    for name, action in ACT.items():
        _check_step_refs(f"actions/{name}", action["runs"]["steps"], _expressions(action))


# --- security ---------------------------------------------------------------------------


def test_third_party_actions_are_pinned_to_a_release_commit_with_its_version():
    pattern = re.compile(r"uses:\s*([^\s#]+)(?:\s*#\s*(\S+))?")
    seen = set()
    for path in WORKFLOWS + ACTIONS:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = pattern.search(line)
            if not m or _local_target(m[1]):
                continue
            action, _, ref = m[1].partition("@")
            where = f"{_rel(path)}:{lineno}"
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{where}: {m[1]} is not pinned to a SHA"
            assert action in PINS, f"{where}: {action} is not an allowed third-party action"
            assert (ref, m[2]) == PINS[action], f"{where}: expected {PINS[action]}"
            seen.add(action)
    assert seen == set(PINS)


def test_no_expression_inside_a_run_script():
    for where, step in _runs():
        assert "${{" not in step["run"], f"{where}: pass values through env:, not ${{{{ }}}}"


def test_no_pull_request_target_and_no_aws_access_keys():
    for path in WORKFLOWS + ACTIONS:
        text = path.read_text()
        assert "pull_request_target" not in text, _rel(path)
        for key in ("aws-access-key-id:", "aws-secret-access-key:", "AWS_SECRET_ACCESS_KEY"):
            assert key not in text, f"{_rel(path)}: {key} (AWS only through OIDC)"


def _permissions_needed(job: dict) -> dict[str, str]:
    """What a job's steps (or the workflow it calls) actually need."""
    if "uses" in job:
        called = _load(_local_target(job["uses"]))
        need: dict[str, str] = {}
        for inner in called["jobs"].values():
            for scope, level in (inner.get("permissions") or {}).items():
                if level == "write" or need.get(scope) != "write":
                    need[scope] = level
        return need
    need: dict[str, str] = {}
    for step in job["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            need.setdefault("contents", "read")
        uses, run = step.get("uses", ""), step.get("run", "")
        if uses in ("$/actions/setup", "./actions/setup") and (step.get("with") or {}).get(
            "role-to-assume"
        ):
            need["id-token"] = "write"
        if uses.endswith("/actions/promote"):
            need |= {"contents": "write", "pull-requests": "write"}
        if "/comments" in run or "gh pr " in run:
            need["pull-requests"] = "write"
        if "gh issue " in run:
            need["issues"] = "write"
        if "gh run " in run:
            need["actions"] = "read"
        if "/deployments" in run or uses.endswith("/actions/deployed"):
            need["deployments"] = "read"
    return need


def test_permissions_are_read_only_at_the_top_and_raised_per_job_only_as_needed():
    for name, wf in WF.items():
        assert wf.get("permissions") == {"contents": "read"}, f"{name}: top-level permissions"
    for name, job_id, job in _jobs():
        granted = job.get("permissions") or {"contents": "read"}
        needed = _permissions_needed(job)
        raised = {k: v for k, v in granted.items() if v == "write" or k != "contents"}
        assert granted.get("contents", "read") in ("read", "write")
        for scope, level in needed.items():
            have = granted.get(scope, "none")
            assert have == level or (have == "write" and level == "read"), (
                f"{name}:{job_id} needs {scope}: {level}, has {have}"
            )
        for scope in raised:
            assert scope in needed, f"{name}:{job_id} raises {scope} without using it"


def test_aws_is_reached_only_through_oidc_in_jobs_that_may_mint_a_token():
    reaching = [(n, j) for n, j, job in _jobs() if _permissions_needed(job).get("id-token")]
    assert {
        ("reconcile.yml", "reconcile"),
        ("retrain.yml", "retrain"),
        ("drift.yml", "check"),
    } <= set(reaching)
    for name, job_id, job in _jobs():
        if "id-token" not in (job.get("permissions") or {}):
            continue
        assert "environment" in job or "uses" in job, (
            f"{name}:{job_id}: an OIDC job runs in a GitHub environment (the role's subject)"
        )


# --- the linters, as CI runs them -----------------------------------------------------------


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and not shutil.which(name):
        pytest.skip(f"{name} is not installed")
    return str(path) if path.exists() else name


def test_zizmor_finds_nothing():
    cmd = [_tool("zizmor"), "--offline", "--quiet", ".github", "actions"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", [_rel(p) for p in WORKFLOWS]),
        ("vendor.github-actions", [_rel(p) for p in ACTIONS]),
        ("vendor.dependabot", [".github/dependabot.yml"]),
    ],
)
def test_files_match_githubs_schemas(schema, files):
    cmd = [_tool("check-jsonschema"), "--builtin-schema", schema, *files]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
