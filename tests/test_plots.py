import numpy as np
import pytest

from raresound.errors import DataError
from raresound.evaluation.plots import plot_det, plot_embedding_sphere, probit

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


def test_plot_det_writes_png(tmp_path):
    curves = {
        "baseline": (np.array([0.5, 0.2, 0.05, 0.0]), np.array([0.0, 0.1, 0.3, 0.6])),
        "proposed": (np.array([0.3, 0.1, 0.01, 0.0]), np.array([0.0, 0.02, 0.1, 0.4])),
    }
    out = plot_det(curves, tmp_path / "sub" / "det.png", title="DET", eers={"proposed": 0.05})
    assert out == tmp_path / "sub" / "det.png"
    assert _is_png(out)
    # The atomic write leaves no temp file behind.
    assert sorted(p.name for p in out.parent.iterdir()) == ["det.png"]


def test_plot_det_rejects_bad_curves(tmp_path):
    with pytest.raises(DataError, match="no DET curves"):
        plot_det({}, tmp_path / "det.png")
    with pytest.raises(DataError, match="'a'"):
        plot_det({"a": ([0.1, 0.2], [0.3])}, tmp_path / "det.png")
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
