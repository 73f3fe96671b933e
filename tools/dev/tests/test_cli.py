"""``orderly-dev``: `make run ARGS=...` reaches the demo's own options."""

from __future__ import annotations

import pytest

from orderly_dev.cli import main


def test_run_hands_its_options_to_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--orders", "5", "-h"])

    assert exit_.value.code == 0
    assert "--exit-after" in capsys.readouterr().out


def test_a_demo_option_is_refused_by_the_other_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["makemigration", "order", "a message", "--orders", "5"])

    assert exit_.value.code == 2
    assert "unrecognized arguments: --orders 5" in capsys.readouterr().err
