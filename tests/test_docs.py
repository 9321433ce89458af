"""The documentation site and the public API it documents.

- ``mkdocs build --strict`` (mkdocs.yml) into tmp_path: a broken link or anchor, a page left out of the nav, a
  snippet file that moved, or an API object mkdocstrings cannot collect fails the build, hence this test.
- The site opens offline from site/index.html: pages are ``.html`` files and nothing is loaded from the network
  (no web fonts, no CDN script or stylesheet).
- Every public function and class of ``geofacility`` and of each module with an API page has a docstring, and
  one that says its units where it takes metres or square metres (a name ending in ``_m``/``_m2``). mkdocstrings
  only hides an undocumented object (``show_if_no_docstring: false``), so this is checked here.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, need

#: the modules with a page under docs/api/ (besides the top-level package, docs/api/index.md)
API_MODULES = ["read", "study", "pipeline", "standards", "distance", "network", "costs", "coverage", "capacity",
               "siting", "review", "ledger", "tracking", "maps", "figures", "batch"]

UNITS = re.compile(r"metre|\bm²|\bm2\b|\d m\b|\bkm\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as ``mkdocs build --strict`` writes it, into a temporary folder (never into the checkout)."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        need(module)
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    # no --quiet: mkdocs counts the warnings that make --strict fail only among those it logs
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                         cwd=out.parent, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - start
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    assert took < 60, f"the docs build took {took:.0f} s (kept under ~30 s)"
    return out


def test_site_builds_strictly_with_every_page(site):
    assert (site / "index.html").is_file()
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
                   for p in (ROOT / "docs").rglob("*.md"))
    missing = [p for p in pages if not (site / p).is_file()]
    assert not missing, f"pages not built: {missing}"
    # the guide pages the README's guide was split into
    for page in ("getting-started", "your-own-data", "walking-distance", "candidate-rooms", "review-and-tracking",
                 "batch", "maps-and-figures", "bad-inputs", "data-model", "performance", "standards-sources",
                 "architecture"):
        assert (site / f"{page}.html").is_file(), page


def test_site_opens_offline(site):
    """Links between pages are file names (use_directory_urls: false) and no page loads anything from the
    network: no script, stylesheet, font, image or frame with an http(s) or protocol-relative address."""
    remote = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    fonts = re.compile(r"fonts\.(?:googleapis|gstatic)\.com")
    bad = []
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if remote.search(text) or fonts.search(text):
            bad.append(page.relative_to(site).as_posix())
    assert not bad, f"pages that load from the network: {bad}"
    css = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.css"))
    assert not fonts.search(css) and "@import url(http" not in css
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="getting-started.html"' in index and 'href="architecture.html"' in index
    assert 'href="api/index.html"' in index


def test_api_pages_render_every_public_name(site):
    import geofacility

    top = (site / "api" / "index.html").read_text(encoding="utf-8")
    absent = [n for n in geofacility.__all__ if n != "__version__" and f'id="geofacility.{n}"' not in top]
    assert not absent, f"public names not rendered on api/index.html: {absent}"
    for name in API_MODULES:
        module = importlib.import_module(f"geofacility.{name}")
        text = (site / "api" / f"{name}.html").read_text(encoding="utf-8")
        absent = [n for n, obj in _public(module) if f'id="geofacility.{name}.{n}"' not in text]
        assert not absent, f"geofacility.{name}: not rendered: {absent}"
    assert sorted(p.stem for p in (ROOT / "docs" / "api").glob("*.md")) == sorted(["index", *API_MODULES])


def _public(module) -> list[tuple[str, object]]:
    """The functions and classes a module lists in ``__all__`` (constants aside)."""
    out = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append((name, obj))
    return out


def _metric_params(func) -> list[str]:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return []
    return [p for p in params if re.search(r"_m2?$", p)]


def test_public_functions_have_docstrings_with_units():
    import geofacility

    objects = [("geofacility", n, getattr(geofacility, n)) for n in geofacility.__all__ if n != "__version__"]
    for name in API_MODULES:
        module = importlib.import_module(f"geofacility.{name}")
        objects += [(module.__name__, n, obj) for n, obj in _public(module)]
    undocumented, no_units = [], []
    for where, name, obj in objects:
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        if inspect.isclass(obj) and (doc or "").startswith(f"{obj.__name__}("):
            doc = None  # the signature a dataclass writes when it has no docstring
        if not (doc or "").strip():
            undocumented.append(f"{where}.{name}")
            continue
        if inspect.isclass(obj):
            if _metric_params(obj) and not UNITS.search(doc):  # a dataclass's fields are its __init__'s
                no_units.append(f"{where}.{name}")
            for method_name, method in vars(obj).items():
                if method_name.startswith("_") or not inspect.isfunction(method) or not _metric_params(method):
                    continue
                if not UNITS.search(method.__doc__ or ""):
                    no_units.append(f"{where}.{name}.{method_name}")
        elif _metric_params(obj) and not UNITS.search(doc):
            no_units.append(f"{where}.{name}")
    assert not undocumented, f"public names without a docstring: {undocumented}"
    assert not no_units, f"take metres (a parameter named *_m or *_m2) but the docstring names no unit: {no_units}"


def test_docstring_checks_can_fail():
    """The two checks above catch what they claim to: an empty docstring, and metres left unsaid."""
    def undocumented(radius_m):  # noqa: ARG001
        pass

    def says_metres(radius_m):  # noqa: ARG001
        """Within ``radius_m`` metres."""

    def says_nothing(radius_m):  # noqa: ARG001
        """Within the radius."""

    assert not (undocumented.__doc__ or "").strip()
    assert _metric_params(says_nothing) == ["radius_m"] and not UNITS.search(says_nothing.__doc__)
    assert UNITS.search(says_metres.__doc__)
    assert UNITS.search("floor area in m²") and UNITS.search("500 m radius") and not UNITS.search("a map")


def test_public_api_in_one_place_and_import_stays_cheap():
    """``geofacility.__all__`` lists every export, each resolves to the object its module defines, and ``import
    geofacility`` loads none of them (they load on first use)."""
    import geofacility

    assert geofacility.__all__ == ["__version__", *geofacility._EXPORTS]
    for name, module in geofacility._EXPORTS.items():
        assert getattr(geofacility, name) is getattr(importlib.import_module(module), name), name
        assert f"``{name}``" in geofacility.__doc__, f"{name} is not listed in geofacility's docstring"
    with pytest.raises(AttributeError):
        geofacility.no_such_name  # noqa: B018
    code = ("import sys, geofacility; heavy = [m for m in ('geofacility.pipeline', 'geopandas', 'pandas') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, f"import geofacility loaded {run.stdout.strip()}"


def test_readme_keeps_the_two_commands_on_top_and_links_resolve():
    """.ci/run and scripts/check_fresh_machine.sh run the README's two commands: they stay its first lines, and
    every relative link of the README names a file of the checkout."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# geofacility\n\n```bash\n"
                             "pip install -e . && geofacility analyze --out output/xicheng\n"
                             "pip install -e \".[test]\" && python -m pytest -q\n```\n")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links to the documentation pages"
    broken = [link for link in local if link and not (ROOT / link).exists()]
    assert not broken, f"README links to missing files: {broken}"
    for page in ("docs/getting-started.md", "docs/architecture.md", "docs/your-own-data.md"):
        assert page in local, page
