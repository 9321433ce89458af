"""Named scenarios of the workbench, kept as JSON under ``<out>/scenarios/``: the file name is a safe slug of the
name (:func:`slug`: its runs of letters and digits, Chinese included, then a short hash of the whole name), never
the name itself, so a name with ``../`` is stored safely; the name is kept inside the file."""
from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

__all__ = ["slug", "scenario_dir", "write_scenario", "read_scenario", "list_scenarios", "save", "load"]


def slug(name: str) -> str:
    """``"方案 A/../b"`` → ``"方案-A-b-1f3a9c2e"``: the name's runs of letters and digits (Chinese included; never a
    separator, dot or control character; at most 40 characters) and the first 8 hex digits of its SHA-1 (distinct
    names, distinct files; and never a bare device name such as ``con``)."""
    import unicodedata

    text = str(name)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    stem = "-".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text)))[:40].strip("-_")
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


def _error():
    from .model import WorkbenchError

    return WorkbenchError


def _content(wb) -> dict:
    """What a scenario file keeps: the built rooms' ids and the rooms added on the map, per category."""
    built, added = {}, {}
    for category, cat in wb._cats.items():
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        if cat.built:
            built[category] = [str(ids[i]) for i in sorted(cat.built)]
        rooms = [{"candidate_id": cid, **room} for cid, room in cat.added
                 if wb._position_or_none(category, cid) is not None]
        if rooms:
            added[category] = rooms
    return {"built": built, "added": added, "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}


def save(wb, name) -> dict:
    name = str(name).strip()
    if not name or len(name) > 200:
        raise _error()("方案名称须为 1–200 个字符 / a scenario name of 1–200 characters, please")
    write_scenario(wb.out, name, _content(wb))
    wb._name = name
    return {"name": name, "scenarios": wb.scenarios()}


def load(wb, name) -> dict:
    """Replay a saved scenario: its added rooms (re-added where missing), then each category's built rooms —
    one undoable action per category."""
    content = read_scenario(wb.out, str(name))
    if content is None:
        raise _error()(f"没有名为 {name!r} 的方案 / no scenario named {name!r}")
    last = None
    for category, rooms in (content.get("added") or {}).items():
        for room in rooms:
            if wb._position_or_none(category, room["candidate_id"]) is None:
                wb.add_room(category, lon=room["lon"], lat=room["lat"], floor_area_m2=room["floor_area_m2"],
                           name=room["name"], categories=room.get("categories"),
                           candidate_id=room["candidate_id"])
                number = str(room["candidate_id"]).removeprefix("new-")
                if number.isdigit():
                    wb._new = max(wb._new, int(number))
    wanted = {c: set(v) for c, v in (content.get("built") or {}).items()}
    for category in sorted(set(wanted) | {c for c, cat in wb._cats.items() if cat.built}):
        cat = wb._cat(category)
        after = {wb._position(category, cid) for cid in wanted.get(category, ())}
        last = wb._do({"kind": "set", "category": category, "before": set(cat.built), "after": after})
    wb._name = str(name)
    return last if last is not None else wb.state(next(iter(wanted), wb.categories()[0]["category"]))

