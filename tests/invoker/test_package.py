"""The front door's Lambda package (infra/build-invoker.sh) and template (infra/invoker.yaml).

The handler must import nothing the python3.11 runtime lacks (it provides boto3 only), and the
role must hold exactly what the issue lists: read the manifest, invoke the endpoint, write
capture (and the key for it), write its log streams. cfn-lint checks the template in
`make lint`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from ruamel.yaml import YAML

# Not `from conftest import`: tests/workflows/ has a conftest of its own, and which module
# that name finds depends on the collection order.
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_package_is_reproducible_and_its_handler_needs_only_boto3(tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    for out in (first, second):
        subprocess.run(
            [str(REPO_ROOT / "infra" / "build-invoker.sh"), str(out)],
            check=True,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        )
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "mmeops/invoker/lambda_handler.py" in names
    assert not any(n.startswith(("mmeops/stack/", "mmeops/cli/", "mmeops/demo/")) for n in names)
    # Import the handler from the zip alone (plus boto3's site-packages), as Lambda would.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import mmeops.invoker.lambda_handler as h;"
        "assert h.__file__.startswith(sys.argv[1]), h.__file__;"
        "heavy = {'pydantic', 'ruamel', 'numpy', 'click', 'xgboost', 'psycopg2', 'scipy', 'rich'};"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(first)], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


def test_the_role_holds_exactly_the_front_doors_rights() -> None:
    template = YAML(typ="safe").load((REPO_ROOT / "infra" / "invoker.yaml").read_text())
    resources = template["Resources"]
    statements = resources["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    granted = {
        (s["Sid"], a)
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == {
        ("ReadTheManifest", "s3:GetObject"),
        ("InvokeTheEndpoint", "sagemaker:InvokeEndpoint"),
        ("WriteCapture", "s3:PutObject"),
        ("TheBucketKeyThroughS3Only", "kms:GenerateDataKey"),
        ("TheBucketKeyThroughS3Only", "kms:Decrypt"),
        ("ItsLogStreams", "logs:CreateLogStream"),
        ("ItsLogStreams", "logs:PutLogEvents"),
    }
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadTheManifest"]["Resource"]["Fn::Sub"].endswith("_mmeops/manifest.json")
    assert by_sid["WriteCapture"]["Resource"]["Fn::Sub"].endswith("/capture/${Environment}/*")
    assert "kms:ViaService" in by_sid["TheBucketKeyThroughS3Only"]["Condition"]["StringEquals"]
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)
    url = resources["Url"]["Properties"]
    assert url["AuthType"] == "AWS_IAM"
    # Both permissions a function URL needs since October 2025 (AWS docs, urls-auth).
    actions = {
        r["Properties"]["Action"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
    }
    assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
