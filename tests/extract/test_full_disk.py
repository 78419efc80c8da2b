"""Issue 27, slow tier: a full disk under `extract --out` and under `TMPDIR` (where extract
works without `--out`) ends in one line, exit 1, with nothing uploaded; the re-run with room
uploads the dataset.

The disk is a real one when it can be had: a 2 MB ext2 image mounted on a loop device (root
and `mount` needed) and filled to within 8 KB, so writes fail with ENOSPC. Without that, the
process gets `RLIMIT_FSIZE` of 8 KB, which fails every write past it with EFBIG (Python
ignores SIGXFSZ): the same code path, though not the same errno. The test prints which.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mmeops import aws
from mmeops.config.repo import load_repo

MMEOPS = str(Path(sys.executable).with_name("mmeops"))
ROOM = 8192


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (ROOM, ROOM))


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """(a folder on a full file system, None), or (a folder, a preexec limiting file size)."""
    mount = tmp_path / "full"
    mount.mkdir()
    image = tmp_path / "fs.img"
    try:
        subprocess.run(["truncate", "-s", "2M", str(image)], check=True)
        subprocess.run(
            ["mkfs.ext2", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True
        )
        subprocess.run(
            ["mount", "-o", "loop", str(image), str(mount)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        print("full disk: RLIMIT_FSIZE (no loop mount here)")
        yield mount, _limit_file_size
        return
    try:
        _fill(mount / "filler")
        print(f"full disk: a loop-mounted ext2 image, {os.statvfs(mount).f_bfree} blocks free")
        yield mount, None
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write until the file system refuses, then give back `ROOM` bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(path, max(0, path.stat().st_size - ROOM))


def _datasets(root: Path, model: str) -> list[str]:
    repo = load_repo(root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    listed = training.call(
        "s3", "list_objects_v2", Bucket=repo.settings.bucket, Prefix=f"datasets/{model}/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["--out", "TMPDIR"])
def test_a_full_disk_fails_extract_in_one_line_and_the_re_run_uploads(
    stack, repo_copy: Path, tmp_path: Path, full_disk, where: str
) -> None:
    model = f"fd{uuid.uuid4().hex[:6]}"
    src = repo_copy / "models" / "diabetes-progression"
    (repo_copy / "models" / model).mkdir()
    (repo_copy / "models" / model / "query.sql").write_text((src / "query.sql").read_text())
    (repo_copy / "models" / model / "model.yaml").write_text(
        (src / "model.yaml").read_text().replace("name: diabetes-progression", f"name: {model}")
    )
    folder, preexec = full_disk
    argv = [MMEOPS, "--repo", str(repo_copy), "extract", model]
    env = dict(os.environ)
    if where == "--out":
        argv += ["--out", str(folder / "dataset")]
    else:
        env["TMPDIR"] = str(folder)
    done = subprocess.run(
        argv, env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=600
    )
    out = done.stdout + done.stderr
    print(out.strip().splitlines()[-1] if out.strip() else "")
    assert done.returncode == 1, out
    assert "Traceback" not in out and "unexpected" not in out, out
    assert len([line for line in out.splitlines() if line.startswith("Error:")]) == 1, out
    assert _datasets(repo_copy, model) == []  # nothing uploaded

    again = subprocess.run(argv[:5], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert any(k.endswith("lineage.json") for k in _datasets(repo_copy, model))
