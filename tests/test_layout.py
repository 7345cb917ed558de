"""The package's shape: modules reach each other only through public names."""

from __future__ import annotations

import ast
from pathlib import Path

import realign

SOURCE = Path(realign.__file__).parent


def parse(text: str) -> ast.Module:
    """``ast.parse``, tried again on CPython 3.11's spurious "AST constructor recursion depth mismatch"
    (python/cpython#106905: the AST builder's depth count is shared by every thread of the process, so a
    parse racing another thread's can fail; the count starts afresh on each call)."""
    for _ in range(3):
        try:
            return ast.parse(text)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
    return ast.parse(text)


def _module_name(path: Path) -> str:
    parts = ["realign", *path.relative_to(SOURCE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name an ``import from`` names."""
    if node.level == 0:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's relative imports start from its package
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path, text: str | None = None) -> list[str]:
    """``from X import _name`` in ``path`` (or ``text`` as if it were there) where X is another module."""
    found = []
    own = _module_name(path)
    source_text = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(parse(source_text)):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(path, node)
            for alias in node.names:
                imported = f"{source}.{alias.name}"
                # Importing a private *module* (realign._llm.cache) is how the package is laid out;
                # a private name *inside* another module is not.
                if _is_private(alias.name) and source != own and not _is_module(imported):
                    found.append(f"{path.relative_to(SOURCE)}:{node.lineno}: {alias.name} from {source}")
    return found


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (SOURCE / relative).is_dir() or (SOURCE / relative).with_suffix(".py").is_file()


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [line for path in sorted(SOURCE.rglob("*.py")) for line in private_imports(path)]
    assert found == []


def test_the_private_import_check_reports_relative_and_absolute_imports() -> None:
    text = (
        "from .openai_chat import _translate\n"  # another module, relative
        "from realign._llm.retry import _jitter\n"  # another module, absolute
        "from .._models import Usage\n"  # a public name
        "from . import retry\n"  # a module of the package
        "from .. import __version__\n"  # a dunder
    )
    found = private_imports(SOURCE / "_llm" / "cache.py", text)
    assert found == [
        "_llm/cache.py:1: _translate from realign._llm.openai_chat",
        "_llm/cache.py:2: _jitter from realign._llm.retry",
    ]


def test_building_the_prompt_does_not_import_the_checks() -> None:
    tree = parse((SOURCE / "_protocol.py").read_text(encoding="utf-8"))
    sources = {_resolve(SOURCE / "_protocol.py", node) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(source.startswith("realign._checks") for source in sources)


def test_job_and_progress_do_not_import_each_other() -> None:
    path = SOURCE / "_jobs" / "progress.py"
    tree = parse(path.read_text(encoding="utf-8"))
    sources = {_resolve(path, node) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "realign._jobs.job" not in sources
