import pytest
import torch
import torch.nn.functional as F

from raresound.models import ClusterLayer, Detector, LSTMBackbone


def _detector(head_input=None, K=5, n_classes=3):
    torch.manual_seed(0)
    layer = None if K is None else ClusterLayer(16, K)
    return Detector(LSTMBackbone(n_mels=8, hidden_size=16), n_classes, cluster_layer=layer,
                    head_input=head_input)


def test_plain_detector_uses_embedding():
    det = _detector(K=None)
    assert det.head_input == "e" and det.head_in_dim == 16
    x = torch.randn(4, 10, 8)
    assert det(x).shape == (4, 3)
    assert torch.allclose(det(x), det.head(det.embed(x)))


@pytest.mark.parametrize("head_input,in_dim", [("v", 5), ("z", 5), ("h", 5), ("e", 16)])
def test_head_input_sets_in_dim(head_input, in_dim):
    det = _detector(head_input)
    assert det.head.in_dim == in_dim
    assert det(torch.randn(2, 10, 8)).shape == (2, 3)


def test_head_input_values():
    x = torch.randn(2, 10, 8)
    v = _detector("v")
    h = v.cluster_logits(x)
    assert torch.allclose(v(x), v.head(F.softmax(h, dim=1)))
    z = _detector("z")
    assert torch.allclose(z(x), z.head(z.cluster_logits(x)))
    assert _detector(K=4).head_input == "v"  # paper default with a cluster layer


def test_headless_for_embedding_training_then_attach():
    det = Detector(LSTMBackbone(n_mels=8, hidden_size=16), cluster_layer=ClusterLayer(16, 2))
    assert not det.has_head
    out = det.outputs(torch.randn(2, 10, 8))
    assert out.e.shape == (2, 16) and out.h.shape == (2, 2) and out.logits is None
    with pytest.raises(ValueError, match="attach_head"):
        det(torch.randn(2, 10, 8))
    det.cluster_layer.init_from_centroids(F.normalize(torch.randn(7, 16), dim=1), torch.arange(7))
    det.attach_head(3)
    assert det.head.in_dim == 7 and det(torch.randn(2, 10, 8)).shape == (2, 3)


def test_state_dict_with_other_K_loads():
    src = _detector("v", K=7)
    dst = _detector("v", K=2)
    dst.load_state_dict(src.state_dict())
    x = torch.randn(2, 10, 8)
    assert torch.allclose(dst(x), src(x))


def test_bad_head_input():
    with pytest.raises(ValueError, match="needs a cluster layer"):
        _detector("v", K=None)
    with pytest.raises(ValueError, match="head_input"):
        _detector("q")


def test_positional_cluster_layer_is_rejected_clearly():
    with pytest.raises(TypeError, match="by keyword"):
        Detector(LSTMBackbone(n_mels=8, hidden_size=16), ClusterLayer(16, 2))
