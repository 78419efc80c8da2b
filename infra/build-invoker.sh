#!/usr/bin/env bash
# Build the front door's Lambda package (infra/invoker.yaml's CodeKey), reproducibly.
#
#   infra/build-invoker.sh [OUT.zip]        default: build/invoker.zip
#   aws s3 cp build/invoker.zip s3://BUCKET/_mmeops/invoker/$(sha256sum build/invoker.zip | cut -c1-16).zip
#
# The handler (mmeops.invoker.lambda_handler.handler) imports the standard library and boto3
# only, which the python3.11 runtime provides: the package is mmeops's own source, without
# the embedded stack, the CLI and the demo (tests/invoker/test_package.py checks both). Files
# get a fixed time and order, so the same commit builds the same bytes (the same CodeKey).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build/invoker.zip"}
python=${PYTHON:-"$root/.venv/bin/python"}
mkdir -p "$(dirname "$out")"
"$python" - "$root/scripts" "$out" <<'PY'
import sys
import zipfile
from pathlib import Path

src, out = Path(sys.argv[1]), Path(sys.argv[2])
left_out = {"stack", "cli", "demo"}  # not needed in Lambda; the stack is not the product
files = sorted(
    p for p in (src / "mmeops").rglob("*.py")
    if p.relative_to(src / "mmeops").parts[0] not in left_out
)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for path in files:
        info = zipfile.ZipInfo(str(path.relative_to(src)), date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, path.read_bytes())
print(f"{out}: {len(files)} files")
PY
