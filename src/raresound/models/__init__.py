"""Models: embedding backbones, the cluster layer, the detection head and the Detector wrapper."""

from raresound.models.backbones import LSTMBackbone, PaperCNN, build_backbone
from raresound.models.cluster_layer import ClusterLayer
from raresound.models.detector import Detector, DetectorOutput
from raresound.models.heads import DetectorHead

__all__ = ["LSTMBackbone", "PaperCNN", "build_backbone", "ClusterLayer", "Detector",
           "DetectorOutput", "DetectorHead"]
