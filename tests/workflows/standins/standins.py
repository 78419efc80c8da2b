"""The bodies of the third-party action stand-ins (each `action.yml` here says what it honours).

Run by the harness's Python (MMEOPS_HARNESS_PYTHON) from a composite step: inputs arrive as
INPUT_* variables, outputs go to GITHUB_OUTPUT, exported variables to GITHUB_ENV, as an
action's would. A refusal prints `::error::` and exits 1, failing the step as the real action
fails.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def fail(message: str) -> None:
    print(f"::error::{message}")
    sys.exit(1)


def put(file_var: str, **values: str) -> None:
    with open(os.environ[file_var], "a", encoding="utf-8") as f:
        for k, v in values.items():
            f.write(f"{k}={v}\n")


def inp(name: str) -> str:
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def record(kind: str, **fields) -> None:
    """One line per event in the run's record file (what the test reads)."""
    entry = {"kind": kind, "job": os.environ.get("GITHUB_JOB", ""), **fields}
    with open(os.environ["MMEOPS_HARNESS_RECORDS"], "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def git(*args: str, cwd: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def checkout() -> None:
    workspace = os.environ["GITHUB_WORKSPACE"]
    sha = os.environ["GITHUB_SHA"]
    depth = int(inp("fetch-depth") or "1")
    origin = "file://" + os.environ["MMEOPS_HARNESS_ORIGIN"]
    shallow = [f"--depth={depth}"] if depth > 0 else []
    git("init", "-q", cwd=workspace)
    git("remote", "add", "origin", origin, cwd=workspace)
    if depth == 0:  # the real action fetches every branch and tag then
        git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=workspace)
    git("fetch", "-q", *shallow, "origin", sha, cwd=workspace)
    git("checkout", "-q", "--detach", sha, cwd=workspace)
    put("GITHUB_OUTPUT", ref=os.environ.get("GITHUB_REF", ""), commit=sha)


def _job_venv() -> tuple[Path, str]:
    """A virtualenv for this job only (parallel jobs each install mmeops, as on their own
    runners), with a .pth to the test venv's packages so only mmeops is built; and the
    version of its Python (asked of it, in the same process that tells its site-packages)."""
    import sysconfig
    import tempfile

    root = Path(os.environ["MMEOPS_HARNESS_VENVS"])
    root.mkdir(exist_ok=True)
    venv = Path(tempfile.mkdtemp(prefix=os.environ.get("GITHUB_JOB", "job") + "-", dir=root))
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site, have = (
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sys, sysconfig; print(sysconfig.get_paths()['purelib']); "
                "print('%d.%d.%d' % sys.version_info[:3])",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()
    )
    Path(site, "mmeops_harness.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, have


def setup_python() -> None:
    venv, have = _job_venv()
    python = venv / "bin" / "python"
    want = inp("python-version")
    if want and not (have == want or have.startswith(want + ".")):
        fail(f"Version {want} was not found in the local cache (the runner has {have})")
    with open(os.environ["GITHUB_PATH"], "a", encoding="utf-8") as f:
        f.write(f"{venv / 'bin'}\n")
    put("GITHUB_ENV", pythonLocation=str(venv))
    put("GITHUB_OUTPUT", **{"python-version": have, "python-path": str(python)})


def install_mmeops() -> None:
    """actions/setup's `pip install .` in the harness (rewrite.py): when the job's checkout
    holds the package sources the harness built once this session (same git object ids),
    link that build into the job's venv as pip installs a wheel (the package and its
    dist-info importable, the `mmeops` console script in bin/); otherwise run the real
    `pip install .` with the job's Python."""
    workspace = os.environ["GITHUB_WORKSPACE"]
    names = ("scripts", "pyproject.toml", "setup.py", "README.md")
    rev = subprocess.run(
        ["git", "-C", workspace, "rev-parse", *(f"HEAD:{n}" for n in names)],
        capture_output=True,
        text=True,
    )
    dirty = subprocess.run(
        ["git", "-C", workspace, "status", "--porcelain", "--", *names],
        capture_output=True,
        text=True,
    ).stdout.strip()
    key = rev.stdout.strip().replace("\n", ",")
    if rev.returncode != 0 or dirty or key != os.environ.get("MMEOPS_HARNESS_PACKAGE_KEY"):
        pip = ["python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-compile", "."], cwd=workspace, check=True)
        return
    venv = Path(shutil.which("python")).parents[1]  # the job's venv, first on PATH
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "mmeops_harness_package.pth").write_text(
        os.environ["MMEOPS_HARNESS_PACKAGE_SITE"] + "\n"
    )
    script = venv / "bin" / "mmeops"  # [project.scripts] mmeops = "mmeops.cli:main"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom mmeops.cli import main\n\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oidc_claims(audience: str) -> dict:
    """The claims of the token GitHub mints for this job (GitHub docs, "OpenID Connect
    reference": the subject is the environment when the job has one, else the event's)."""
    repo = os.environ["GITHUB_REPOSITORY"]
    environment = os.environ.get("MMEOPS_HARNESS_ENVIRONMENT", "")
    event = os.environ["GITHUB_EVENT_NAME"]
    ref = os.environ.get("GITHUB_REF", "")
    if environment:
        sub = f"repo:{repo}:environment:{environment}"
    elif event in ("pull_request", "pull_request_target"):
        sub = f"repo:{repo}:pull_request"
    else:
        sub = f"repo:{repo}:ref:{ref}"
    now = int(time.time())
    return {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": audience,
        "sub": sub,
        "repository": repo,
        "environment": environment or None,
        "ref": ref,
        "sha": os.environ["GITHUB_SHA"],
        "event_name": event,
        "run_id": os.environ.get("GITHUB_RUN_ID", ""),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }


