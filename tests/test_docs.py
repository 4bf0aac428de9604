"""The README says what the tool does: every command its command-line block shows exists (its
``--help`` answers), and every command the tool has is shown there."""

from __future__ import annotations

import argparse
import re
import subprocess

import pytest

from assetmap.cli import build_parser, main
from tests.conftest import REPO
from tests.test_deploy_guide import guide_blocks


def _readme_commands() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## The command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return set(re.findall(r"(?:^|\|\s*)assetmap ([a-z][a-z-]*)", block, re.M))


def _parser_commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_the_readme_shows_every_command_and_no_other():
    shown = _readme_commands()
    assert shown == _parser_commands(), (sorted(shown - _parser_commands()), sorted(_parser_commands() - shown))


@pytest.mark.parametrize("command", sorted(_readme_commands()))
def test_each_command_the_readme_shows_answers_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"assetmap {command}" in capsys.readouterr().out


def test_the_deploy_guide_is_bash_that_parses():
    """docs/deploy.md's blocks are shell scripts bash reads, one per step in a deployment's order
    (a fast check of what tests/test_deploy_guide.py runs)."""
    blocks = guide_blocks((REPO / "docs" / "deploy.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    for heading, code in blocks:
        proc = subprocess.run(["bash", "-n"], input=code, capture_output=True, text=True)
        assert proc.returncode == 0, (heading, proc.stderr)
    # every step of the deployment is in it, in the order a deployment needs them
    order = ["PostgreSQL", "bucket", "Prefect API", "first data", "Workers", "HAProxy", "Checking",
             "A file through it", "Backup"]
    seen = [next(i for i, (h, _) in enumerate(blocks) if word in h) for word in order]
    assert seen == sorted(seen), list(zip(order, seen, strict=True))
