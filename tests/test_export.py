"""Export: ONNX Runtime and TorchScript reproduce the bundle's scores (normaliser baked in or not)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime", reason="the 'export' extra (onnx, onnxruntime) is not installed")

from raresound.bundle import Bundle, load_bundle
from raresound.cli import main
from raresound.export import export_bundle
from raresound.features import FeatureConfig, Normalizer
from raresound.io import read_json
from raresound.models.factory import ModelSpec, build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 torch thread: fast on a busy 2-core box

SPECS = {
    "lstm": (1.0, ModelSpec(backbone="lstm", backbone_kwargs={"n_mels": 64, "hidden_size": 16}, n_classes=3)),
    "cnn": (5.0, ModelSpec(backbone="cnn", backbone_kwargs={"n_mels": 64, "n_frames": 500}, n_classes=3)),
    "softmax": (1.0, ModelSpec(backbone="lstm", backbone_kwargs={"n_mels": 64, "hidden_size": 8, "pooling": "mean"},
                               n_classes=2, score="softmax")),
    "stats": (1.0, ModelSpec(backbone="stats", backbone_kwargs={"n_mels": 64}, n_classes=3)),  # the probe
    # the sound event detector of train-sed: clip scores and per-step frame scores
    "crnn": (2.0, ModelSpec(backbone="crnn", backbone_kwargs={"n_mels": 64, "channels": [4, 8], "time_pools": [2, 2],
                                                              "freq_pools": [8, 8], "hidden_size": 8},
                            n_classes=3, frame_head_input="e")),
}


def make_bundle(tmp_path, kind: str) -> Bundle:
    clip, spec = SPECS[kind]
    torch.manual_seed(0)
    model = build_model(spec).eval()
    if kind in ("cnn", "crnn"):  # non-trivial batch-norm statistics
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(1)
    normalizer = Normalizer().fit(rng.normal(-5, 2, size=(4, 100, 64)))
    bundle = Bundle(model, spec, [f"c{i}" for i in range(spec.n_classes)], FeatureConfig(clip_seconds=clip),
                    normalizer, {f"c{i}": 0.5 for i in range(spec.n_classes)})
    bundle.save(tmp_path / kind)
    return load_bundle(tmp_path / kind)


def features(bundle: Bundle, batch: int, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    cfg = bundle.feature_config
    return torch.randn(batch, cfg.n_frames(), 64, generator=g) * 2 - 5  # log-mel-like scale


@pytest.mark.parametrize("kind", ["lstm", "cnn", "softmax", "stats", "crnn"])
def test_onnx_runtime_matches_pytorch(tmp_path, kind):
    bundle = make_bundle(tmp_path, kind)
    path = export_bundle(bundle, "onnx")
    assert path == tmp_path / kind / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = features(bundle, 5)  # a batch size other than the export example's
    got = session.run(["scores"], {"features": x.numpy()})[0]
    expected = bundle.score_features(x).numpy()
    assert got.shape == (5, len(bundle.classes))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert np.ptp(expected) > 1e-3  # the comparison is not between constants
    side = read_json(str(path) + ".json")
    assert side["normalizer_baked_in"] is True and side["classes"] == bundle.classes
    assert side["input"]["shape"] == ["batch", bundle.feature_config.n_frames(), 64]


def test_crnn_onnx_frame_scores_match_the_detectors_frame_scores(tmp_path):
    bundle = make_bundle(tmp_path, "crnn")
    path = export_bundle(bundle, "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = features(bundle, 3, seed=7)
    scores, frames = session.run(["scores", "frame_scores"], {"features": x.numpy()})
    with torch.no_grad():
        expected = torch.sigmoid(bundle.model.frame_logits(bundle.normalizer.transform(x)))
    assert frames.shape == (3, 50, 3)  # 2 s = 200 frames, 4 frames per step
    np.testing.assert_allclose(frames, expected.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores, bundle.score_features(x).numpy(), atol=1e-5, rtol=0)
    side = read_json(str(path) + ".json")
    assert side["frame_output"]["shape"] == ["batch", 50, 3] and side["frame_output"]["step_seconds"] == 0.04


@pytest.mark.parametrize("kind", ["lstm", "cnn", "stats"])
def test_torchscript_matches_pytorch(tmp_path, kind):
    bundle = make_bundle(tmp_path, kind)
    path = export_bundle(bundle, "torchscript", tmp_path / "out" / "net.pt")
    loaded = torch.jit.load(str(path))
    x = features(bundle, 3, seed=5)
    with torch.no_grad():
        got = loaded(x)
    torch.testing.assert_close(got, bundle.score_features(x), atol=1e-4, rtol=0)


def test_external_normalizer_takes_normalised_features(tmp_path):
    bundle = make_bundle(tmp_path, "lstm")
    path = export_bundle(bundle, "onnx", tmp_path / "bare.onnx", bake_normalizer=False)
    x = features(bundle, 4)
    normalised = bundle.normalizer.transform(x.numpy())
    got = ort.InferenceSession(str(path)).run(None, {"features": normalised})[0]
    np.testing.assert_allclose(got, bundle.score_features(x).numpy(), atol=1e-4, rtol=0)
    assert read_json(str(path) + ".json")["normalizer_baked_in"] is False


def test_export_cli(tmp_path, capsys):
    make_bundle(tmp_path, "lstm")
    assert main(["export", str(tmp_path / "lstm"), "--format", "torchscript"]) == 0
    assert (tmp_path / "lstm" / "model.torchscript.pt").is_file()
    assert (tmp_path / "lstm" / "model.torchscript.pt.json").is_file()
    assert main(["export", str(tmp_path / "nothing"), "--format", "onnx"]) == 2
    assert "not a model bundle" in capsys.readouterr().err