def configure_aws_credentials() -> None:
    import boto3  # the harness's Python has it (the test venv's packages)

    if os.environ.get("MMEOPS_HARNESS_ID_TOKEN") != "true":
        # GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL only with `permissions: id-token: write`.
        fail("Could not get ID token for OIDC: does the job have `id-token: write`?")
    role = inp("role-to-assume")
    region = inp("aws-region")
    if not role or not region:
        fail("role-to-assume and aws-region are required here (OIDC only)")
    claims = oidc_claims(inp("audience") or "sts.amazonaws.com")
    header = {"alg": "RS256", "typ": "JWT", "kid": "mmeops-harness"}
    body = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    # Not GitHub's signature (the harness has no GitHub key): the stack reads the claims.
    token = body + "." + _b64(hashlib.sha256(body.encode()).digest())
    sts = boto3.client("sts", region_name=region)
    try:
        creds = sts.assume_role_with_web_identity(
            RoleArn=role,
            RoleSessionName=inp("role-session-name") or "GitHubActions",
            WebIdentityToken=token,
            DurationSeconds=int(inp("role-duration-seconds") or "3600"),
        )["Credentials"]
    except Exception as e:  # the real action prints the STS error and fails
        record("assume", role=role, sub=claims["sub"], aud=claims["aud"], ok=False)
        fail(f"Could not assume role with OIDC: {e}")
    session = boto3.client(
        "sts",
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    account = session.get_caller_identity()["Account"]
    record("assume", role=role, sub=claims["sub"], aud=claims["aud"], ok=True, account=account)
    allowed = [a.strip() for a in inp("allowed-account-ids").split(",") if a.strip()]
    if allowed and account not in allowed:
        fail("The account ID of the provided credentials is not in 'allowed-account-ids'")
    for secret in (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]):
        print(f"::add-mask::{secret}")
    put(
        "GITHUB_ENV",
        AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
        AWS_SESSION_TOKEN=creds["SessionToken"],
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
    )
    put("GITHUB_OUTPUT", **{"aws-account-id": account})


def create_github_app_token() -> None:
    client_id, key = inp("client-id"), inp("private-key")
    if not client_id:
        fail("Input required and not supplied: client-id")
    if not (key.startswith("-----BEGIN") and "PRIVATE KEY-----" in key):
        fail("private-key is not a PEM private key: the token cannot be signed")
    token = "ghs_app_" + hashlib.sha256((client_id + key).encode()).hexdigest()[:24]
    print(f"::add-mask::{token}")
    asked = ("contents", "pull-requests", "members")
    perms = {k: inp(f"permission-{k}") for k in asked if inp(f"permission-{k}")}
    record("app-token", client_id=client_id, permissions=perms, token=token)
    put("GITHUB_OUTPUT", token=token, **{"installation-id": "1", "app-slug": "mmeops"})


def _store() -> Path:
    return Path(os.environ["MMEOPS_HARNESS_ARTIFACTS"])


def upload_artifact() -> None:
    name = inp("name") or "artifact"
    src = Path(inp("path"))
    dest = _store() / name
    if not src.exists() or (src.is_dir() and not any(src.rglob("*"))):
        how = inp("if-no-files-found") or "warn"
        message = f"No files were found with the provided path: {src}."
        if how == "error":
            fail(message)
        if how == "warn":
            print(f"::warning::{message} No artifacts will be uploaded.")
        return
    if dest.exists():
        if inp("overwrite") != "true":
            fail(f"Failed to CreateArtifact: an artifact with this name already exists: {name}")
        shutil.rmtree(dest)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        dest.mkdir(parents=True)
        shutil.copy2(src, dest / src.name)
    record("artifact", name=name)
    put("GITHUB_OUTPUT", **{"artifact-id": name, "artifact-url": f"artifact://{name}"})


def download_artifact() -> None:
    target = Path(inp("path") or os.environ["GITHUB_WORKSPACE"])
    names = sorted(p.name for p in _store().iterdir()) if _store().exists() else []
    if inp("name"):
        if inp("name") not in names:
            fail(f"Artifact not found for name: {inp('name')}")
        chosen, merge = [inp("name")], True
    else:
        pattern = inp("pattern") or "*"
        chosen = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        merge = inp("merge-multiple") == "true"
    target.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        shutil.copytree(_store() / name, target if merge else target / name, dirs_exist_ok=True)
    put("GITHUB_OUTPUT", **{"download-path": str(target)})


if __name__ == "__main__":
    {
        "checkout": checkout,
        "setup-python": setup_python,
        "install-mmeops": install_mmeops,
        "configure-aws-credentials": configure_aws_credentials,
        "create-github-app-token": create_github_app_token,
        "upload-artifact": upload_artifact,
        "download-artifact": download_artifact,
    }[sys.argv[1]]()
