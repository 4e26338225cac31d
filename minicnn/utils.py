"""Small helpers with Keras' names (``mc.utils.set_random_seed`` ...)."""
from __future__ import annotations

import numpy as np

from . import random as _random
from .models.registry import register_keras_serializable  # noqa: F401 - Keras' keras.utils spelling


def set_random_seed(seed: int) -> None:
    """Make weight initialisation, dropout and shuffling repeatable."""
    _random.set_seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels -> one-hot rows (labels of shape (N,) or (N, 1))."""
    y = np.asarray(y, dtype="int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got {y.min()}..{y.max()}")
    return np.eye(num_classes, dtype=dtype)[y]


IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_COLOR_CHANNELS = {"rgb": ("RGB", 3), "grayscale": ("L", 1), "rgba": ("RGBA", 4)}


def load_image_array(path, target_size=None, color_mode="rgb", interpolation="bilinear",
                     shrink_large=False) -> np.ndarray:
    """An image file as float32 (height, width, channels) in 0..255, optionally
    resized to ``target_size`` = (height, width) the way Keras resizes.

    With ``shrink_large``, an image more than four times the target's size is
    made smaller while it is still 8-bit, before it becomes float32 and is
    resized: a JPEG is decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``),
    then any image is box-averaged (``reduce``) down to about twice the target.
    An 8000x8000 photo then never exists as a full-size float array (768 MB);
    the pixels differ slightly from Keras' full-size resize, which is why it is
    not the default.
    """
    from PIL import Image  # noqa: PLC0415

    from .layers.preprocessing import resize_matrix  # noqa: PLC0415

    mode, _ = _COLOR_CHANNELS[color_mode]
    with Image.open(path) as im:
        if shrink_large and target_size is not None:
            im.draft(mode, (2 * target_size[1], 2 * target_size[0]))  # JPEG only; keeps >= the size asked for
        small = im.convert(mode)
    if shrink_large and target_size is not None:
        factor = min(small.width // (2 * target_size[1]), small.height // (2 * target_size[0]))
        small = small.reduce(factor) if factor >= 2 else small
    image = np.asarray(small, dtype=np.float32)
    image = image.reshape(image.shape[0], image.shape[1], -1)
    if target_size is not None and image.shape[:2] != tuple(target_size):
        h, w = target_size
        rh = resize_matrix(image.shape[0], h, interpolation).astype(np.float32)
        rw = resize_matrix(image.shape[1], w, interpolation).astype(np.float32)
        image = np.einsum("ih,hwc,jw->ijc", rh, image, rw, optimize=True)  # two BLAS products, not a 4-deep loop
    return image


class ImageFolderDataset:
    """Batches ``(images, labels)`` read from image files on demand.

    Iterate it for one epoch of batches (float32 images in 0..255, resized to
    ``image_size``); ``len()`` is the number of batches. ``fit``, ``evaluate``
    and ``predict`` take it directly. With ``shuffle`` the order changes every
    epoch, drawn from minicnn's generator (``set_random_seed`` repeats it).
    With ``label_mode=None`` each batch is a 1-tuple ``(images,)``.
    """

    def __init__(self, file_paths, labels, class_names, image_size, batch_size, label_mode,
                 color_mode="rgb", interpolation="bilinear", shuffle=False):
        self.file_paths, self.labels = list(file_paths), np.asarray(labels, dtype=np.int32)
        self.class_names = list(class_names)
        self.image_size, self.batch_size = tuple(image_size), int(batch_size)
        self.label_mode, self.color_mode = label_mode, color_mode
        self.interpolation, self.shuffle = interpolation, shuffle

    def __len__(self) -> int:
        return -(-len(self.file_paths) // self.batch_size)

    def load_image(self, path) -> np.ndarray:
        return load_image_array(path, self.image_size, self.color_mode, self.interpolation)

    def _labels_for(self, index):
        y = self.labels[index]
        if self.label_mode == "categorical":
            return to_categorical(y, len(self.class_names))
        if self.label_mode == "binary":
            return y.astype(np.float32).reshape(-1, 1)
        return y

    def __iter__(self):
        n = len(self.file_paths)
        order = _random.generator().permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            images = np.stack([self.load_image(self.file_paths[i]) for i in index])
            yield (images,) if self.label_mode is None else (images, self._labels_for(index))


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True,
                                 seed=None, validation_split=None, subset=None, interpolation="bilinear"):
    """Keras' ``image_dataset_from_directory``: one sub-folder per class.

    ``directory/cat/*.jpg, directory/dog/*.jpg`` gives labels 0 (cat) and 1
    (dog), in alphabetical order unless ``class_names`` fixes it. With
    ``validation_split=0.2`` and ``subset='training'`` / ``'validation'`` /
    ``'both'``, the files are shuffled with ``seed`` and the last 20 % become
    the validation set, the same files for the same seed, as in Keras.
    """
    import os  # noqa: PLC0415

    root = os.fspath(directory)
    if labels != "inferred":
        raise ValueError("image_dataset_from_directory: only labels='inferred' (one folder per class) is supported")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"label_mode must be 'int', 'categorical', 'binary' or None, got {label_mode!r}")
    if color_mode not in _COLOR_CHANNELS:
        raise ValueError(f"color_mode must be one of {sorted(_COLOR_CHANNELS)}, got {color_mode!r}")
    if not os.path.isdir(root):
        raise ValueError(f"image_dataset_from_directory: {root} is not a directory")
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    names = list(class_names) if class_names is not None else found
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(f"class_names {missing} have no folder in {root} (folders: {found})")
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, found {len(names)}: {names}")
    paths, targets = [], []
    for label, name in enumerate(names):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, name))):
            for f in sorted(files):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(dirpath, f))
                    targets.append(label)
    if not paths:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f"subset must be 'training', 'validation', 'both' or None, got {subset!r}")
    if bool(validation_split) != (subset is not None):
        raise ValueError("validation_split and subset go together: give both or neither")
    if validation_split and shuffle and seed is None:
        raise ValueError("With validation_split and shuffle=True, give a seed so the two subsets do not overlap")
    if shuffle:
        order = np.random.RandomState(seed if seed is not None else None).permutation(len(paths))
        paths, targets = [paths[i] for i in order], [targets[i] for i in order]

    def make(ps, ts, shuffled):
        return ImageFolderDataset(ps, ts, names, image_size, batch_size, label_mode, color_mode,
                                  interpolation, shuffle=shuffled)

    if not validation_split:
        return make(paths, targets, shuffle)
    n_val = int(validation_split * len(paths))
    if n_val == 0 or n_val == len(paths):
        raise ValueError(f"validation_split={validation_split} leaves an empty subset of {len(paths)} images")
    training = make(paths[:-n_val], targets[:-n_val], shuffle)
    validation = make(paths[-n_val:], targets[-n_val:], False)
    print(f"Found {len(paths)} files belonging to {len(names)} classes: {len(paths) - n_val} for training, "
          f"{n_val} for validation.")
    return {"training": training, "validation": validation, "both": (training, validation)}[subset]


def extract_features(base, data, batch_size=32, verbose=0):
    """Run a frozen backbone once over ``data`` and return its outputs, to cache.

    Training a new head on a frozen backbone by ``fit``-ting the whole model
    recomputes the same backbone outputs every epoch, and the backbone is nearly
    all of the cost. Computing them once (here, in inference mode, so BatchNorm
    uses its moving statistics and Dropout is off) and then fitting only the
    head on these arrays gives the same head at a fraction of the time::

        features = mc.utils.extract_features(base, x_train, batch_size=128)
        head.fit(features, y_train, epochs=20)

    ``data`` is an array (returns the feature array) or a dataset of
    ``(images, labels)`` batches such as ``image_dataset_from_directory``'s
    (returns ``(features, labels)``; shuffle off, or the order is random). The
    outputs are NumPy float32 arrays whatever device computed them.
    """
    import time  # noqa: PLC0415

    start = time.perf_counter()
    if isinstance(data, np.ndarray) or not hasattr(data, "__iter__") or isinstance(data, (list, tuple)):
        features = np.asarray(base.predict(np.asarray(data), batch_size=batch_size), dtype=np.float32)
        labels = None
    else:
        chunks, label_chunks = [], []
        for batch in data:
            chunks.append(np.asarray(base.predict(batch[0], batch_size=batch_size), dtype=np.float32))
            if len(batch) > 1:
                label_chunks.append(np.asarray(batch[1]))
        features = np.concatenate(chunks)
        labels = np.concatenate(label_chunks) if label_chunks else None
    if verbose:
        seconds = time.perf_counter() - start
        print(f"extract_features: {len(features)} samples -> {features.shape[1:]} in {seconds:.1f} s "
              f"({1000 * seconds / max(len(features), 1):.2f} ms/sample)")
    return features if labels is None else (features, labels)


class PyDataset:
    """Batches computed on demand, as Keras' ``PyDataset``: subclass it, define
    ``__len__`` (batches per epoch) and ``__getitem__(index)`` (batch ``index`` as
    ``(x, y)`` or ``(x,)``), optionally ``on_epoch_end()``, and pass an instance to
    ``fit``/``evaluate``/``predict``.

    ``workers`` > 1 loads that many batches at once in threads, at most
    ``max_queue_size`` ahead of training (``models/data.py::IndexedBatches``);
    threads suit batches that read files or decode images (the GIL is released
    there). Processes (``use_multiprocessing=True``) are not supported.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if use_multiprocessing:
            raise ValueError("PyDataset: use_multiprocessing=True is not supported; workers run as threads")
        if not isinstance(workers, int) or workers < 1 or not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"PyDataset: workers and max_queue_size must be positive integers, "
                             f"got {workers!r} and {max_queue_size!r}")
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ (batch number index)")

    def on_epoch_end(self) -> None:
        """Called after each pass over the batches (shuffle here if you like)."""
