"""One pass over the signal (detection/onepass.py): chunked steps equal one whole-signal pass; the
clip scores equal the windowed ones where the definitions coincide."""

import numpy as np
import pytest
import torch

from raresound.detection.framing import WindowGrid
from raresound.detection.onepass import OnePassScorer
from raresound.features import FeatureConfig
from raresound.models.factory import ModelSpec, build_model

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = FeatureConfig(n_mels=16, clip_seconds=5.0)  # 500 frames: the smallest clip the paper CNN takes
MODELS = {
    "lstm": ("lstm", {"n_mels": 16, "hidden_size": 8}),
    "lstm-pooled": ("lstm", {"n_mels": 16, "hidden_size": 8, "time_pool": 4}),
    "lstm-last": ("lstm", {"n_mels": 16, "hidden_size": 8, "pooling": "last"}),
    "cnn": ("cnn", {"n_mels": 16, "n_frames": 500}),
}


def _model(name):
    torch.manual_seed(0)
    backbone, kwargs = MODELS[name]
    model = build_model(ModelSpec(backbone=backbone, backbone_kwargs=kwargs, n_classes=2, frame_head_input="e"))
    return model.eval()


def _run(model, frames, n_windows, hop=1.0, seed=0):
    scorer = OnePassScorer(model, WindowGrid.for_config(CFG, hop))
    rng = np.random.default_rng(seed)
    frame_out, window_out, start = [], [], 0
    while start < frames.shape[0]:  # uneven chunks, as a stream delivers them
        size = int(rng.integers(1, 120))
        f, w = scorer.push(frames[start : start + size])
        frame_out += [f] if f is not None else []
        window_out += [w] if w is not None else []
        start += size
    f, w = scorer.finish(n_windows)
    frame_out += [f] if f is not None else []
    window_out += [w] if w is not None else []
    return torch.cat(frame_out), torch.cat(window_out)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pool_of_the_sequence_is_the_clip_embedding(name):
    model = _model(name)
    x = torch.randn(3, 500, 16)
    with torch.no_grad():
        steps, _ = model.backbone.sequence(x)
        assert torch.equal(model.backbone.pool(steps), model.backbone(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunked_one_pass_equals_the_whole_signal(name):
    model = _model(name)
    frames = torch.randn(1730, 16)
    n_windows = WindowGrid.for_config(CFG, 1.0).n_windows(1730 * CFG.hop_length)
    frame_logits, _ = _run(model, frames, n_windows)
    with torch.no_grad():
        whole = model.frame_logits(frames.unsqueeze(0))[0]
    assert frame_logits.shape == whole.shape
    torch.testing.assert_close(frame_logits, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_clip_scores_equal_the_windowed_ones_where_the_definitions_coincide(name):
    model = _model(name)
    one = torch.randn(500, 16)  # a signal of exactly one window
    _, windows = _run(model, one, 1)
    with torch.no_grad():
        torch.testing.assert_close(windows, model(one.unsqueeze(0)), rtol=0, atol=1e-5)
    long = torch.randn(1500, 16)
    _, windows = _run(model, long, 11)
    assert windows.shape == (11, 2)
    with torch.no_grad():
        windowed = torch.stack([model(long[None, 100 * k : 100 * k + 500])[0] for k in range(11)])
    if name.startswith("lstm"):  # the first window starts from a zero state in both
        torch.testing.assert_close(windows[0], windowed[0], rtol=0, atol=1e-5)
    # elsewhere they differ (carried state / convolution context), but only slightly
    assert (windows - windowed).abs().max() < 0.5


def test_a_hop_off_the_step_grid_is_refused():
    from raresound.errors import ConfigError

    with pytest.raises(ConfigError, match="steps"):
        OnePassScorer(_model("cnn"), WindowGrid.for_config(CFG, 0.02))
