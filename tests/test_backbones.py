import pytest
import torch

from raresound.errors import RaresoundError
from raresound.models.backbones import LSTMBackbone, PaperCNN, build_backbone


def test_lstm_shape_and_unit_norm():
    torch.manual_seed(0)
    net = LSTMBackbone()
    e = net(torch.randn(3, 50, 64))
    assert net.embedding_dim == 128 and e.shape == (3, 128)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)


def test_lstm_last_is_final_state_and_mean_pools_outputs():
    torch.manual_seed(0)
    x = torch.randn(2, 20, 64)
    last = LSTMBackbone(pooling="last", normalize=False)
    outputs, _ = last.lstm(x)
    assert torch.allclose(last(x), outputs[:, -1])
    mean = LSTMBackbone(pooling="mean", normalize=False)
    mean.load_state_dict(last.state_dict())
    assert torch.allclose(mean(x), outputs.mean(dim=1), atol=1e-6)
    assert not torch.allclose(mean(x), last(x))


def test_lstm_rejects_bad_pooling_and_band_count():
    with pytest.raises(ValueError, match="^pooling must be one of"):
        LSTMBackbone(pooling="attention")
    with pytest.raises(ValueError, match="^time_pool must be"):
        LSTMBackbone(time_pool=0)
    with pytest.raises(ValueError, match="64"):
        LSTMBackbone()(torch.randn(1, 10, 40))


def test_lstm_poolings_match_their_definitions():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 64)
    outs = {p: LSTMBackbone(pooling=p, normalize=False).eval() for p in ("max", "mean", "last")}
    for net in outs.values():  # the same weights for every pooling
        net.load_state_dict(outs["max"].state_dict())
    seq, (h_n, _) = outs["max"].lstm(x)
    with torch.no_grad():
        assert torch.allclose(outs["max"](x), seq.max(dim=1).values)
        assert torch.allclose(outs["mean"](x), seq.mean(dim=1))
        assert torch.allclose(outs["last"](x), h_n[-1])


def test_lstm_time_pool_averages_frames_before_the_lstm():
    torch.manual_seed(0)
    pooled, plain = LSTMBackbone(time_pool=4).eval(), LSTMBackbone().eval()
    plain.load_state_dict(pooled.state_dict())
    x = torch.randn(3, 10, 64)  # 10 frames: groups of 4, 4 and a trailing 2 (kept, averaged)
    averaged = torch.stack([x[:, 0:4].mean(1), x[:, 4:8].mean(1), x[:, 8:10].mean(1)], dim=1)
    with torch.no_grad():
        assert torch.allclose(pooled(x), plain(averaged), atol=1e-6)


def test_cnn_paper_shape_and_unit_norm():
    torch.manual_seed(0)
    net = PaperCNN().eval()
    assert net.embedding_dim == 512  # 64 x (1000/5/100) x (64/4/4)
    e = net(torch.randn(2, 1000, 64))
    assert e.shape == (2, 512)
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)


def test_cnn_other_configured_length():
    net = PaperCNN(n_frames=500).eval()
    assert net.embedding_dim == 64 * 1 * 4
    assert net(torch.randn(1, 500, 64)).shape == (1, 256)


def test_cnn_clear_errors_on_bad_lengths():
    with pytest.raises(ValueError, match="1000 frames"):
        PaperCNN()(torch.randn(1, 900, 64))
    with pytest.raises(ValueError, match="at least 500 frames"):
        PaperCNN(n_frames=499)
    with pytest.raises(ValueError, match="at least 16 mel"):
        PaperCNN(n_mels=8)


def test_cnn_channels_last_matches_default_layout():
    torch.manual_seed(0)
    plain = PaperCNN(n_frames=500).eval()
    fast = PaperCNN(n_frames=500, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(2, 500, 64)
    assert torch.allclose(plain(x), fast(x), atol=1e-5)


def test_build_backbone():
    assert isinstance(build_backbone("lstm", hidden_size=16), LSTMBackbone)
    assert build_backbone("cnn", n_frames=500).embedding_dim == 256
    with pytest.raises(ValueError, match="^backbone 'resnet' is unknown") as err:
        build_backbone("resnet")
    assert type(err.value).__module__ == "raresound.models.errors"  # a ValueError: models know no config fields
    assert not isinstance(err.value, RaresoundError)
