"""Prompt and criteria templates: Jinja files that are data, compiled once at start-up.

Built-in templates ship inside the wheel (``realign/prompts``, ``realign/criteria``); in a source
checkout they are read from the top-level ``prompts/`` and ``criteria/`` folders. User folders are
rendered in a sandbox: a criteria file is code the user did not necessarily write themselves.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.exceptions
import jinja2.runtime
import jinja2.sandbox
from jinja2.sandbox import SandboxedEnvironment

from ._exceptions import TemplateError, UsageError
from ._tasks import TASKS, Task

__all__ = ["Criteria", "Prompts", "builtin_dir"]

_SUFFIX = ".j2"
# First line of a criteria file: {# name: one-line description #}
#: the file of a criteria folder with labelled instructions for the embedded classifier
EXAMPLES_FILE = "examples.jsonl"
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


#: Limits of one render of a user template: seconds, and characters of any string or list it builds.
RENDER_SECONDS = 2.0
RENDER_SIZE = 1_000_000


class _LimitedSandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute access to internals, ``range`` at most 100,000 items) plus a time
    and a size limit per render: a user template is code the user did not necessarily write, and
    two nested ``range(100000)`` loops or ``'x' * 10**10`` would otherwise hang or exhaust the run.
    The clock is read wherever a template can spend time: each item of ``range``, each call, each
    ``*``/``**``/``+``; sizes are checked before a product is built, and on every rendered output."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = float("inf")
        self.globals["range"] = self._range

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise jinja2.exceptions.SecurityError(f"render took longer than {RENDER_SECONDS:g} s")

    def _range(self, *args: int) -> Iterator[int]:
        for item in jinja2.sandbox.safe_range(*args):
            self.tick()
            yield item

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "**" and isinstance(right, int) and abs(right) > 64 and left not in (0, 1, -1):
            raise jinja2.exceptions.SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > RENDER_SIZE:
                    raise jinja2.exceptions.SecurityError(f"a value over {RENDER_SIZE:,} items")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > RENDER_SIZE:
            raise jinja2.exceptions.SecurityError(f"a value over {RENDER_SIZE:,} items")
        return result

    def call(self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return super().call(__context, __obj, *args, **kwargs)


def _environment(folder: Path, *, sandboxed: bool) -> jinja2.Environment:
    cls = _LimitedSandbox if sandboxed else jinja2.Environment
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
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{folder / name}: not UTF-8 text ({exc.reason})") from exc
    except (OSError, RecursionError) as exc:
        raise TemplateError(f"{folder / name}: {exc}") from exc


def _render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    where = template.filename or template.name
    env = template.environment
    limited = env if isinstance(env, _LimitedSandbox) else None
    if limited is not None:
        limited.deadline = time.monotonic() + RENDER_SECONDS
    try:
        text = template.render(context).strip()
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from exc
    except RecursionError as exc:  # a template that includes itself, or a macro calling itself
        raise TemplateError(f"{where}: endless recursion (does it include itself?)") from exc
    except UnicodeDecodeError as exc:  # an included file that is not UTF-8
        raise TemplateError(f"{where}: an included file is not UTF-8 text ({exc.reason})") from exc
    except (ArithmeticError, MemoryError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        if limited is not None:
            limited.deadline = float("inf")
    if limited is not None and len(text) > RENDER_SIZE:
        raise TemplateError(f"{where}: rendered over {RENDER_SIZE:,} characters")
    return text


class Criteria:
    """The per-task format criteria: built-in files, overridden or extended by a user folder.

    A file ``<task>.j2`` in ``directory`` replaces the built-in criteria of that task; a new name
    becomes a task of its own (rewritten, no retrieval), described by the file's first-line comment
    ``{# name: description #}``. Giving criteria for a task that is not rewritten by default
    (say ``poem_generation``) opts that task into rewriting. An ``examples.jsonl`` in the folder (lines
    ``{"instruction": ..., "category": ...}``) teaches the embedded classifier the folder's tasks: a
    custom task has only its description to go on otherwise, against hundreds of examples of each
    built-in one.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._templates: dict[str, jinja2.Template] = {}
        self._tasks: dict[str, Task] = dict(TASKS)
        #: the tasks whose criteria come from the user folder (rendered in the limited sandbox)
        self.user_tasks: list[str] = []
        self._load(builtin_dir("criteria"), sandboxed=False)
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            if not self.directory.is_dir():
                raise UsageError(f"criteria folder not found: {self.directory}")
            self._load(self.directory, sandboxed=True, custom=True)
        #: labelled instructions from the user folder's ``examples.jsonl``, as ``(instruction, task)``
        self.examples: list[tuple[str, str]] = self._examples(self.directory) if self.directory else []

    def _load(self, folder: Path, *, sandboxed: bool, custom: bool = False) -> None:
        env = _environment(folder, sandboxed=sandboxed)
        for path in sorted(folder.glob(f"*{_SUFFIX}")):
            name = path.name[: -len(_SUFFIX)]
            self._templates[name] = _compile(env, path.name, folder)
            if custom:
                self._tasks[name] = self._custom_task(name, path)
                self.user_tasks.append(name)

    def _examples(self, folder: Path) -> list[tuple[str, str]]:
        path = folder / EXAMPLES_FILE
        if not path.is_file():
            return []
        rows = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: not UTF-8 text ({exc.reason})") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from None
            text = row.get("instruction") if isinstance(row, dict) else None
            task = row.get("category") if isinstance(row, dict) else None
            if not isinstance(text, str) or not text.strip() or not isinstance(task, str):
                raise UsageError(f'{path}:{number}: expected {{"instruction": "...", "category": "<task>"}}')
            if task not in self._tasks:
                raise UsageError(f"{path}:{number}: unknown task {task!r} (not built in, no {task}{_SUFFIX} here)")
            rows.append((text, task))
        return rows

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
    #: Templates a user folder may leave out: the built-in ones are used (folders made before they existed)
    OPTIONAL = ("verify_system", "verify_user")

    def __init__(self, directory: str | Path | None = None) -> None:
        builtin = builtin_dir("prompts")
        folder = Path(directory) if directory is not None else builtin
        env = _environment(folder, sandboxed=directory is not None)
        #: the templates come from a user folder (rendered in the limited sandbox)
        self.custom = directory is not None
        self._templates = {name: _compile(env, name + _SUFFIX, folder) for name in self.NAMES}
        fallback = _environment(builtin, sandboxed=False) if self.custom else env
        for name in self.OPTIONAL:
            mine = self.custom and (folder / (name + _SUFFIX)).is_file()
            self._templates[name] = (
                _compile(env, name + _SUFFIX, folder) if mine else _compile(fallback, name + _SUFFIX, builtin)
            )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return _render(self._templates[name], context)
