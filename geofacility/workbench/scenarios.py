"""Named scenarios of the workbench, kept as JSON under ``<out>/scenarios/``: the file name is a safe slug of the
name (its ASCII letters, digits, ``_`` and ``-``, then a short hash of the whole name), never the name itself, so a
Chinese name or one with ``../`` is stored safely; the name is kept inside the file."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

__all__ = ["slug", "scenario_dir", "write_scenario", "read_scenario", "list_scenarios"]


def slug(name: str) -> str:
    """``"方案 A/../b"`` → ``"A-b-1f3a9c2e"``: the name's [A-Za-z0-9_-] runs (at most 40 characters) and the first
    8 hex digits of its SHA-1 (distinct names, distinct files)."""
    text = str(name)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    stem = "-".join(re.findall(r"[A-Za-z0-9_]+", text))[:40].strip("-_")
    return f"{stem}-{digest}" if stem else digest


def scenario_dir(out) -> Path:
    return Path(out) / "scenarios"


def write_scenario(out, name: str, content: dict) -> Path:
    from ..atomic import atomic_path

    folder = scenario_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(name)}.json"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({**content, "name": str(name)}, ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
    return path


def read_scenario(out, name: str) -> dict | None:
    path = scenario_dir(out) / f"{slug(name)}.json"
    if not path.is_file():
        return None
    content = json.loads(path.read_text(encoding="utf-8"))
    return content if content.get("name") == str(name) else None


def list_scenarios(out) -> list[dict]:
    folder = scenario_dir(out)
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, dict) and isinstance(content.get("name"), str):
            rows.append({"name": content["name"], "saved": content.get("saved"),
                         "built": {c: len(v) for c, v in (content.get("built") or {}).items()}})
    return rows
