"""CIFAR-10: 60,000 32x32 colour images in 10 classes (Krizhevsky, 2009).

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` exactly as
``keras.datasets.cifar10.load_data()`` does: uint8 images of shape
(50000, 32, 32, 3) and (10000, 32, 32, 3), uint8 labels of shape (N, 1).

Where the data comes from (first that exists wins):

1. the ``path`` argument;
2. the ``MINICNN_DATA`` environment variable (a file or a folder);
3. the copy carried in this repository, ``data/cifar10-jpg.tar.gz``;
4. the Keras cache, ``~/.keras/datasets/cifar-10-batches-py`` or ``cifar-10-python.tar.gz``;
5. a download of the official archive, verified by its MD5 checksum.

Any file named ``cifar-10-python.tar.gz`` (found or downloaded) must have the
official archive's MD5 checksum (``md5=``; ``md5=None`` skips the check) before
it is decoded. The pickled batches inside it (or in a ``cifar-10-batches-py``
folder) are read with an allow-list unpickler (see ``pickle_batches.py``), so a
crafted batch file is refused instead of running code.

Three formats are understood: the official pickle batches (``cifar-10-python.tar.gz``
or its extracted ``cifar-10-batches-py`` folder), a tarball of JPEG files laid
out as ``cifar10/{train,test}/<class>/*.jpg``, and a plain folder of that layout.
Decoded arrays are cached as ``.npz`` (written atomically), so a second load
takes a fraction of a second.
"""
from __future__ import annotations

from pathlib import Path

from ._sources import find_source, load_cached

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
OFFICIAL_ARCHIVE = "cifar-10-python.tar.gz"
REPO_COPY = Path(__file__).resolve().parents[2] / "data" / "cifar10-jpg.tar.gz"


def load_data(path=None, url=OFFICIAL_URL, md5=OFFICIAL_MD5, cache_dir=None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as NumPy uint8 arrays."""
    source = find_source(path, REPO_COPY, url=url, md5=md5, cache_dir=cache_dir,
                         archive_name=OFFICIAL_ARCHIVE, folder_name="cifar-10-batches-py")
    official = md5 if source.name == OFFICIAL_ARCHIVE else None
    return load_cached(source, CLASS_NAMES, cache_dir=cache_dir, md5=official)
