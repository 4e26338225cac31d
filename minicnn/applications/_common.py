"""What every pretrained-backbone builder shares: the input, the pooling
option, loading weight files, and Keras' ``preprocess_input`` modes."""
from __future__ import annotations

import os

import numpy as np

from .. import backend
from ..autograd import Tensor, math_ops
from ..models.weight_values import WeightsFileError, check_layout, checked_value
from ..models.weights_file import load_weights as load_keras3_weights
from ..models.weights_file import open_weights_file
from ..layers import GlobalAveragePooling2D, GlobalMaxPooling2D, Input, KerasTensor, Layer


def image_input(input_shape, input_tensor, default_size, min_size, name, include_top=True):
    """The model's Input: ``input_tensor`` if given, else (H, W, 3) with H, W >= ``min_size``.

    As in Keras, without ``input_shape`` a classifier (``include_top=True``) takes
    ``default_size`` square images and a feature extractor any size, (None, None, 3).
    """
    if input_tensor is not None:
        return input_tensor
    default = (default_size, default_size, 3) if include_top else (None, None, 3)
    shape = tuple(input_shape) if input_shape is not None else default
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, 3), got {shape}")
    if any(s is not None and s < min_size for s in shape[:2]):
        raise ValueError(f"{name}: input height and width must be at least {min_size}, got {shape}")
    return Input(shape)


def pool(x, pooling, name):
    """``pooling=None`` keeps the 4-D feature map; 'avg'/'max' reduce it to a vector."""
    if pooling is None:
        return x
    if pooling == "avg":
        return GlobalAveragePooling2D(name="avg_pool" if name else None)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name="max_pool" if name else None)(x)
    raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")


def check_weights(weights, name):
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(
            f"{name}: weights='imagenet' would need a download; pass the path of a Keras HDF5 weight file "
            "instead (this repository carries data/weights/mobilenet_1_0_25_224_tf_no_top.h5 and "
            "data/weights/squeezenet_v1.1_notop.h5)")
    if not os.path.exists(os.fspath(weights)):
        raise FileNotFoundError(f"{name}: weight file not found: {weights}")


def all_layers(model):
    """Every leaf layer of a model, descending into nested models."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "_graph") and layer is not model:
            out += all_layers(layer)
        out.append(layer)
    return out


def load_weight_file(model, path) -> None:
    """Load a Keras weight file into ``model``, matching layers by name.

    Two layouts exist. Keras 3's ``.weights.h5`` (``layers/<name>/vars/<i>``) goes
    to ``minicnn.models.weights_file``. The older Keras-2 / "legacy h5" layout, used by
    the published ImageNet files, has a root attribute ``layer_names`` and, per
    layer, a group whose attribute ``weight_names`` lists its arrays in the
    layer's ``get_weights()`` order (e.g. ``conv1_bn/gamma:0, beta:0,
    moving_mean:0, moving_variance:0``). Everything is checked before anything
    changes (``models/weight_values.py``: each array's type and shape before it
    is read, its values finite); a file that does not fit raises
    ``WeightsFileError`` naming it.
    """
    path = os.fspath(path)
    with open_weights_file(path) as f:
        legacy = "layer_names" in f.attrs
        if legacy:
            plan = _legacy_plan(model, f, path)
    if not legacy:
        load_keras3_weights(model, path)
        return
    for layer, values in plan:
        layer.set_weights(values)


def _legacy_plan(model, f, path):
    import h5py  # noqa: PLC0415

    by_name = {layer.name: layer for layer in all_layers(model) if not hasattr(layer, "_graph")}
    plan, used = [], set()
    for raw in f.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        group = f.get(name)
        if not isinstance(group, h5py.Group):
            raise WeightsFileError(f"load_weights: {path} lists layer '{name}' but holds no group for it. "
                                   "Nothing was changed.")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
        if not names:
            continue
        layer = by_name.get(name)
        if layer is None:
            raise WeightsFileError(f"load_weights: {path} has weights for layer '{name}', which model "
                                   f"'{model.name}' does not have. Nothing was changed.")
        if len(names) != len(layer.weights):
            raise WeightsFileError(f"load_weights: layer '{name}' has {len(layer.weights)} weights but {path} "
                                   f"holds {len(names)} ({names}). Nothing was changed.")
        where = f"load_weights: {path}, layer '{name}'"
        values = []
        for n, w in zip(names, layer.weights):
            dataset = group.get(n)
            if not isinstance(dataset, h5py.Dataset):
                raise WeightsFileError(f"{where}: weight '{n}' is listed but not stored. Nothing was changed.")
            check_layout(dataset.dtype, dataset.shape, w, f"{where} ('{n}')")  # before reading it
            values.append(checked_value(dataset[()], w, f"{where} ('{n}')"))
        plan.append((layer, values))
        used.add(name)
    missing = [n for n, layer in by_name.items() if layer.weights and n not in used]
    if missing:
        raise WeightsFileError(f"load_weights: {path} has no weights for layers {missing[:5]}"
                               f"{' ...' if len(missing) > 5 else ''} of model '{model.name}'. Nothing was changed.")
    return plan


MEANS = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485, 0.456, 0.406)}
TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x, mode):
    """Keras' ``imagenet_utils.preprocess_input`` for RGB images in 0..255.

    - 'tf': scale to [-1, 1] (MobileNet, MobileNetV2, ResNetV2, Xception);
    - 'caffe': RGB -> BGR, then subtract the ImageNet channel means (VGG16, SqueezeNet);
    - 'torch': scale to [0, 1], subtract mean and divide by std per channel.

    Arrays give a new float32 array (float64 stays float64). A symbolic tensor
    (``x = preprocess_input(inputs)`` inside a functional model, as the Keras
    transfer-learning tutorial writes it) or a Tensor goes through a layer.
    """
    if mode not in ("tf", "caffe", "torch"):
        raise ValueError(f"preprocess_input: mode must be 'tf', 'caffe' or 'torch', got {mode!r}")
    if isinstance(x, (KerasTensor, Tensor)):
        return Preprocess(mode)(x)
    x = np.asarray(x)
    return _apply(x.astype(x.dtype if x.dtype == np.float64 else np.float32), mode, np)


def _apply(x, mode, xp):
    """The arithmetic, on arrays (xp=np) or Tensors (xp=None: operators only)."""
    def const(values):
        return np.asarray(values, dtype=x.dtype) if xp is np else Tensor(
            backend.to_device(np.asarray(values), dtype=x.dtype))

    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "caffe":
        x = x[..., ::-1] if xp is np else math_ops.getitem(x, (Ellipsis, slice(None, None, -1)))
        return x - const(MEANS["caffe"])
    return (x / 255.0 - const(MEANS["torch"])) / const(TORCH_STD)


class Preprocess(Layer):
    """``preprocess_input`` as a layer (no weights), for use inside a model."""

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        return _apply(inputs, self.mode, None)

    def compute_output_shape(self, input_shape):
        return input_shape


def finish(model, weights):
    """Load ``weights`` (a path) into a freshly built model and return it."""
    if weights is not None:
        load_weight_file(model, weights)
    return model





def correct_pad(shape, kernel_size=3):
    """Keras' ``imagenet_utils.correct_pad``: the ZeroPadding2D before a stride-2
    'valid' conv that makes it sample like 'same' padding on even-sized inputs."""
    adjust = (1, 1) if shape[1] is None else (1 - shape[1] % 2, 1 - shape[2] % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))
