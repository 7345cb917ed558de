from __future__ import annotations

import inspect
from pathlib import Path

import realign


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(realign) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(realign, name))}
    assert set(realign.__all__) - {"__version__"} == public - modules
    assert all(not name.startswith("_") or name == "__version__" for name in realign.__all__)


def test_every_public_name_is_documented() -> None:
    for name in realign.__all__:
        obj = getattr(realign, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_one_exception_tree() -> None:
    for name in (
        "UsageError",
        "InputError",
        "TemplateError",
        "LLMError",
        "FatalLLMError",
        "SearchError",
        "FatalSearchError",
    ):
        assert issubclass(getattr(realign, name), realign.RealignError)


def test_typed_package_ships_its_marker_and_templates() -> None:
    package = Path(realign.__file__).parent
    assert (package / "py.typed").is_file()
    from realign._templates import builtin_dir

    assert len(list(builtin_dir("criteria").glob("*.j2"))) == 35
    assert (builtin_dir("prompts") / "rewrite_system.j2").is_file()
