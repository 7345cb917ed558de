"""The openai SDK (most of the package's import time) loads only when an OpenAI client is needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "notebooks" / "sample.jsonl"


def run_python(code: str, cwd: Path) -> str:
    """Run ``code`` in a fresh interpreter (this one has imported everything already); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_realign_does_not_import_openai(tmp_path: Path) -> None:
    assert run_python("import sys, realign; print('openai' in sys.modules)", tmp_path) == "False"


def test_openai_loads_when_the_client_is_asked_for(tmp_path: Path) -> None:
    code = "import sys, realign; chat = realign.OpenAIChat; print('openai' in sys.modules, chat.__name__)"
    assert run_python(code, tmp_path) == "True OpenAIChat"


def test_offline_commands_do_not_import_openai(tmp_path: Path) -> None:
    labelled, report = tmp_path / "labelled.jsonl", tmp_path / "report.html"
    commands = {
        "dry-run": ["reformat", str(SAMPLE), "--dry-run"],
        "classify": ["classify", str(SAMPLE), "-o", str(labelled), "-q"],
        "report": ["report", str(labelled), "-o", str(report)],
    }
    code = f"""
import contextlib, io, json, sys
from realign._cli.main import main
loaded = {{}}
for name, argv in {commands!r}.items():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    loaded[name] = [code, 'openai' in sys.modules]
print(json.dumps(loaded))
"""
    loaded = json.loads(run_python(code, tmp_path))
    assert loaded == {"dry-run": [0, False], "classify": [0, False], "report": [0, False]}
