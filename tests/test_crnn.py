"""CRNN backbone: shapes, the clip view, and one-pass chunking equal to one pass over the signal."""

from __future__ import annotations

import pytest
import torch

from raresound.detection.onepass import CRNNSteps
from raresound.models.crnn import CRNN
from raresound.models.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(**kw) -> CRNN:
    torch.manual_seed(0)
    m = CRNN(n_mels=16, channels=(4, 8), time_pools=(2, 2), freq_pools=(4, 4), hidden_size=6, **kw).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode is not the identity
        for bn in (b for b in m.conv if isinstance(b, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return m


def test_shapes_step_and_clip_view():
    m = _model()
    x = torch.randn(3, 100, 16)
    steps, _ = m.sequence(x)
    assert m.step_frames == 4 and steps.shape == (3, 25, 12) and m.embedding_dim == 12
    torch.testing.assert_close(m(x), steps.amax(dim=1))
    assert _model(bidirectional=False).embedding_dim == 6


def test_lookahead_bound_is_the_receptive_field():
    m = _model()
    x = torch.randn(1, 80, 16)
    base = m.conv_steps(x)[0]
    # changing frames beyond the bound never changes step 10 (frames 40..43); changing one within it does
    reach = m.lookahead_frames
    far = x.clone()
    far[:, 44 + reach:] += 5.0
    far[:, : 40 - reach] -= 5.0
    torch.testing.assert_close(m.conv_steps(far)[0][10], base[10])
    near = x.clone()
    near[:, 44] += 5.0
    assert not torch.allclose(m.conv_steps(near)[0][10], base[10])


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 33])
def test_chunked_one_pass_equals_one_pass_over_the_signal(bidirectional, chunk):
    m = _model(bidirectional=bidirectional)
    x = torch.randn(203, 16)
    whole = m.sequence(x[: 200].unsqueeze(0))[0][0]  # 50 whole steps
    runner = CRNNSteps(m)
    parts = []
    with torch.inference_mode():
        for a in range(0, 200, chunk):
            out = runner.push(x[a : min(a + chunk, 200)])
            if out is not None:
                parts.append(out)
        if not bidirectional:
            assert sum(p.shape[0] for p in parts) > 0  # the causal GRU streams
        else:
            assert not parts  # the bidirectional one waits for the end
        out = runner.finish()
        if out is not None:
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts), whole, atol=1e-5, rtol=0)
    assert runner.LOOKAHEAD_STEPS == (float("inf") if bidirectional else -(-m.lookahead_frames // 4) + 1)


def test_bad_parameters_name_the_field():
    with pytest.raises(ParameterError, match="freq_pools"):
        CRNN(n_mels=16, freq_pools=(4, 4, 4))
    with pytest.raises(ParameterError, match="channels"):
        CRNN(channels=(8, 8), time_pools=(2,), freq_pools=(4,))
    with pytest.raises(ParameterError, match="n_mels"):
        CRNN(n_mels=16, freq_pools=(4, 4, 1))(torch.randn(1, 40, 64))
