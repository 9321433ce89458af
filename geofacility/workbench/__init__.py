"""The what-if workbench (``geofacility serve``): try candidate rooms (房源) on a live map and watch the gaps close.

A planner marks candidate rooms "built" (or drops a new room on the map) and sees at once the coverage, the people
served and over capacity, the count and floor-area gaps, the communities that change status and the ledger rows —
the figures :func:`geofacility.siting.with_sites` (what ``sites select`` writes to ``ledger_after/``) gives for the
built rooms, recomputed only where a click can change them.

* :mod:`.model` — :class:`~geofacility.workbench.model.Workbench`, the state of one session (built rooms per
  category, undo/redo, named scenarios, MCLP suggestions, export as ``sites select --choose`` writes it); all its
  answers are JSON-able;
* :mod:`.scenarios` — named scenarios kept as JSON under the output folder (safe file names);
* :mod:`.server` and ``static/`` — the local web app over the model (``geofacility serve``).
"""
from __future__ import annotations

__all__ = ["Workbench", "WorkbenchError"]


def __getattr__(name):  # the model imports geopandas & co.; the package itself stays light
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(name)
