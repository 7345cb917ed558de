"""Text helpers shared by the rewrite prompt and the checks: code fences, case folding, final answers.

The prompt asks the model to keep a code block or a final-answer line exactly when the checks
will look for one, so both read a response with these same functions; keeping them here, apart
from the checks, lets the prompt be built without importing any check.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "FOLD_SPECIAL",
    "FOLD_SPECIAL_RE",
    "final_answer",
    "fold_case",
    "has_code",
    "has_fence",
    "has_open_fence",
    "hash_answer",
]

# --- code ---------------------------------------------------------------------------------------

_FENCE_LINE_RE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


def has_fence(text: str) -> bool:
    """``text`` has a code fence line (```` ``` ```` or ``~~~`` starting a line)."""
    return ("```" in text or "~~~" in text) and bool(_FENCE_LINE_RE.search(text))


def has_open_fence(text: str) -> bool:
    """``text`` has an odd number of fence lines: a code block is left open."""
    return has_fence(text) and len(_FENCE_LINE_RE.findall(text)) % 2 == 1


def has_code(text: str) -> bool:
    """The paper's notion of "has code": a fenced block, or both ``def `` and ``return ``."""
    return has_fence(text) or ("def " in text and "return " in text)


# --- case ---------------------------------------------------------------------------------------

#: The characters outside ASCII that a case-insensitive regex takes for an ASCII letter, and which
#: str.lower() does not turn into it (checked exhaustively by the tests).
FOLD_SPECIAL = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
FOLD_SPECIAL_RE = re.compile("[\u0130\u0131\u017f\u212a]")


@functools.lru_cache(maxsize=64)
def fold_case(text: str) -> str:
    """``text`` lowercased, with the few characters a case-insensitive regex reads as an ASCII letter
    (``ſ`` as ``s``, the Kelvin sign as ``k``, ``ı`` and ``İ`` as ``i``) written as that letter.

    Same length as ``text``, and each character is a word character (``\\w``) where the original is
    one, so positions carry over. A character of the result is an ASCII letter exactly where the
    original matches that letter under ``re.IGNORECASE``; so an ASCII pattern matches ``text``
    case-insensitively exactly where it matches the result case-sensitively. Remembered for a few
    texts: several guards read the same rewrite.
    """
    if text.isascii():
        return text.lower()
    if FOLD_SPECIAL_RE.search(text):
        text = text.translate(FOLD_SPECIAL)
    return text.lower()


# --- final answer -------------------------------------------------------------------------------

_HASH_ANSWER_RE = re.compile(r"^[ \t]*####[ \t]*(?P<ans>[^#\n]*?)[ \t]*$", re.MULTILINE)
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_WORD = r"(?:(?:final|short|correct|best)\s+)?(?:answer|option|choice|result)"
_PHRASE_ANSWER_RE = re.compile(
    # "The final answer is X", "the answer is X", "Answer: X" (a label starting its line), and a
    # heading or bold line "Answer" with X on the next line
    r"(?:\bfinal\s+answer\s*(?:is|:|=)?|\b(?:the|my|correct)\s+answer\s+(?:is|would be)\s*:?"
    rf"|^[ \t>*_#-]*{_ANSWER_WORD}[*_ ]*[:：][*_]*"
    rf"|^[ \t]*(?:#{{1,6}}[ \t]*|\*\*|__){_ANSWER_WORD}(?:\*\*|__)?[ \t]*:?[ \t]*\n+)"
    r"[ \t*_]*(?P<ans>[^\n]*?)[ \t*_]*(?:\.(?=\s|$)|\n|$)",
    re.IGNORECASE | re.MULTILINE,
)
_PHRASE_ANSWER_WORDS = ("answer", "option", "choice", "result")  # every match has one
_ANSWER_LINE_RE = re.compile(r"^[ \t>*_#-]*(?:final|short|correct|best|option|choice|result)", re.I | re.M)


def _boxed_contents(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}``, nested braces included."""
    found = []
    for m in _BOXED_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append(text[m.end() : i - 1])
    return found


def hash_answer(text: str) -> str | None:
    """The GSM8K answer (``#### 42``): the last ``####`` line that reads as a short answer."""
    if "####" not in text:
        return None
    answers = [m["ans"] for m in _HASH_ANSWER_RE.finditer(text)]
    return answers[-1] if answers and _looks_like_answer(answers[-1]) else None


def _looks_like_answer(text: str) -> bool:
    # "#### 42" is an answer; "#### Step 2: add the costs" is a markdown heading.
    return len(text) <= 40 and (any(c.isdigit() for c in text) or len(text.split()) <= 2)


def _may_state_answer(text: str) -> bool:
    """False when _PHRASE_ANSWER_RE cannot match ``text``.

    Its first two forms need "answer"; the two others a line starting with an answer word or its
    qualifier, after marks.
    """
    folded = fold_case(text)
    if "answer" in folded:
        return True
    return any(word in folded for word in _PHRASE_ANSWER_WORDS) and bool(_ANSWER_LINE_RE.search(text))


def final_answer(text: str, phrases: bool) -> tuple[str, str] | None:
    """``(kind, answer)`` of the final answer ``text`` states, strongest marker first.

    ``kind`` is ``hash`` (``#### 42``), ``boxed`` (the last ``\\boxed{...}``) or, with ``phrases``,
    ``phrase`` (the last "The answer is X" / "Answer: X" / "Final answer: X").
    """
    hashed = hash_answer(text)
    if hashed is not None:
        return "hash", hashed
    boxed = _boxed_contents(text)
    if boxed:
        return "boxed", boxed[-1]
    if phrases and _may_state_answer(text):
        stated = [m["ans"] for m in _PHRASE_ANSWER_RE.finditer(text) if m["ans"].strip()]
        if stated:
            return "phrase", stated[-1]
    return None
