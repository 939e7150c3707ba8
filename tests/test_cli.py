"""`vpclocal --help` and every command's: a one-line description for each command, help for
each option, and the default of each option that has one (or when it is required) (issue 18)."""

from __future__ import annotations

import argparse
import subprocess

import pytest

from tests.conftest import BIN
from vpclocal.cli import build_parser


def commands(parser: argparse.ArgumentParser, name: str = "vpclocal"):
    """(name, parser, the help line its parent lists it with) for every command, nested too."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from commands(sub, f"{name} {sub_name}")


def listed_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand's line in its parent's help."""
    return {choice.dest: choice.help or "" for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
            for choice in action._choices_actions}


ALL = list(commands(build_parser()))


def test_every_command_is_listed_with_one_line():
    for name, parser in ALL:
        assert parser.description, f"{name} has no description"
        for sub, line in listed_help(parser).items():
            assert line and "\n" not in line, f"{name} {sub} has no one-line help"


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[name for name, _ in ALL])
def test_every_option_says_what_it_does_and_its_default(name, parser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        what = "/".join(action.option_strings) or action.dest
        assert action.help, f"{name} {what} has no help"
        takes_value = action.option_strings and action.nargs != 0 and not isinstance(
            action, argparse.BooleanOptionalAction)
        if takes_value or isinstance(action, argparse.BooleanOptionalAction) or action.nargs == "?":
            assert "(default: " in action.help or "(required" in action.help, (
                f"{name} {what} does not show its default")


def test_help_as_printed():
    out = subprocess.run([str(BIN / "vpclocal"), "--help"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    assert "The `vpclocal` command." not in out
    for line in ("up        serve the local cloud in the foreground",
                 "reach     can SOURCE reach DESTINATION?", "internet  public hosts"):
        assert line in out, out
    out = subprocess.run([str(BIN / "vpclocal"), "up", "--help"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    words = " ".join(out.split())  # as wrapped to the terminal's width
    for default in ("(default: 127.0.0.1)", "(default: 4566)", "(default: .vpclocal)"):
        assert default in words, out
