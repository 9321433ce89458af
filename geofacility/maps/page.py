"""The HTML page (outputs stage, map): rendering a folium map to one string, deterministic element ids, and the
offline page (Leaflet's JavaScript and CSS inlined from ``geofacility/assets/leaflet`` instead of CDN links).

The hand-made rendering around folium (:func:`render_html`: :class:`_Verbatim` in place of branca's
``Element`` while rendering, and :func:`_compiled_template`) is kept because it was measured to matter. Measured
on a shared 2-core machine (median of 3-5 renders of a freshly built map; the page bytes were identical in every
variant, so it changes time only):

=========================================  ========  ===============  ==============  =============  ===========
map                                        page      folium's render  Element only    Template only  both (ours)
=========================================  ========  ===============  ==============  =============  ===========
bundled Xicheng sample, ``map.html``       0.77 MB   100-166 ms       45-51 ms        73-155 ms      30-36 ms
synthetic city, 17,500 homes, 400 comm.    4.0 MB    711 ms           174 ms          1,155 ms       118 ms
=========================================  ========  ===============  ==============  =============  ===========

(synthetic city: :func:`geofacility.synth.synthetic_city` ``(n_nodes_side=100, n_demand=17_500,
facilities_per_category=8, seed=7)`` analysed with straight-line distances.) The ``Element`` swap gives most of
the gain (4-5x); the template cache a further third once the swap is in. :func:`stable_ids` is not about speed:
it makes the page deterministic (byte-identical HTML for the same analysis).
"""
from __future__ import annotations

import hashlib
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import folium
from branca.element import Element, MacroElement
from folium.template import Template

from ..atomic import atomic_path

class _Verbatim(Element):
    """An element holding already-rendered text, returned as it is.

    branca and folium wrap the rendered header/html/script of every element in ``Element(text)``, which compiles
    ``text`` — embedded GeoJSON and all — as a Jinja template and renders it a second time. Jinja's lexer then
    walks every byte of the data (two thirds of a large map's time), and any ``{{ … }}`` or ``{% … %}`` in the
    data would be evaluated. Only that wrapping is replaced (see :func:`render_html`); an ``Element()`` without
    text is branca's own."""

    def __init__(self, template: str | None = None, template_name: str | None = None):
        super().__init__(template=None, template_name=template_name)
        self._verbatim = template

    def render(self, **kwargs):
        if self._verbatim is None:
            return super().render(**kwargs)
        return self._verbatim


_RENDER_LOCK = threading.Lock()
_TEMPLATES: dict[str, Template] = {}


def _compiled_template(source, *args, **kwargs) -> Template:
    """folium's ``Template(source)``, compiled once per source text: folium compiles some templates inside
    ``render`` (e.g. every GeoJsonTooltip's CSS), a third of a large map's rendering time."""
    if args or kwargs or not isinstance(source, str):
        return Template(source, *args, **kwargs)
    template = _TEMPLATES.get(source)
    if template is None:
        template = Template(source)
        if len(_TEMPLATES) < 64:  # folium's own literals; a bound in case that changes
            _TEMPLATES[source] = template
    return template


@contextmanager
def _verbatim_rendering():
    """While rendering, the name ``Element`` in branca's and folium's modules is :class:`_Verbatim`, and folium's
    ``Template`` is :func:`_compiled_template` (a lock keeps two threads from interleaving the swap)."""
    with _RENDER_LOCK:
        modules = [m for name, m in list(sys.modules.items())
                   if m is not None and name.split(".")[0] in ("branca", "folium")]
        elements = [m for m in modules if getattr(m, "Element", None) is Element]
        templates = [m for m in modules
                     if getattr(m, "Template", None) is Template and m.__name__ != "folium.template"]
        for module in elements:
            module.Element = _Verbatim
        for module in templates:
            module.Template = _compiled_template
        try:
            yield
        finally:
            for module in elements:
                module.Element = Element
            for module in templates:
                module.Template = Template


def render_html(m: folium.Map) -> str:
    """The page of ``m`` as one HTML string (what ``m.save`` writes), rendered once (see :class:`_Verbatim`)."""
    with _verbatim_rendering():
        return m.get_root().render()


def save_html(m: folium.Map, path: str | Path) -> Path:
    """Write :func:`render_html` of ``m`` to ``path`` atomically (UTF-8)."""
    path = Path(path)
    text = render_html(m)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def stable_ids(root: Element, seed: str = "geofacility") -> None:
    """Replace the random ids of ``root`` and every element below it (children and element attributes such as
    a popup's html/script holders) with ids hashed from ``seed`` and the element's depth-first position."""
    seen: set[int] = set()
    stack = [root]
    n = 0
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        element._id = hashlib.md5(f"{seed}:{n}".encode()).hexdigest()
        n += 1
        attached = [
            v for k, v in sorted(vars(element).items())
            if isinstance(v, Element) and k not in ("_parent", "parent_map")
        ]
        stack.extend(reversed([*element._children.values(), *attached]))


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only (folium's ``control_scale`` also shows feet)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, metric: true, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def _leaflet_inline() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (shipped in geofacility/assets/leaflet), the CSS images as data: URIs."""
    import base64

    folder = Path(__file__).resolve().parents[1] / "assets" / "leaflet"
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    css = (folder / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png", "marker-icon.png"):
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    return js.replace("</script", "<\\/script"), css


def _make_offline(m: folium.Map) -> None:
    """Inline Leaflet instead of the CDN links: the page then needs no network (bar tiles; use basemap none)."""
    m.default_js, m.default_css = [], []  # folium's CDN links (Leaflet, jQuery, Bootstrap, Font Awesome)
    js, css = _leaflet_inline()
    header = m.get_root().header
    header.add_child(_Verbatim(f"<style>{css}</style>"), name="gf_leaflet_css", index=0)
    header.add_child(_Verbatim(f"<script>{js}</script>"), name="gf_leaflet_js", index=0)
