"""Ready-made architectures: the seed CIFAR-10 CNNs and pretrained backbones.

The backbones follow ``keras.applications`` layer for layer (same layer names,
same parameter counts), so Keras' HDF5 weight files load into them by name:
``MobileNet(alpha=0.25, include_top=False, weights="data/weights/mobilenet_1_0_25_224_tf_no_top.h5")``.
``weights`` is None (random initialisation) or a file path; nothing is downloaded.
Each module has the ``preprocess_input`` its weights expect.
"""
from . import mobilenet, mobilenet_v2, resnet_v2, squeezenet, vgg16, xception
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .resnet_v2 import ResNet50V2
from .seed_cnn import cifar10_cnn, tf_tutorial_cnn
from .squeezenet import SqueezeNet
from .vgg16 import VGG16
from .xception import Xception

__all__ = ["MobileNet", "MobileNetV2", "ResNet50V2", "SqueezeNet", "VGG16", "Xception", "cifar10_cnn",
           "mobilenet", "mobilenet_v2", "resnet_v2", "squeezenet", "tf_tutorial_cnn",
           "vgg16", "xception"]
