"""Progress bars (raresound.progress): drawn on a terminal, never in a log or a pipe (no '\\r' redraws)."""

from __future__ import annotations

import io

from raresound.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn(stream, enabled=True) -> str:
    bar = progress_bar(enabled, total=3, desc="work", file=stream)
    for _ in range(3):
        bar.update(1)
    bar.close()
    return stream.getvalue()


def test_a_bar_draws_on_a_terminal_only():
    assert "\r" in drawn(Terminal())
    assert drawn(io.StringIO()) == ""  # a log file or pipe gets no redraws
    assert drawn(Terminal(), enabled=False) == ""


def test_training_logs_epochs_without_carriage_returns(tmp_path, capsys):
    from test_loop import Tiny, stage

    from raresound.training.loop import Trainer

    Trainer(Tiny(), tmp_path, seed=3, progress=True).fit(stage(epochs=2))
    captured = capsys.readouterr()  # pytest's capture is not a terminal, like a log file
    assert "\r" not in captured.err + captured.out
    assert [line.split(" train")[0] for line in captured.out.splitlines()] == ["[s] epoch 1/2", "[s] epoch 2/2"]


def test_featurising_logs_no_carriage_returns(tmp_path, capsys):
    from helpers import DATASET_CFG, write_dataset

    from raresound.store import build_store

    (tmp_path / "data").mkdir()
    build_store(write_dataset(tmp_path / "data", n=3, bad=False), tmp_path / "store", DATASET_CFG, workers=1,
                chunk_size=1, progress=True)
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out
