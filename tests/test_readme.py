"""Every ```python snippet of README.md runs as written, offline.

A snippet whose first line is ``# needs: ...`` (a server, a key) is skipped; keep that set small.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = SNIPPETS[index]
    if code.startswith("# needs:"):
        pytest.skip(code.splitlines()[0])
    monkeypatch.chdir(tmp_path)  # a snippet that writes a file writes it here
    os.environ.pop("OPENAI_API_KEY", None)
    exec(compile(code, f"README.md snippet {index}", "exec"), {"__name__": "__readme__"})
