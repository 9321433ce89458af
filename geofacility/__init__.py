"""geofacility: where community facilities are missing and where to put new ones.

The public Python API, in one place. Each name below is importable from ``geofacility`` itself
(``from geofacility import analyze, write_ledger``); the command line (``geofacility analyze``, ``map``, ``sites``,
``review``, ``ledger diff``, ``batch``) is built on the same functions. Distances are in metres and floor areas in
m² throughout; the docstrings say so where a function takes them.

Analysing a study (the pipeline; docs/architecture.md draws it):

- ``analyze`` — read, prepare and evaluate a study in one call; returns an ``Analysis``.
- ``prepare`` — read and check every input, place demand, choose the standards: a ``Study``.
- ``evaluate`` — coverage, gaps and the capacity split of a prepared ``Study``: an ``Analysis``.
- ``sample_inputs`` — the keyword arguments of the bundled Xicheng sample, for ``analyze(**sample_inputs())``.

Reading inputs (each returns a GeoDataFrame in EPSG:4326 with the canonical columns of docs/data-model.md):

- ``read_communities``, ``read_facilities``, ``read_demand``, ``read_candidates``.
- ``load_standards`` — the standards table (built-in, or a planner's CSV over it).

Outputs:

- ``write_ledger`` — ledger.xlsx (Attachment-3 layout), ledger.csv and coverage.gpkg.
- ``write_map`` — a folium map (Leaflet inlined: opens offline, bar the base-map tiles).
- ``write_figures`` — the printable A4 figures (PNG/PDF).

Candidate rooms (房源), development review (配建审查) and tracking (问题销号):

- ``evaluate_candidates`` — what each candidate room would fix for a category; ``select_sites`` — the
  best k (exact MCLP, LSCP or p-median with HiGHS); ``with_sites`` — the analysis as if they were built.
- ``read_project``, ``read_planned``, ``review_checks``, ``review_project``,
  ``write_review`` — what a new residential project must build, and the planning-condition text.
- ``ledger_diff``, ``write_progress`` — gaps closed, opened and overdue between two ledgers.

Batch runs per town or street are ``geofacility.batch.batch`` (not exported here: the name is its module's).

The names are loaded on first use (a module-level ``__getattr__``, PEP 562): ``import geofacility`` takes about a
millisecond, while importing every module behind these names (GeoPandas, pandas, folium, matplotlib, HiGHS) takes
about a second, which ``geofacility --help`` and ``geofacility.__version__`` need not pay. Type checkers and the
documentation read the imports under ``TYPE_CHECKING`` below.
"""

#: ``typing.TYPE_CHECKING`` without importing typing (8 ms, most of what ``import geofacility`` would cost)
TYPE_CHECKING = False

__version__ = "0.1.0"

#: each public name and the module that defines it
_EXPORTS = {
    "Analysis": "geofacility.pipeline",
    "Study": "geofacility.study",
    "analyze": "geofacility.pipeline",
    "prepare": "geofacility.study",
    "evaluate": "geofacility.pipeline",
    "sample_inputs": "geofacility.study",
    "read_communities": "geofacility.read",
    "read_facilities": "geofacility.read",
    "read_demand": "geofacility.read",
    "read_candidates": "geofacility.read",
    "load_standards": "geofacility.standards",
    "write_ledger": "geofacility.ledger",
    "write_map": "geofacility.maps",
    "write_figures": "geofacility.figures",
    "evaluate_candidates": "geofacility.siting",
    "select_sites": "geofacility.siting",
    "with_sites": "geofacility.siting",
    "read_project": "geofacility.review",
    "read_planned": "geofacility.review",
    "review_checks": "geofacility.review",
    "review_project": "geofacility.review",
    "write_review": "geofacility.review",
    "ledger_diff": "geofacility.tracking",
    "write_progress": "geofacility.tracking",
}

#: spelt out (not ``[*_EXPORTS]``) so that the API reference can read it without running the module
__all__ = [
    "__version__",
    "Analysis", "Study", "analyze", "prepare", "evaluate", "sample_inputs",
    "read_communities", "read_facilities", "read_demand", "read_candidates",
    "load_standards",
    "write_ledger", "write_map", "write_figures",
    "evaluate_candidates", "select_sites", "with_sites",
    "read_project", "read_planned", "review_checks", "review_project", "write_review",
    "ledger_diff", "write_progress",
]

if TYPE_CHECKING:  # read by type checkers and by the API reference (griffe), in this order; at run time, __getattr__
    from .pipeline import Analysis, analyze, evaluate
    from .study import Study, prepare, sample_inputs
    from .read import read_communities, read_facilities, read_demand, read_candidates
    from .standards import load_standards
    from .ledger import write_ledger
    from .maps import write_map
    from .figures import write_figures
    from .siting import evaluate_candidates, select_sites, with_sites
    from .review import read_project, read_planned, review_checks, review_project, write_review
    from .tracking import ledger_diff, write_progress


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562) and keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geofacility' has no attribute {name!r}")
    from importlib import import_module  # here, not at the top: 0.4 ms of import geofacility

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
