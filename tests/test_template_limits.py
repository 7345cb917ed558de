"""User templates are code from elsewhere: each render runs in a sandbox with a time and a size
limit, every problem is a TemplateError naming the file, and a broken template fails before any call."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import realign_row, write_jsonl
from realign import FakeLLM, Pipeline, TemplateError
from realign._cli.main import main
from stub_server import StubServer


def criteria_folder(tmp_path: Path, body: str | bytes, name: str = "open_qa.j2") -> Path:
    folder = tmp_path / "criteria"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "longer than"),
        ("{{ 'x' * 10**10 }}", "over 1,000,000 items"),
        ("{{ 10 ** 100000 }}", "exponent too large"),
        ("{{ 'x' * 100000000 }}", "over 1,000,000 items"),
        ("{{ range(10**9) | list | length }}", "open_qa.j2"),
        ('{% include "open_qa.j2" %}', "recursion"),
        ("- Keep it short.\n{{ not_a_variable }}", "not_a_variable"),
    ],
)
def test_a_bad_user_template_is_a_template_error_naming_the_file(tmp_path: Path, body: str, problem: str) -> None:
    folder = criteria_folder(tmp_path, body)
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        Pipeline(FakeLLM(), criteria=folder)
    assert time.monotonic() - started < 20  # a 2 s limit per render; never the hours the loops would take
    assert "open_qa.j2" in str(info.value)
    assert problem in str(info.value)


def test_a_user_template_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    folder = criteria_folder(tmp_path, "- Gar\xe7on.\n".encode("latin-1"))
    with pytest.raises(TemplateError) as info:
        Pipeline(FakeLLM(), criteria=folder)
    assert "open_qa.j2" in str(info.value)
    assert "not UTF-8" in str(info.value)


def test_a_good_user_template_still_renders(tmp_path: Path) -> None:
    folder = criteria_folder(tmp_path, "{% for i in range(3) %}- Point {{ i }}.\n{% endfor %}")
    pipeline = Pipeline(FakeLLM(), criteria=folder)
    assert pipeline.criteria.render("open_qa", {}) == "- Point 0.\n- Point 1.\n- Point 2."


def test_an_undefined_name_fails_before_the_first_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = criteria_folder(tmp_path, "{% if has_code %}- {{ typo_in_a_branch }}{% endif %}- Be brief.")
    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("Capital of Peru?", "Lima.", "open_qa")])
    with StubServer() as stub:
        out = str(tmp_path / "out.jsonl")
        code = main(["reformat", str(source), "-o", out, "--base-url", stub.base_url, "--criteria", str(folder)])
        assert stub.requests == []
    err = capsys.readouterr().err
    assert code == 2
    assert "open_qa.j2" in err
    assert "typo_in_a_branch" in err
    assert not (tmp_path / "out.jsonl").exists()
