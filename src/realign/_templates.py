"""Prompt and criteria templates: Jinja files that are data, compiled once at start-up.

Built-in templates ship inside the wheel (``realign/prompts``, ``realign/criteria``); in a source
checkout they are read from the top-level ``prompts/`` and ``criteria/`` folders. User folders are
rendered in a sandbox: a criteria file is code the user did not necessarily write themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ._exceptions import TemplateError, UsageError
from ._tasks import TASKS, Task

__all__ = ["Criteria", "Prompts", "builtin_dir"]

_SUFFIX = ".j2"
# First line of a criteria file: {# name: one-line description #}
_HEADER = re.compile(r"\A\{#-?\s*([\w-]+)\s*:\s*(.+?)\s*-?#\}")


def builtin_dir(name: str) -> Path:
    """Folder of the built-in ``prompts`` or ``criteria``, installed or in a source checkout."""
    installed = resources.files("realign") / name
    if installed.is_dir():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise TemplateError(f"built-in {name}/ folder not found; reinstall realign")


def _environment(folder: Path, *, sandboxed: bool) -> jinja2.Environment:
    cls = SandboxedEnvironment if sandboxed else jinja2.Environment
    return cls(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
    )


def _compile(env: jinja2.Environment, name: str, folder: Path) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{folder / name} line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{folder / name}: {exc}") from exc


def _render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    try:
        return template.render(context).strip()
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {template.name}: {exc}") from exc


class Criteria:
    """The per-task format criteria: built-in files, overridden or extended by a user folder.

    A file ``<task>.j2`` in ``directory`` replaces the built-in criteria of that task; a new name
    becomes a task of its own (rewritten, no retrieval), described by the file's first-line comment
    ``{# name: description #}``. Giving criteria for a task that is not rewritten by default
    (say ``poem_generation``) opts that task into rewriting.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._templates: dict[str, jinja2.Template] = {}
        self._tasks: dict[str, Task] = dict(TASKS)
        self._load(builtin_dir("criteria"), sandboxed=False)
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            if not self.directory.is_dir():
                raise UsageError(f"criteria folder not found: {self.directory}")
            self._load(self.directory, sandboxed=True, custom=True)

    def _load(self, folder: Path, *, sandboxed: bool, custom: bool = False) -> None:
        env = _environment(folder, sandboxed=sandboxed)
        for path in sorted(folder.glob(f"*{_SUFFIX}")):
            name = path.name[: -len(_SUFFIX)]
            self._templates[name] = _compile(env, path.name, folder)
            if custom:
                self._tasks[name] = self._custom_task(name, path)

    def _custom_task(self, name: str, path: Path) -> Task:
        builtin = TASKS.get(name)
        if builtin is not None:
            return Task(builtin.name, builtin.group, builtin.description, True, builtin.retrieval)
        match = _HEADER.match(path.read_text(encoding="utf-8"))
        description = match.group(2) if match else f"custom task from {path.name}"
        return Task(name, "custom", description, rewrite=True, retrieval=False)

    @property
    def tasks(self) -> Mapping[str, Task]:
        """Every usable task: the built-in table plus the custom tasks of the user folder."""
        return self._tasks

    def has(self, task: str) -> bool:
        return task in self._templates

    def render(self, task: str, context: Mapping[str, Any]) -> str:
        """The criteria text of ``task`` for one row (``context``: the row's template variables)."""
        template = self._templates.get(task)
        if template is None:
            raise TemplateError(f"no criteria for task {task!r}")
        return _render(template, context)


class Prompts:
    """The rewriter's and classifiers' prompt templates (``prompts/``), compiled once."""

    NAMES = ("rewrite_system", "rewrite_user", "rewrite_user_evidence", "reask", "classify_chat", "classify_completion")

    def __init__(self, directory: str | Path | None = None) -> None:
        folder = Path(directory) if directory is not None else builtin_dir("prompts")
        env = _environment(folder, sandboxed=directory is not None)
        self._templates = {name: _compile(env, name + _SUFFIX, folder) for name in self.NAMES}

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return _render(self._templates[name], context)
