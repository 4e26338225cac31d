"""Ready-made architectures: the seed CIFAR-10 CNNs (and, later, pretrained backbones)."""
from .seed_cnn import cifar10_cnn, tf_tutorial_cnn

__all__ = ["cifar10_cnn", "tf_tutorial_cnn"]
