"""CLI conventions: help with examples and exit codes, the same short flags everywhere, usage when alone."""

from __future__ import annotations

import argparse

import pytest

from realign._cli.main import build_parser, main

COMMANDS = ("tasks", "reformat", "classify", "retrieve", "index", "report")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_realign_alone_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_realign_alone_prints_usage_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    main([])
    err = capsys.readouterr().err
    assert err.startswith("usage: realign")
    for name in COMMANDS:
        assert name in err


def test_realign_alone_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    main([])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples_exit_codes_and_the_readme(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"examples:\n  realign {name}" in out
    assert "exit codes:" in out
    assert "README.md" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_flag_and_argument_has_help(name: str) -> None:
    undocumented = [action.dest for action in _subparsers()[name]._actions if not action.help and action.dest != "help"]
    assert undocumented == []


@pytest.mark.parametrize(("flag", "long"), [("-o", "--output"), ("-q", "--quiet"), ("-m", "--model")])
def test_short_flags_mean_the_same_everywhere(flag: str, long: str) -> None:
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if flag in action.option_strings:
                assert long in action.option_strings, name
            if long in action.option_strings:
                assert flag in action.option_strings, name


def test_report_input_is_named_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert usage.rstrip().endswith("INPUT")


def _exit_codes_listed(name: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit):
        main([name, "--help"])
    section = capsys.readouterr().out.split("exit codes:\n")[1].split("\n\n")[0]
    return [line.split()[0].rstrip(",") for line in section.splitlines() if line[:3].strip().isdigit()]


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("reformat", ["0", "1", "2", "3", "130"]),
        ("classify", ["0", "1", "2", "130"]),
        ("retrieve", ["0", "1", "2", "130"]),
        ("index", ["0", "2", "130"]),
        ("report", ["0", "2", "130"]),
        ("tasks", ["0", "2", "130"]),
    ],
)
def test_help_lists_only_the_exit_codes_the_command_can_return(
    name: str, codes: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Only reformat decides rows (3: some ended with llm_error); only the commands that call a model or a search
    # backend can stop a run (1).
    assert _exit_codes_listed(name, capsys) == codes
