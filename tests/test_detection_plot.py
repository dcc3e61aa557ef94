"""The detection timeline (detection/plot.py) and `raresound plot`: three axes on one time axis, bars of
detected and reference events at their times, thresholds dashed, window or frame scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from raresound.cli import main
from raresound.detection.plot import score_track, timeline_figure
from raresound.evaluation.events import Event
from helpers import PLANTED, SR, planted_wave, saved_frame_bundle, saved_planted_bundle, write_wav

pytestmark = pytest.mark.usefixtures("one_thread")


def _bars(fig, gid):
    """(start, width) of every bar of the collection with this gid."""
    (coll,) = [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]
    return [(round(p.get_extents().x0, 6), round(p.get_extents().width, 6)) for p in coll.get_paths()]


def test_figure_has_three_axes_and_bars_at_the_event_times():
    spec = np.zeros((300, 8))  # 3 s at 10 ms
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]])
    detected = [Event("x", 0.5, 1.25, "a"), Event("x", 2.0, 2.5, "b")]
    reference = [Event("x", 0.4, 1.0, "a")]
    fig = timeline_figure(spec, 0.01, scores, np.array([0.0, 1.0, 2.0, 3.0]), ["a", "b"], [0.5, 0.7], detected,
                          reference)
    assert len(fig.axes) == 3
    assert _bars(fig, "detected:a") == [(0.5, 0.75)] and _bars(fig, "detected:b") == [(2.0, 0.5)]
    assert _bars(fig, "reference:a") == [(0.4, 0.6)] and _bars(fig, "reference:b") == []
    score_ax = fig.axes[1]
    (stairs_a,) = [a for a in score_ax.patches if a.get_gid() == "scores:a"]
    assert np.array_equal(stairs_a.get_data().values, [0.1, 0.8, 0.3])
    (thr_b,) = [ln for ln in score_ax.lines if ln.get_gid() == "threshold:b"]
    assert np.allclose(thr_b.get_ydata(), 0.7)
    assert fig.axes[2].get_xlim() == (0.0, 3.0)


def test_window_scores_sit_on_the_hop_around_each_window_centre():
    r = SimpleNamespace(frame_scores=None, scores=np.ones((3, 1)), window_starts=np.array([0.0, 1.0, 2.0]))
    scores, edges, kind = score_track(r, window_seconds=4.0, hop_seconds=1.0)
    assert kind == "window" and np.allclose(edges, [1.5, 2.5, 3.5, 4.5])
    r = SimpleNamespace(frame_scores=np.ones((4, 1)), step_seconds=0.04, duration=0.15)
    assert np.allclose(score_track(r)[1], [0.0, 0.04, 0.08, 0.12, 0.15])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot")
    saved_planted_bundle(root / "windows")
    saved_frame_bundle(root / "frames")
    write_wav(root / "a.wav", planted_wave(30.0, PLANTED[:2]))
    (root / "ref.tsv").write_text("a.wav\t5.3\t7.3\ttone\na.wav\t20.05\t22.05\ttone\nother.wav\t1\t2\ttone\n")
    return root


def test_cli_plot_frame_bundle(files, tmp_path, monkeypatch):
    import raresound.detection.plot as plot

    figures = []
    real = plot.timeline_figure
    monkeypatch.setattr(plot, "timeline_figure", lambda *a, **k: figures.append(real(*a, **k)) or figures[-1])
    out = tmp_path / "t.png"
    assert main(["plot", str(files / "a.wav"), "--bundle", str(files / "frames"), "--reference",
                 str(files / "ref.tsv"), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    assert len(fig.axes) == 3 and fig.axes[1].get_ylabel() == "frame score"
    assert _bars(fig, "reference:tone") == [(5.3, 2.0), (20.05, 2.0)]
    detected = _bars(fig, "detected:tone")
    assert len(detected) == 2 and all(abs(d[0] - r[0]) <= 0.02 and abs(d[1] - 2.0) <= 0.03
                                      for d, r in zip(detected, [(5.3,), (20.05,)]))


def test_cli_plot_window_bundle_and_span(files, tmp_path, monkeypatch):
    import raresound.detection.plot as plot

    figures = []
    real = plot.timeline_figure
    monkeypatch.setattr(plot, "timeline_figure", lambda *a, **k: figures.append(real(*a, **k)) or figures[-1])
    out = tmp_path / "w.png"
    assert main(["plot", str(files / "a.wav"), "--bundle", str(files / "windows"), "--hop", "0.5",
                 "--start", "3", "--end", "12", "--out", str(out)]) == 0
    (fig,) = figures
    assert fig.axes[1].get_ylabel() == "window score" and fig.axes[2].get_xlim() == (3.0, 12.0)
    assert not [c for c in fig.axes[2].collections if str(c.get_gid()).startswith("reference:")]
    (first, *_), = [_bars(fig, "detected:tone")]
    assert abs(first[0] - 5.3) <= 0.5  # window events: within a hop


@pytest.mark.parametrize("extra, message", [
    (["--reference", "missing.tsv"], "missing.tsv: cannot read"),
    (["--reference", "other"], "lists no events for a.wav (it lists b.wav)"),
    (["--start", "40"], "config field '--start'"),
    (["--start", "5", "--end", "4"], "config field '--end'"),
])
def test_cli_plot_errors_are_one_line(files, tmp_path, capsys, extra, message):
    (tmp_path / "other").write_text("b.wav\t1\t2\ttone\n")
    extra = [str(tmp_path / e) if e in ("missing.tsv", "other") else e for e in extra]
    out = tmp_path / "x.png"
    assert main(["plot", str(files / "a.wav"), "--bundle", str(files / "windows"), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()
