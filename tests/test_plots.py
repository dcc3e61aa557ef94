import numpy as np
import pytest

from raresound.errors import DataError
from raresound.evaluation.plots import det_figure, plot_det, plot_embedding_sphere, plot_scored_det, probit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_probit_known_values():
    # Standard-normal quantiles: 50% -> 0, 84.134...% -> 1, 97.5% -> 1.959964, 0.1% -> -3.090232.
    np.testing.assert_allclose(
        probit([0.5, 0.8413447460685429, 0.975, 0.001]),
        [0.0, 1.0, 1.959963984540054, -3.090232306167813],
        atol=1e-9,
    )


def test_probit_clips_zero_and_one_to_finite_symmetric_values():
    lo, hi = probit([0.0, 1.0])
    assert np.isfinite(lo) and np.isfinite(hi)
    assert lo == pytest.approx(-hi)
    assert lo < probit(0.0005)  # clipped points fall outside the drawn axis range


def _is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


CURVES = {
    "dog": {"baseline": (np.array([1.0, 0.5, 0.2, 0.05, 0.0]), np.array([0.0, 0.0, 0.1, 0.3, 0.6])),
            "proposed": (np.array([1.0, 0.3, 0.1, 0.01, 0.0]), np.array([0.0, 0.0, 0.02, 0.1, 0.4]))},
    "baby": {"baseline": (np.array([1.0, 0.6, 0.0]), np.array([0.0, 0.4, 1.0])),
             "proposed": (np.array([1.0, 0.2, 0.0]), np.array([0.0, 0.3, 1.0]))},
    "gunshot": {"baseline": (np.array([1.0, 0.0]), np.array([0.0, 1.0]))},
}


def test_plot_det_writes_png(tmp_path):
    out = plot_det(CURVES, tmp_path / "sub" / "det.png", title="DET", eers={"dog": {"proposed": 0.05}})
    assert out == tmp_path / "sub" / "det.png"
    assert _is_png(out)
    # The atomic write leaves no temp file behind.
    assert sorted(p.name for p in out.parent.iterdir()) == ["det.png"]


def test_det_figure_has_one_panel_per_class_with_chance_line_and_eer_points():
    fig = det_figure(CURVES, eers={"dog": {"baseline": 0.2, "proposed": 0.05}}, positives={"dog": 48})
    assert [ax.get_title() for ax in fig.axes] == ["dog (n+ = 48)", "baby", "gunshot"]
    for ax in fig.axes:
        chance = [line for line in ax.get_lines() if line.get_gid() == "chance"]
        assert len(chance) == 1
        x, y = chance[0].get_data()  # miss = 1 - false alarm: the anti-diagonal on probit axes
        np.testing.assert_allclose(y, -x)
        # whole curves: the axes reach 99 % and beyond on both rates
        assert ax.get_xlim()[1] > probit(0.99) and ax.get_ylim()[1] > probit(0.99)
        assert ax.get_legend() is not None
    points = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert sorted(float(p.get_xdata()[0]) for p in points) == pytest.approx(sorted(probit([0.2, 0.05])))
    # a system keeps its colour across panels
    colour = {ax.get_title(): [line.get_color() for line in ax.get_lines() if line.get_label().startswith("baseline")]
              for ax in fig.axes}
    assert colour["dog (n+ = 48)"][0] == colour["baby"][0] == colour["gunshot"][0]


def test_plot_scored_det_from_scores(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random((60, 2)) < 0.3).astype(float)
    scored = {"a": (rng.random((60, 2)) + y, y), "b": (rng.random((60, 2)), y)}
    assert _is_png(plot_scored_det(scored, ["x", "z"], tmp_path / "det.png"))
    assert _is_png(plot_scored_det(scored, ["x", "z"], tmp_path / "one.png", only_class="z"))


def test_plot_det_rejects_bad_curves(tmp_path):
    with pytest.raises(DataError, match="no DET curves"):
        plot_det({}, tmp_path / "det.png")
    with pytest.raises(DataError, match="'a'"):
        plot_det({"dog": {"a": ([0.1, 0.2], [0.3])}}, tmp_path / "det.png")
    assert not (tmp_path / "det.png").exists()


def test_plot_embedding_sphere_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(30, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    labels = ["dog"] * 10 + ["baby"] * 10 + ["background"] * 10
    out = plot_embedding_sphere(pts, labels, tmp_path / "sphere.png", title="toy")
    assert _is_png(out)


def test_plot_embedding_sphere_rejects_wrong_shape(tmp_path):
    with pytest.raises(DataError, match=r"\[N, 3\]"):
        plot_embedding_sphere(np.zeros((4, 2)), [0, 0, 1, 1], tmp_path / "s.png")


def test_learning_curves_group_clustering_stages_and_give_detectors_a_panel(tmp_path):
    from raresound.evaluation.plots import _panels, plot_learning_curves

    rows = [{"stage": s, "epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e}
            for s in ("round1-layer", "round1-e2e") for e in (1, 2)]
    rows += [{"stage": s, "epoch": e, "train_loss": 0.7, "val_loss": 0.8, "val_eer": 0.3} for s in ("p1", "p2")
             for e in (1, 2, 3)]
    panels = _panels(rows)
    assert [(name, len(h)) for name, h in panels] == [("round1-layer … round1-e2e", 4), ("p1", 3), ("p2", 3)]
    assert _is_png(plot_learning_curves(rows, tmp_path / "curves.png"))
    with pytest.raises(DataError, match="no epochs"):
        plot_learning_curves([], tmp_path / "none.png")
