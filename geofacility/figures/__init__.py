"""Static figures for printed special plans (专项规划): one A4-landscape map per surveyed category and a bar chart
of the people not covered per street/town, as PNG and PDF.

The category map (:func:`category_figure`) is drawn in the analysis' metric CRS, offline (no web tiles):
communities filled by the category's status with the on-screen map's colours (:mod:`geofacility.maps`: ok green,
gap red, not surveyed grey hatched, no population light grey), street/town outlines and names, the people not
covered as dots sized by people (aggregated to grid cells by :func:`~geofacility.maps.uncovered_cells` when there
are many), the existing facilities with their service-radius circles (or walking catchments), optionally the
candidate sites of a siting study; beside the map a panel with the standard applied, the legend and a summary;
below it a scale bar in metres and a north arrow; the data attribution in small print.

Every layer is one matplotlib collection (communities, hatched not-surveyed communities, town outlines, circles or
catchments, dots, facilities), built from shapely's vectorised coordinate functions. Figures are plain
:class:`matplotlib.figure.Figure` objects on the Agg canvas: no pyplot, no global rcParams changed.

Text is bilingual (``教育 education``) in the Chinese font installed with geofacility (Noto Sans CJK SC from the
PyPI package ``mpl-font``, registered at run time: :func:`cjk_font`); should it be missing, an installed CJK font is
used, and without any the labels are English only and Chinese names from the data are left out (towns numbered), so matplotlib never warns
about missing glyphs. :func:`write_figures` writes the files atomically and deterministically: the same analysis
gives byte-identical PNG and PDF files (no dates, no software stamp).

The package, by concern (imports run down this list, never up; nothing here imports :mod:`geofacility.cli` or
:mod:`geofacility.batch`):

* :mod:`.write` — :func:`write_figures`, the PNG and PDF files;
* :mod:`.category_map` — :func:`category_figure` and its legend panel; :mod:`.towns` — :func:`town_bar_figure`;
* :mod:`.layers` — the map's layers, the scale bar and the north arrow;
* :mod:`.numbers` — what a figure draws, as numbers (:func:`figure_numbers`, :func:`town_numbers`);
* :mod:`.geometry` — polygons to matplotlib paths, the study area's bounds, round numbers;
* :mod:`.style` — colours, the A4 page and its layout, :class:`PlanFigure`, wrapping, labels;
* :mod:`.fonts` — the packaged CJK font, its registration (:func:`cjk_font`) and the figure's text.

A function or constant is read in the module that defines it: to draw without a CJK font in a test, patch
``geofacility.figures.fonts.cjk_font``; to change :data:`~geofacility.maps.MANY_POINTS` for the figures, patch
``geofacility.figures.layers.MANY_POINTS``.
"""
from __future__ import annotations

from .category_map import category_figure
from .fonts import CJK_FONT_FAMILIES, PACKAGED_CJK_FAMILY, cjk_font, packaged_cjk_fonts
from .numbers import figure_numbers, town_numbers
from .style import FORMATS, GAP_FILL, NO_POPULATION_FILL, NOT_SURVEYED_FILL, OK_FILL, PlanFigure
from .towns import town_bar_figure
from .write import write_figures

# helpers that scripts/make_maps.py and the tests use, importable from here as before the split
from .fonts import _Text  # noqa: F401
from .geometry import _polygon_paths, _scale_length  # noqa: F401
from .layers import _DOT_MAX_PT2, _DOT_MIN_PT2  # noqa: F401
from .numbers import _summary_lines  # noqa: F401
from .style import _figure, _surveyed  # noqa: F401
from .write import _save, _title_of  # noqa: F401

__all__ = [
    "category_figure",
    "figure_numbers",
    "town_numbers",
    "town_bar_figure",
    "write_figures",
    "cjk_font",
    "packaged_cjk_fonts",
    "PACKAGED_CJK_FAMILY",
    "PlanFigure",
    "CJK_FONT_FAMILIES",
    "OK_FILL",
    "GAP_FILL",
    "NOT_SURVEYED_FILL",
    "NO_POPULATION_FILL",
    "FORMATS",
]
