"""Output helpers shared by the benchmark scripts: every table they write goes through one atomic, world-readable write."""
from __future__ import annotations
import json, os
from pathlib import Path

def write_text(path: str | os.PathLike, text: str) -> Path:
    "Write `text` to `path` atomically (temporary file + rename, `robustness_study.data.atomic_write_bytes`), mode 0644."
    from robustness_study.data import atomic_write_bytes
    path = Path(path)
    atomic_write_bytes(path, text.encode())
    os.chmod(path, 0o644)  # mkstemp makes the temporary file behind the rename private (0600)
    return path

def write_json(path: str | os.PathLike, obj) -> Path:
    "`obj` as indented JSON (numpy / torch scalars become Python numbers, anything else its `str`), written with `write_text`."
    return write_text(path, json.dumps(obj, indent=1, default=lambda o: o.item() if hasattr(o, 'item') else str(o)) + '\n')
