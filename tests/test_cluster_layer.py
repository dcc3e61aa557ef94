import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from raresound.models.cluster_layer import ClusterLayer


def _centroids(K, dim, seed=0):
    return F.normalize(torch.randn(K, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_scaled_mode_gives_alpha_times_cosine():
    layer = ClusterLayer(8, 3)
    c = _centroids(3, 8)
    layer.init_from_centroids(c, torch.tensor([0, 0, 1]), alpha=10.0)
    assert torch.allclose(layer.W.norm(dim=0), torch.full((3,), 10.0))
    e = F.normalize(torch.randn(5, 8), dim=1)
    assert torch.allclose(layer(e), 10.0 * e @ c.t(), atol=1e-5)
    assert layer.cluster_class.tolist() == [0, 0, 1]


def test_fixed_mode_renormalises_columns():
    layer = ClusterLayer(8, 3, mode="fixed", alpha=4.0)
    c = _centroids(3, 8)
    layer.init_from_centroids(c, torch.tensor([0, 1, 2]))
    with torch.no_grad():
        layer.W.mul_(7.0)  # column norms drift during training; forward must ignore them
    e = F.normalize(torch.randn(5, 8), dim=1)
    assert torch.allclose(layer(e), 4.0 * e @ c.t(), atol=1e-5)


def test_init_keeps_parameter_when_K_same_and_recreates_when_K_changes():
    layer = ClusterLayer(8, 3)
    before = layer.W
    layer.init_from_centroids(_centroids(3, 8), torch.tensor([0, 1, 1]))
    assert layer.W is before
    layer.init_from_centroids(_centroids(5, 8), torch.tensor([0, 0, 1, 1, 2]))
    assert layer.K == 5 and layer.W is not before and layer.W.requires_grad
    with pytest.raises(ValueError, match="cluster_class"):
        layer.init_from_centroids(_centroids(5, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError):
        layer.init_from_centroids(_centroids(5, 7), torch.tensor([0, 0, 1, 1, 2]))


def test_safetensors_round_trip_recovers_K(tmp_path):
    layer = ClusterLayer(8, 6, alpha=12.0)
    layer.init_from_centroids(_centroids(6, 8), torch.tensor([0, 0, 0, 1, 2, 2]))
    save_file(layer.state_dict(), tmp_path / "layer.safetensors")
    state = load_file(tmp_path / "layer.safetensors")
    rebuilt = ClusterLayer.from_state_dict(state)
    assert rebuilt.K == 6 and float(rebuilt.alpha) == 12.0
    assert torch.equal(rebuilt.cluster_class, layer.cluster_class)
    # loading into a layer of another size adopts the stored K
    other = ClusterLayer(8, 2)
    other.load_state_dict(state)
    e = F.normalize(torch.randn(3, 8), dim=1)
    assert torch.allclose(other(e), layer(e))


def test_bad_mode():
    with pytest.raises(ValueError, match="^mode must be one of"):
        ClusterLayer(4, 2, mode="cosine")
