"""Siting: which candidate rooms (房源) to take, and what each would fix.

Selection models, all keeping the existing facilities fixed (people they already cover count as covered):

- **MCLP** (maximal covering): open at most ``k`` candidates (or spend at most ``budget``) to bring the most
  people within the service radius;
- **LSCP** (set covering): the fewest candidates that bring everybody coverable within the radius, reporting who
  no candidate can reach;
- **p-median**: open ``p`` candidates to minimise the people-weighted distance to the nearest facility, existing
  ones included;
- **greedy** MCLP for very large inputs, with the LP-relaxation bound so the optimality gap is known.

The exact models are mixed-integer programmes solved by HiGHS through ``highspy``. Before solving, demand points
that the same set of candidates reaches are merged into one weighted row (the standard reduction; it can shrink a
city's demand by orders of magnitude without changing the optimum).

The package, by concern (imports run down this list, never up):

* :mod:`.scenario` — :func:`with_sites`, the study as if the selected rooms were built, and
  :func:`given_selection`, the planner's own choice of rooms (``sites select --choose``);
* :mod:`.candidates` — :func:`evaluate_candidates` (area rules, pre-review, reasons, ranking, newly covered
  people) giving a :class:`SiteStudy`, and :func:`select_sites`, a model run on its selectable rooms;
* :mod:`.pairs` — demand × candidate pairs within a distance and the coverage matrix (straight line, on foot);
* :mod:`.models` — the models on plain arrays (a sparse boolean coverage matrix, demand weights, for p-median
  a distance matrix in metres) and the HiGHS solver: :func:`solve_mclp`, :func:`solve_lscp`,
  :func:`solve_pmedian` (Benders cuts), :func:`greedy_mclp`, each returning a :class:`Selection`.
"""
from __future__ import annotations

from .candidates import GROUND_FLOOR_CATEGORIES, SiteStudy, candidate_pairs, evaluate_candidates, select_sites
from .models import Selection, collapse_demand, greedy_mclp, solve_lscp, solve_mclp, solve_pmedian
from .pairs import pairs_to_matrix, straight_line_pairs, walking_pairs
from .scenario import given_selection, site_facilities, with_sites

__all__ = [
    "Selection",
    "collapse_demand",
    "solve_mclp",
    "solve_lscp",
    "solve_pmedian",
    "greedy_mclp",
    "straight_line_pairs",
    "walking_pairs",
    "pairs_to_matrix",
    "GROUND_FLOOR_CATEGORIES",
    "SiteStudy",
    "candidate_pairs",
    "evaluate_candidates",
    "select_sites",
    "with_sites",
    "site_facilities",
    "given_selection",
]
