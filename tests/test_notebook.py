"""The quickstart notebook runs offline, top to bottom, as a user would run it."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def test_quickstart_notebook_executes(tmp_path: Path) -> None:
    for name in ("quickstart.ipynb", "sample.jsonl"):
        shutil.copy(NOTEBOOKS / name, tmp_path / name)
    notebook = nbformat.read(tmp_path / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(
        o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    )
    assert "rows: 10" in outputs
    assert (tmp_path / "sample.report.html").stat().st_size > 1000
