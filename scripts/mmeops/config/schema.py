"""JSON Schemas of the three config kinds, for editors and for check-jsonschema in pre-commit."""

from __future__ import annotations

import json
from pathlib import Path

from mmeops.config.kinds import EnvConfig, ModelConfig, Settings

SCHEMAS = {
    "mmeops.schema.json": Settings,
    "model.schema.json": ModelConfig,
    "environment.schema.json": EnvConfig,
}


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, kind in SCHEMAS.items():
        schema = kind.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        path = out_dir / filename
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
