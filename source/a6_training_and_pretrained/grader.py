"""Hidden checks of assignment 6, judged by the grader (instructor only: never released, never in a kernel).

Models, data and photos are made the same way in both kernels from seeds the grader draws (the check's own
code below); what comes back is batches, losses, parameters, predictions and pixels, compared with the reference
kernel's. "Without gradients" is read from the submitted source (``torch.no_grad``, ``inference_mode``); the
settings are judged by training the reference network with them in the reference kernel.
"""

import numpy as np

from dlcourse.judge import TensorData, Trial, check

LOADER = """
def epoch(loader):
    xs, ys = [], []
    for xb, yb in loader:
        xs.append(xb)
        ys.append(yb)
    return [xs, ys]


shuffled = make_loader(x.copy(), y.copy(), batch, shuffle=True, seed=11)
again = make_loader(x.copy(), y.copy(), batch, shuffle=True, seed=11)
result = {"plain": epoch(make_loader(x.copy(), y.copy(), batch)),
          "first": [epoch(shuffled), epoch(shuffled)], "again": [epoch(again), epoch(again)],
          "other": epoch(make_loader(x.copy(), y.copy(), batch, shuffle=True, seed=12))}
"""


def _batches(t: Trial, label: str, got, d: int) -> tuple[np.ndarray, list[int], list[int]]:
    """(features, labels, batch sizes) of one epoch, after checking each batch's type, dtype and shape."""
    xs, ys = got
    features, labels, sizes = [], [], []
    for xb, yb in zip(xs, ys, strict=True):
        t.expect(type(xb) is TensorData and xb.array.dtype == np.float32,
                 f"{label}: feature batches must be float32 tensors")
        t.expect(type(yb) is TensorData and yb.array.dtype == np.int64, f"{label}: label batches must be int64 tensors")
        t.expect(xb.shape == (len(yb.array), d), f"{label}: a feature batch has shape {xb.shape} for "
                 f"{len(yb.array)} labels")
        features.append(xb.array)
        labels += yb.array.tolist()
        sizes.append(len(yb.array))
    return (np.concatenate(features) if features else np.zeros((0, d))), labels, sizes


