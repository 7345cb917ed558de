"""The code checks: code kept present (the paper's check) and kept unchanged."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .._text import has_code
from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .markup import FENCED_RE

__all__ = ["CodeFidelity", "CodePresence"]


class CodePresence(Guard):
    """Reject when one side has code and the other does not (code dropped, or code invented)."""

    name = "code_presence"

    def check(self, item: CheckInput) -> bool | Verdict:
        before, after = has_code(item.original), has_code(item.rewrite)
        if before == after:
            return True
        return refuse("the original's code is gone" if before else "code added: the original has none")


_HASH_COMMENT_LANGS = frozenset(
    "python py python3 sh bash shell zsh console ruby rb r yaml yml perl pl toml make makefile "
    "dockerfile powershell ps1 elixir julia nim coffee tcl".split()
)
_SLASH_COMMENT_LANGS = frozenset(
    "c cpp c++ h hpp java javascript js jsx ts tsx typescript go golang rust rs kotlin kt swift "
    "csharp cs c# php scala dart groovy objc objective-c css scss less json5 solidity sol".split()
)
_DASH_COMMENT_LANGS = frozenset("sql mysql postgresql psql plsql lua haskell hs ada elm".split())
_COMMENT_RES = {
    "hash": re.compile(r"(?:^|(?<=\s))#(?![!{\[])[^\n]*", re.MULTILINE),
    "slash": re.compile(r"/\*.*?\*/|(?:^|(?<=\s))//[^\n]*", re.MULTILINE | re.DOTALL),
    "dash": re.compile(r"(?:^|(?<=\s))--[^\n]*", re.MULTILINE),
    "html": re.compile(r"<!--.*?-->", re.DOTALL),
    "none": re.compile(r"(?!)"),
}
_CODE_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_PY_HINT_RE = re.compile(r"^\s*(?:def |import |from \w+ import |class \w+.*:$|print\()", re.MULTILINE)


def _comment_style(tag: str, body: str) -> str:
    tag = tag.lower()
    for style, langs in (("hash", _HASH_COMMENT_LANGS), ("slash", _SLASH_COMMENT_LANGS), ("dash", _DASH_COMMENT_LANGS)):
        if tag in langs:
            return style
    if tag in ("html", "xml", "vue", "svelte"):
        return "html"
    if tag:
        return "none"
    # Untagged: guess from the code itself. Stripping the wrong style could hide a real change
    # (`//` is floor division in Python), so guess only on clear signs.
    if _PY_HINT_RE.search(body) and not re.search(r";\s*$", body, re.MULTILINE):
        return "hash"
    if re.search(r"[;{}]\s*$", body, re.MULTILINE):
        return "slash"
    return "none"


def _code_tokens(code: str, style: str) -> list[str]:
    """Code as tokens, with comments, whitespace and the choice of string quotes taken out."""
    code = _COMMENT_RES[style].sub(" ", code).replace("'", '"')
    return _CODE_TOKEN_RE.findall(code)


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(m["tag"], m["body"]) for m in FENCED_RE.finditer(text)]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    joined, part = "\x00".join(haystack), "\x00".join(needle)
    return f"\x00{part}\x00" in f"\x00{joined}\x00"


def _first_changed(body: str, style: str, have: list[str]) -> str:
    """``: <line>`` for the first line of ``body`` whose code is not in ``have``, else nothing."""
    for line in body.splitlines():
        tokens = _code_tokens(line, style)
        if tokens and not _contains(have, tokens):
            return f": `{one_line(line.strip())}` not kept"
    return ""


class CodeFidelity(Guard):
    """Reject a rewrite that changed the original's code, in any task: the rewriter only reformats.

    Each fenced block of the original must appear in the rewrite's code (its blocks joined, so a
    block split in two with prose between still counts) with the same tokens once comments,
    whitespace and quote style are set aside. ``min_similarity`` below 1.0 accepts a block whose
    tokens are mostly kept (difflib ratio); the default 1.0 is exact, because a single changed
    token can change what code does.
    """

    name = "code"

    def __init__(
        self,
        min_similarity: float = 1.0,
        *,
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.min_similarity = min_similarity

    def check(self, item: CheckInput) -> bool | Verdict:
        original = _blocks(item.original)
        if not original:
            return True
        rewrite_blocks = _blocks(item.rewrite)
        for number, (tag, body) in enumerate(original, 1):
            style = _comment_style(tag, body)
            want = _code_tokens(body, style)
            bodies = [b for _, b in rewrite_blocks] or [item.rewrite]
            have = [tok for b in bodies for tok in _code_tokens(b, style)]
            if want and not self._kept(want, have):
                return refuse(f"code block {number} of {len(original)} changed{_first_changed(body, style, have)}")
        return True

    def _kept(self, want: list[str], have: list[str]) -> bool:
        if _contains(have, want):
            return True
        if self.min_similarity >= 1.0:
            return False
        matcher = difflib.SequenceMatcher(None, want, have, autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        return matched / len(want) >= self.min_similarity

    def __repr__(self) -> str:
        return f"CodeFidelity(min_similarity={self.min_similarity})"
