"""The path a user with their own data takes: the commands they see, the report of any campaign."""

from __future__ import annotations

import contextlib
import io

from mftl.cli import main


def test_user_help_lists_init_and_not_the_rule_only_figure_notes():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["--help"])
    assert "init" in out.getvalue() and "check-config" in out.getvalue()
    assert "figure-notes" not in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["figure-notes", "--skipped", '["demo/cost: no costs"]']) == 0  # the rule's step still runs
    assert out.getvalue() == "figures: skipped demo/cost: no costs\n"
