"""notebooks/xicheng_walkthrough.ipynb runs from top to bottom (nbclient), so it never goes stale."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import need  # noqa: E402

nbformat = need("nbformat")
nbclient = need("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "xicheng_walkthrough.ipynb"


def test_walkthrough_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "264 communities, 15 streets" in text
    assert "communities short of rooms" in text
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert any("leaflet" in o["data"]["text/html"].lower() or "iframe" in o["data"]["text/html"] for o in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the figures
