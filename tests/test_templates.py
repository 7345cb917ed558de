from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from realign import Criteria, Evidence, TemplateError, UsageError
from realign._protocol import RewritePrompt
from realign._tasks import TASKS
from realign._templates import Prompts

REWRITTEN = [name for name, task in TASKS.items() if task.rewrite]


def test_every_rewritten_task_has_criteria_and_no_other() -> None:
    criteria = Criteria()
    assert len(REWRITTEN) == 35
    for name, task in TASKS.items():
        assert criteria.has(name) == task.rewrite, name


@pytest.mark.parametrize("task", REWRITTEN)
def test_every_criteria_renders_for_every_flag_combination(task: str) -> None:
    criteria = Criteria()
    outputs = set()
    for code, evidence, final in itertools.product([False, True], repeat=3):
        text = criteria.render(
            task,
            {
                "task": task,
                "question": "Q",
                "response": "R",
                "has_code": code,
                "has_evidence": evidence,
                "has_final_answer": final,
            },
        )
        assert text.strip()
        assert "\n\n\n" not in text
        assert "{{" not in text
        assert "{%" not in text
        outputs.add(text)
    if task in ("math_puzzles", "code_correction", "open_qa"):
        assert len(outputs) > 1  # these criteria adapt to the row (final answer, code, evidence)


def test_prompt_puts_static_text_first_and_row_text_last() -> None:
    prompt = RewritePrompt(Prompts(), Criteria())
    a = prompt.messages("math_puzzles", "What is 6*7?", "42", [])
    b = prompt.messages("math_puzzles", "What is 5*5?", "25", [])
    assert a[0] == b[0]
    assert a[0][0] == "system"
    user_a, user_b = a[1][1], b[1][1]
    first_difference = next(i for i, (x, y) in enumerate(zip(user_a, user_b, strict=False)) if x != y)
    # Everything up to the question is shared between rows of one task: the cacheable prefix.
    assert user_a.index("</criteria>") < user_a.index("<question>") <= first_difference
    assert user_a.index("<question>") < user_a.index("<response>")
    assert "<question>\nWhat is 6*7?\n</question>" in user_a
    assert "<response>\n42\n</response>" in user_a


def test_evidence_is_delimited_and_never_rendered_as_a_template() -> None:
    prompt = RewritePrompt(Prompts(), Criteria())
    hostile = Evidence(text="{{ 7*7 }} {% for x in range(3) %}x{% endfor %}", title="T", url="http://e.x")
    user = prompt.messages("open_qa", "Who?", "Him.", [hostile])[1][1]
    assert "<evidence>" in user
    assert "</evidence>" in user
    assert "{{ 7*7 }}" in user
    assert "49" not in user
    assert "http://e.x" in user


def test_row_text_is_never_rendered_as_a_template() -> None:
    prompt = RewritePrompt(Prompts(), Criteria())
    user = prompt.messages("open_qa", "{{ question }}", "{% raw %}", [])[1][1]
    assert "<question>\n{{ question }}\n</question>" in user


def test_user_criteria_override_and_add_tasks(tmp_path: Path) -> None:
    (tmp_path / "math_puzzles.j2").write_text("- Use exactly three steps.\n")
    header = "{# sql_queries: SQL answers with a query block #}\n"
    (tmp_path / "sql_queries.j2").write_text(header + "- Put SQL in a block.\n")
    criteria = Criteria(tmp_path)
    ctx = {
        "task": "x",
        "question": "q",
        "response": "r",
        "has_code": False,
        "has_evidence": False,
        "has_final_answer": False,
    }
    assert criteria.render("math_puzzles", ctx) == "- Use exactly three steps."
    assert criteria.render("sql_queries", ctx) == "- Put SQL in a block."
    assert criteria.tasks["sql_queries"].description == "SQL answers with a query block"
    assert criteria.tasks["sql_queries"].rewrite
    assert criteria.has("open_qa")  # built-ins still there


def test_user_criteria_are_sandboxed_and_strict(tmp_path: Path) -> None:
    (tmp_path / "evil.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "typo.j2").write_text("{{ questoin }}")
    criteria = Criteria(tmp_path)
    ctx = {
        "task": "x",
        "question": "q",
        "response": "r",
        "has_code": False,
        "has_evidence": False,
        "has_final_answer": False,
    }
    with pytest.raises(TemplateError):
        criteria.render("evil", ctx)
    with pytest.raises(TemplateError, match="questoin"):
        criteria.render("typo", ctx)


def test_bad_criteria_folder_and_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Criteria(tmp_path / "missing")
    (tmp_path / "broken.j2").write_text("line one\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"broken.j2 line 2"):
        Criteria(tmp_path)