@check
def make_loader(t: Trial) -> None:
    """make_loader"""
    cases = [(np.arange(20.0).reshape(10, 2), 4)]
    cases += [(t.rng.standard_normal((n, d)), batch) for n, d, batch in [(23, 5, 6), (17, 1, 17), (31, 3, 8)]]
    for x, batch in cases:
        n, d = x.shape
        y = np.arange(n)  # label = sample index, to check that features and labels stay paired
        label = f"{n} samples in batches of {batch}"
        got = t.student.run(LOADER, "make_loader", x=x, y=y, batch=batch)
        features, labels, sizes = _batches(t, label, got["plain"], d)
        want = [batch] * (n // batch) + ([n % batch] if n % batch else [])
        t.expect(sizes == want, f"{label}: batch sizes {sizes}, expected {want}")
        t.close(f"the unshuffled features of {label}", features, x.astype(np.float32), rtol=1e-6, atol=1e-7)
        t.expect(labels == list(range(n)), f"{label}: unshuffled labels are not in order")
        orders = {}
        for name in ("first", "again"):
            orders[name] = []
            for epoch in got[name]:
                features, labels, _ = _batches(t, label, epoch, d)
                t.expect(sorted(labels) == list(range(n)), "a shuffled epoch must visit every sample exactly once")
                t.close(f"shuffled features next to their labels ({label})", features,
                        x[labels].astype(np.float32), rtol=1e-6, atol=1e-7)
                orders[name].append(labels)
        other = _batches(t, label, got["other"], d)[1]
        first = orders["first"]
        t.expect(first == orders["again"], "two shuffled loaders with the same seed give different orders")
        t.expect(first[0] != first[1], "a shuffled loader must visit the samples in a new order in every epoch")
        t.expect(first[0] != other, "loaders with different seeds give the same order")
        t.expect(first[0] != list(range(n)), "shuffle=True did not shuffle")


TRAIN_TWO_EPOCHS = """
torch.manual_seed(init_seed)
model = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Dropout(p), nn.Linear(8, c))
model.eval()  # left in evaluation mode: train_one_epoch must switch to training mode itself
if kind == "adam":
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
else:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9 if kind == "momentum" else 0.0)
losses, params = [], []
for epoch in (1, 2):
    loader = DataLoader(TensorDataset(x, y), batch_size=batch)
    torch.manual_seed(epoch_seed + epoch)
    losses.append(train_one_epoch(model, loader, optimizer, nn.CrossEntropyLoss()))
    params.append([[name, p.detach().clone()] for name, p in model.named_parameters()])
result = {"losses": losses, "params": params}
"""


@check
def train_one_epoch(t: Trial) -> None:
    """train_one_epoch"""
    cases = [(10, 6, 3, 4, 0.0, "sgd"), (13, 5, 4, 5, 0.4, "sgd"), (9, 7, 3, 2, 0.3, "momentum"),
             (11, 4, 5, 11, 0.0, "adam"), (14, 3, 2, 3, 0.5, "momentum")]
    for n, d, c, batch, p, kind in cases:
        inputs = {"x": TensorData(t.rng.standard_normal((n, d)).astype(np.float32), False),
                  "y": TensorData(t.rng.integers(0, c, size=n), False), "d": d, "c": c, "p": p, "kind": kind,
                  "batch": batch, "init_seed": int(t.rng.integers(2**31)), "epoch_seed": int(t.rng.integers(2**31))}
        label = f"{n} samples in batches of {batch}, {'dropout ' + str(p) if p else 'no dropout'}, {kind} optimiser"
        got = t.student.run(TRAIN_TWO_EPOCHS, "train_one_epoch", **inputs)
        want = t.reference.run(TRAIN_TWO_EPOCHS, "train_one_epoch", **inputs)
        for epoch in (0, 1):
            t.close(f"mean training loss returned for epoch {epoch + 1} ({label})",
                    t.number("the mean training loss", got["losses"][epoch]), want["losses"][epoch],
                    rtol=1e-5, atol=1e-6)
            for (name, param), (_, expected) in zip(got["params"][epoch], want["params"][epoch], strict=True):
                t.close(f"parameter {name} after epoch {epoch + 1} ({label})", param, expected, rtol=1e-5, atol=1e-6)


def _without_gradients(t: Trial, function: str) -> None:
    t.expect(bool(t.names_used(function) & {"no_grad", "inference_mode"}),
             f"{function} runs the model with gradient recording on: use torch.no_grad()")


EVALUATE = """
if constant:
    class ConstantModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = nn.Parameter(torch.tensor([0.0, float(np.log(3.0))]))

        def forward(self, x):
            return self.logits.expand(len(x), 2)

    model, data = ConstantModel(), TensorDataset(torch.zeros(4, 1), torch.tensor([1, 1, 0, 1]))
else:
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, c))
    data = TensorDataset(x, y)
model.train()  # left in training mode: evaluate must switch to evaluation mode itself
result = list(evaluate(model, DataLoader(data, batch_size=batch), nn.CrossEntropyLoss()))
"""


@check
def evaluate(t: Trial) -> None:
    """evaluate"""
    cases = [("the notebook's example", {"constant": True, "batch": 3})]
    for n, d, c, batch, p in [(17, 5, 4, 5, 0.5), (23, 3, 3, 4, 0.0), (12, 6, 6, 12, 0.3), (40, 4, 3, 7, 0.6)]:
        cases.append((f"{n} samples in batches of {batch}, {'dropout ' + str(p) if p else 'no dropout'}",
                      {"constant": False, "x": TensorData(t.rng.standard_normal((n, d)).astype(np.float32), False),
                       "y": TensorData(t.rng.integers(0, c, size=n), False), "d": d, "c": c, "p": p,
                       "batch": batch, "init_seed": int(t.rng.integers(2**31))}))
    for label, inputs in cases:
        got = t.student.run(EVALUATE, "evaluate", **inputs)
        t.expect(len(got) == 2, "evaluate must return (mean_loss, accuracy)")
        want = t.reference.run(EVALUATE, "evaluate", **inputs)
        t.close(f"mean loss ({label})", t.number("the mean loss", got[0]), want[0], rtol=1e-5, atol=1e-6)
        t.close(f"accuracy ({label})", t.number("the accuracy", got[1]), want[1], rtol=0, atol=1e-6)
    _without_gradients(t, "evaluate")


# the notebook's own split: its first 4,000 training and 1,000 validation images, what grading mode keeps
SETTINGS_RUN = """
xtr = torch.tensor(x_train[:4000], dtype=torch.float32)
ytr = torch.tensor(y_train[:4000], dtype=torch.int64)
xva = torch.tensor(x_val[:1000], dtype=torch.float32)
yva = torch.tensor(y_val[:1000], dtype=torch.int64)
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                    nn.Linear(64, 10))
optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
loader = DataLoader(TensorDataset(xtr, ytr), batch_size=batch_size, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
for epoch in range(3):
    for xb, yb in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(xb), yb).backward()
        optimizer.step()
with torch.no_grad():
    result = [float((net(xva).argmax(dim=1) == yva).float().mean()), FASHION]
"""


@check
def settings(t: Trial) -> None:
    """the training settings"""
    got = t.student.value("settings")
    t.expect(type(got) is dict and set(got) == {"lr", "momentum", "batch_size", "epochs"},
             "settings needs lr, momentum, batch_size, epochs")
    lr, momentum = t.number("lr", got["lr"]), t.number("momentum", got["momentum"])
    batch_size, epochs = t.number("batch_size", got["batch_size"]), t.number("epochs", got["epochs"])
    t.expect(lr > 0, "the learning rate must be positive")
    t.expect(0 <= momentum < 1, "the momentum must be in [0, 1)")
    t.expect(batch_size.is_integer() and batch_size >= 1, "the batch size must be a positive whole number")
    t.expect(epochs.is_integer() and 1 <= epochs <= 30, "1 to 30 epochs")
    accuracy, fashion = t.reference.run(SETTINGS_RUN, "your settings", about_student=True, lr=lr, momentum=momentum,
                                        batch_size=int(batch_size))
    threshold = 0.72 if fashion else 0.85
    t.expect(accuracy >= threshold, f"with these settings a reference deep MLP reaches {accuracy:.1%} validation "
             f"accuracy after 3 epochs, expected at least {threshold:.0%}")


# Every parameter gets values drawn from its shape and the seed, so that the same architecture computes the same
# function in both kernels whatever order its layers were registered in (their shapes are all different).
DEEP_MLP = """
first, second = deep_mlp(), deep_mlp()
shared = any(a is b for a, b in zip(first.parameters(), second.parameters()))
shapes = sorted(list(p.shape) for p in first.parameters())
with torch.no_grad():
    for p in first.parameters():
        generator = torch.Generator().manual_seed(seed + 7919 * sum(p.shape) + len(p.shape))
        p.copy_(torch.randn(p.shape, generator=generator) / max(1, p.shape[-1]) ** 0.5)
    first.eval()
    logits = first(x)
result = {"distinct": first is not second and not shared, "shapes": shapes, "logits": logits}
"""


@check
def deep_mlp(t: Trial) -> None:
    """deep_mlp"""
    for n in (7, 1):
        inputs = {"seed": int(t.rng.integers(2**31)),
                  "x": TensorData(t.rng.normal(0.3, 0.5, size=(n, 784)).astype(np.float32), False)}
        got = t.student.run(DEEP_MLP, "deep_mlp", **inputs)
        want = t.reference.run(DEEP_MLP, "deep_mlp", **inputs)
        t.expect(got["distinct"] is True, "deep_mlp must build a new model with its own parameters on every call")
        t.expect(got["shapes"] == want["shapes"], "the weights and biases of deep_mlp do not have the shapes of "
                 "linear layers 784-256-128-64-10")
        t.expect(type(got["logits"]) is TensorData and got["logits"].shape == (n, 10),
                 f"deep_mlp maps {n} images to logits of shape {getattr(got['logits'], 'shape', None)}, "
                 f"expected ({n}, 10)")
        t.close(f"the logits of deep_mlp for {n} images (with the same weights as the reference: where do the "
                "ReLUs go?)", got["logits"], want["logits"], rtol=1e-4, atol=1e-5)


PHOTOS = """
import tempfile
from pathlib import Path as _Path


def smooth_photo(rng, height, width, channels):
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    planes = []
    for _ in range(channels):
        fx, fy = rng.uniform(1, 4, size=2)
        px, py = rng.uniform(0, 6, size=2)
        planes.append(0.5 + 0.25 * np.sin(2 * np.pi * fx * xx + px) + 0.25 * np.cos(2 * np.pi * fy * yy + py))
    array = (np.stack(planes, axis=-1) * 255).round().astype(np.uint8)
    return array[..., 0] if channels == 1 else array


def write_photos(folder, rng, specs):
    for name, height, width, mode in specs:
        channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        path = _Path(folder) / name
        Image.fromarray(smooth_photo(rng, height, width, channels), mode).save(
            path, format={"jpg": "JPEG", "jpeg": "JPEG"}.get(path.suffix.lower()[1:], path.suffix[1:].upper()))


rng = np.random.default_rng(seed)
folder = tempfile.mkdtemp()
write_photos(folder, rng, specs)
"""
DATASET = PHOTOS + """
(_Path(folder) / "notes.txt").write_text("not a photo")
(_Path(folder) / "z_data.npy").write_bytes(b"\\x93NUMPY")
dataset = MyImages(folder, transform=lambda image: [image.mode, list(image.size), int(np.asarray(image).sum())])
doubled = MyImages(folder, transform=lambda image: torch.full((2,), float(image.size[0])))
result = {"length": len(dataset), "names": [_Path(p).name for p in dataset.paths],
          "items": [dataset[i] for i in range(len(dataset))],
          "batch": list(next(iter(torch.utils.data.DataLoader(doubled, batch_size=3))).shape)}
"""
TRANSFORMED = PHOTOS + """
paths = sorted(_Path(folder).iterdir())
result = [imagenet_transform(Image.open(path).convert("RGB")) for path in paths] if not default else \\
    [MyImages(folder)[i] for i in range(len(paths))]
"""


def _specs(t: Trial, specs: list) -> tuple[int, list]:
    return int(t.rng.integers(2**31)), specs


@check
def my_images_dataset(t: Trial) -> None:
    """MyImages"""
    seed, specs = _specs(t, [["b_wide.jpg", 120, 170, "RGB"], ["a_grey.png", 90, 60, "L"],
                             ["d_alpha.png", 64, 64, "RGBA"], ["c_upper.PNG", 50, 80, "RGB"],
                             ["e_photo.jpeg", 70, 75, "RGB"]])
    got = t.student.run(DATASET, "MyImages", seed=seed, specs=specs)
    want = t.reference.run(DATASET, "MyImages", seed=seed, specs=specs)
    t.expect(got["length"] == want["length"], f"a folder with {want['length']} photos (.jpg, .jpeg, .png, .PNG) "
             f"and 2 other files gives len {got['length']}")
    t.expect(got["names"] == want["names"], "self.paths must hold the photos of the folder sorted by path, and "
             "nothing else")
    for i, (item, expected) in enumerate(zip(got["items"], want["items"], strict=True)):
        t.expect(type(item) is list and len(item) == 3, f"dataset[{i}] does not return what the transform returns")
        t.expect(item[0] == "RGB", f"dataset[{i}] passes a {item[0]} image to the transform, expected RGB")
        t.expect(item[1:] == expected[1:], f"dataset[{i}] does not pass photo {want['names'][i]} (as RGB) to the "
                 "transform")
    t.expect(got["batch"] == [3, 2], "a DataLoader over MyImages must batch the transformed photos")


@check
def imagenet_transform(t: Trial) -> None:
    """imagenet_transform"""
    cases = [(False, [["a_landscape.png", 200, 300, "RGB"], ["b_portrait.png", 260, 180, "L"],
                      ["c_square.png", 256, 256, "RGBA"], ["d_large.png", 480, 640, "RGB"],
                      ["e_almost.png", 230, 231, "RGB"], ["f_small.png", 100, 150, "RGB"]]),
             (True, [["a.png", 150, 210, "RGB"], ["b.png", 240, 170, "RGB"]])]  # RGB only: the default transform
    for default, specs in cases:
        seed, specs = _specs(t, specs)
        got = t.student.run(TRANSFORMED, "imagenet_transform", seed=seed, specs=specs, default=default)
        want = t.reference.run(TRANSFORMED, "imagenet_transform", seed=seed, specs=specs, default=default)
        for (name, height, width, _), image, expected in zip(sorted(specs), got, want, strict=True):
            label = (f"MyImages(folder) with the default transform, photo {name}" if default else
                     f"imagenet_transform of a {width} x {height} photo")
            t.expect(type(image) is TensorData, f"{label}: not a tensor")
            t.expect(image.array.dtype == np.float32, f"{label}: dtype {image.array.dtype}, expected torch.float32")
            t.close(label + " (resize the shorter side to 256, center-crop 224, normalise)", image, expected,
                    rtol=0, atol=0.05)


CLASSIFIERS = """
def random_classifiers():
    torch.manual_seed(31337)
    with_dropout = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 5, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    with_batchnorm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
                                   nn.Linear(4 * 4 * 3, 7))
    for module in with_batchnorm.modules():  # running statistics unlike those of a batch
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return [with_dropout, with_batchnorm]


model = random_classifiers()[which]
model.train()  # left in training mode: it must be switched to evaluation mode
"""
NAMES = ["a classifier with dropout", "a CNN with batch normalisation and dropout"]
PREDICT = CLASSIFIERS + "result = predict(model, DataLoader(images, batch_size=batch))"
PREDICT_TOPK = CLASSIFIERS + "result = list(predict_topk(model, DataLoader(images, batch_size=batch), k))"


@check
def predict(t: Trial) -> None:
    """predict"""
    for which, name in enumerate(NAMES):
        for n, batch in [(40, 7), (13, 13), (5, 2)]:
            images = TensorData(t.rng.standard_normal((n, 3, 6, 5)).astype(np.float32), False)
            label = f"{name}, {n} images in batches of {batch}"
            got = t.student.run(PREDICT, "predict", which=which, images=images, batch=batch)
            want = t.reference.run(PREDICT, "predict", which=which, images=images, batch=batch)
            t.expect(type(got) in (TensorData, np.ndarray), f"predict for {label}: not a tensor")
            got = got.array if type(got) is TensorData else got
            t.expect(got.shape == (n,), f"predict for {label}: shape {got.shape}, expected ({n},)")
            t.expect(got.dtype.kind in "iu", f"predict for {label}: class indices must be integers, not {got.dtype}")
            wrong = int((got.astype(np.int64) != want.array).sum())
            t.expect(wrong == 0, f"predict for {label}: {wrong} of {n} predicted classes are wrong (evaluation mode?)")
    _without_gradients(t, "predict")


@check
def predict_topk(t: Trial) -> None:
    """predict_topk"""
    for which, (name, classes) in enumerate(zip(NAMES, (10, 7), strict=True)):
        for n, batch, k in [(21, 4, 3), (8, 8, 1), (11, 3, classes), (30, 7, 5)]:
            images = TensorData(t.rng.standard_normal((n, 3, 6, 5)).astype(np.float32), False)
            label = f"{name}, {n} images in batches of {batch}, k={k}"
            got = t.student.run(PREDICT_TOPK, "predict_topk", which=which, images=images, batch=batch, k=k)
            t.expect(len(got) == 2, "predict_topk must return (probabilities, indices)")
            want_p, want_i = t.reference.run(PREDICT_TOPK, "predict_topk", which=which, images=images, batch=batch,
                                             k=k)
            probabilities, indices = t.array(f"probabilities for {label}", got[0]), got[1]
            t.expect(probabilities.shape == (n, k), f"probabilities for {label}: shape {probabilities.shape}")
            t.expect(type(indices) in (TensorData, np.ndarray) and indices.shape == (n, k),
                     f"indices for {label}: expected a tensor of shape ({n}, {k})")
            t.expect(not (type(got[0]) is TensorData and got[0].requires_grad),
                     f"probabilities for {label} require gradients: use torch.no_grad()")
            t.expect(bool((probabilities[:, :-1] >= probabilities[:, 1:]).all()),
                     f"probabilities for {label} are not in decreasing order")
            t.expect(bool((probabilities >= 0).all()) and bool((probabilities.sum(axis=1) <= 1 + 1e-5).all()),
                     f"probabilities for {label} are negative or add up to more than 1")
            t.close(f"top-{k} probabilities for {label}", probabilities, want_p, rtol=1e-4, atol=1e-6)
            wrong = int((t.array("indices", indices).astype(np.int64) != want_i.array).sum())
            t.expect(wrong == 0, f"top-{k} class indices for {label}: {wrong} of {n * k} are wrong")
    _without_gradients(t, "predict_topk")


TOP_LABELS = ("result = top_labels(torch.tensor(probabilities, dtype=torch.float32), torch.tensor(indices), "
              "names if names else imagenet_categories())")


@check
def top_labels(t: Trial) -> None:
    """top_labels"""
    cases = [(np.array([[0.7, 0.2], [0.5, 0.4]]), np.array([[967, 281], [0, 1]]), [])]
    names = [f"class {c} ({t.rng.choice(['cat', 'dog', 'ship', 'cup'])})" for c in range(50)]
    for n, k in [(4, 3), (1, 5), (6, 1)]:
        indices = np.stack([t.rng.permutation(50)[:k] for _ in range(n)])
        probabilities = np.sort(t.rng.dirichlet(np.ones(50), size=n), axis=1)[:, ::-1][:, :k].copy()
        cases.append((probabilities, indices, names))
    for probabilities, indices, categories in cases:
        got = t.student.run(TOP_LABELS, "top_labels", probabilities=probabilities, indices=indices, names=categories)
        want = t.reference.run(TOP_LABELS, "top_labels", probabilities=probabilities, indices=indices,
                               names=categories)
        n, k = indices.shape
        t.expect(type(got) is list and len(got) == n, f"top_labels for {n} images returned {len(got)} entries")
        for row, (got_row, want_row) in enumerate(zip(got, want, strict=True)):
            t.expect(type(got_row) is list and len(got_row) == k, f"image {row}: expected k={k} pairs")
            for j, (pair, expected) in enumerate(zip(got_row, want_row, strict=True)):
                t.expect(type(pair) is list and len(pair) == 2, f"image {row}, entry {j}: not a (name, probability) "
                         "pair")
                t.expect(pair[0] == expected[0], f"image {row}, entry {j}: wrong class name")
                t.expect(type(pair[1]) is float, f"image {row}, entry {j}: the probability must be a Python float")
                t.expect(abs(pair[1] - expected[1]) < 1e-6, f"image {row}, entry {j}: wrong probability")
