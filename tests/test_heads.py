import torch

from raresound.models.heads import DetectorHead


def test_head_is_one_linear_layer():
    head = DetectorHead(5, 3)
    x = torch.randn(4, 5)
    assert head(x).shape == (4, 3)
    assert torch.allclose(head(x), x @ head.linear.weight.t() + head.linear.bias)
    assert sum(p.numel() for p in head.parameters()) == 5 * 3 + 3
