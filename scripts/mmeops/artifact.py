"""The model artifact the SageMaker XGBoost container serves, and the version check.

`model.tar.gz` holds exactly one file, `xgboost-model`. The container tries pickle, then
`Booster.load_model(path)`; with no file extension xgboost reads UBJSON, so that is the
format written here (JSON under that name would not load).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import xgboost

from mmeops.config.kinds import XGBOOST_IMAGE_VERSIONS
from mmeops.config.repo import Repo
from mmeops.errors import UserError

MODEL_FILE = "xgboost-model"


def pack(booster: xgboost.Booster, compresslevel: int = 9) -> bytes:
    """model.tar.gz bytes holding the booster as `xgboost-model` (UBJSON)."""
    return pack_file(bytes(booster.save_raw("ubj")), compresslevel)


def pack_file(raw: bytes, compresslevel: int = 9) -> bytes:
    """model.tar.gz bytes holding `raw` as its one file, `xgboost-model` (tests also pack
    bytes that are not a model, to see them refused). `compresslevel`: gzip's, 9 by default
    (tarfile's); the embedded stack's training jobs pack each model at 1 (it does not change
    what the archive holds, and level 9 cost 17 ms of a 100 ms training job)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=compresslevel) as tar:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(raw)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


def model_bytes(path_or_bytes: str | Path | bytes) -> bytes:
    """The `xgboost-model` file inside a model.tar.gz (a path or its bytes). Read in memory:
    nothing is extracted, so a crafted member name cannot write outside a directory."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            if [m.name.removeprefix("./") for m in members] != [MODEL_FILE]:
                names = ", ".join(m.name for m in members) or "nothing"
                raise ValueError(
                    f"model.tar.gz must hold exactly one file {MODEL_FILE}; it holds {names}"
                )
            extracted = tar.extractfile(members[0])
            assert extracted is not None
            return extracted.read()
    except tarfile.TarError as e:
        raise ValueError(f"not a model.tar.gz: {e}") from None


def load_booster(path_or_bytes: str | Path | bytes) -> xgboost.Booster:
    """The booster in a model.tar.gz, as the container would load it."""
    booster = xgboost.Booster()
    booster.load_model(bytearray(model_bytes(path_or_bytes)))
    return booster


def serving_version(image_version: str) -> str:
    """`3.2-0` → `3.2`: the xgboost release line the container image runs."""
    return image_version.split("-", 1)[0]


def library_version() -> str:
    major, minor = xgboost.__version__.split(".")[:2]
    return f"{major}.{minor}"


def check_version(repo: Repo, model_name: str) -> None:
    """Refuse to train with an xgboost other than the one the serving image runs: the
    container loads such a model without error and predicts different numbers."""
    image = repo.model(model_name).xgboost.image_version
    if serving_version(image) == library_version():
        return
    source = repo.model_source(model_name)
    matching = [v for v in XGBOOST_IMAGE_VERSIONS if serving_version(v) == library_version()]
    fix = f'set image_version: "{matching[-1]}" or ' if matching else ""
    raise UserError(
        f"xgboost.image_version {image} serves xgboost {serving_version(image)}, but this "
        f"machine trains with xgboost {xgboost.__version__}; the container would load the "
        f"model and predict wrong numbers without an error. Fix: {fix}install "
        f"xgboost-cpu=={serving_version(image)}.*",
        source.path,
        source.line("xgboost", "image_version"),
    )
