"""Hidden checks of assignment 5, judged by the grader (instructor only: never released, never in a kernel).

Convolutions are compared with the reference kernel's, in float64. "NumPy only" is read from the submitted
source (no name that the notebook's imports bind to torch or scipy, in the function or in the notebook
functions it calls), speed is timed from the grader, and networks are judged from their parameters: the
reference runs the student's weights, and a model trained by the student's loop is evaluated by the reference.
"""

import time

import numpy as np

from dlcourse.judge import KernelFailure, TensorData, Trial, check

CONVOLUTION = {"rtol": 1e-4, "atol": 1e-6}
FOREIGN = ("torch", "scipy")


def _shapes(t: Trial, fixed: list, drawn: int, low: int, high: int, kernel_high: int) -> list:
    shapes = list(fixed)
    for _ in range(drawn):
        h, w = (int(v) for v in t.rng.integers(low, high, size=2))
        kh, kw = int(t.rng.integers(1, min(h, kernel_high) + 1)), int(t.rng.integers(1, min(w, kernel_high) + 1))
        shapes.append((int(t.rng.integers(1, 4)), int(t.rng.integers(1, 5)), h, w, int(t.rng.integers(1, 6)), kh, kw))
    return shapes


def _same_convolution(t: Trial, function: str, x: np.ndarray, k: np.ndarray, **options) -> None:
    label = f"{function} of an input of shape {x.shape} with a kernel of shape {k.shape}" + "".join(
        f", {key}={value}" for key, value in options.items())
    got = t.student.call(function, x, k, **options)
    t.expect(type(got) is np.ndarray, f"{function} must return a NumPy array, not "
             + ("a torch tensor" if type(got) is TensorData else f"{type(got).__name__}"))
    t.close(label, got, t.reference.call(function, x, k, **options), **CONVOLUTION)


@check
def my_convolution(t: Trial) -> None:
    """my_convolution"""
    cases = [(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), np.array([[[[0.0, 1.0], [2.0, 3.0]]]]))]
    shapes = _shapes(t, [(2, 3, 6, 5, 4, 3, 2), (2, 3, 7, 5, 4, 3, 2), (3, 2, 6, 9, 2, 1, 4), (1, 1, 5, 5, 1, 5, 5),
                         (4, 1, 8, 6, 3, 2, 3), (2, 4, 5, 7, 3, 1, 1)], 4, 4, 11, 5)
    cases += [(t.rng.standard_normal((n, c, h, w)), t.rng.standard_normal((o, c, kh, kw)))
              for n, c, h, w, o, kh, kw in shapes]
    for x, k in cases:
        _same_convolution(t, "my_convolution", x, k)


def _numpy_only(t: Trial, function: str) -> None:
    foreign = sorted(t.names_used(function) & t.imported_from(FOREIGN))
    t.expect(t.student_code(function) is not None, f"{function} is not defined with def in the notebook")
    t.expect(not foreign, f"{function} uses {', '.join(foreign)} from torch or scipy: compute the convolution "
             "with NumPy only")


@check
def my_convolution_numpy(t: Trial) -> None:
    """my_convolution with NumPy only"""
    _numpy_only(t, "my_convolution")
    got = t.student.call("my_convolution", np.ones((1, 2, 4, 5)), np.ones((3, 2, 2, 2)))
    t.expect(type(got) is np.ndarray, "my_convolution must return a NumPy array")


@check
def fast_convolution(t: Trial) -> None:
    """my_convolution_fast without stride and padding"""
    shapes = _shapes(t, [(2, 3, 7, 6, 5, 2, 3), (3, 2, 9, 6, 4, 2, 3), (1, 5, 6, 11, 2, 3, 1), (2, 1, 5, 5, 3, 5, 5),
                         (2, 3, 12, 10, 6, 4, 2)], 3, 5, 14, 4)
    for n, c, h, w, o, kh, kw in shapes:
        _same_convolution(t, "my_convolution_fast", t.rng.standard_normal((n, c, h, w)),
                          t.rng.standard_normal((o, c, kh, kw)))


@check
def fast_convolution_stride_padding(t: Trial) -> None:
    """my_convolution_fast with stride and padding"""
    x, k = t.rng.standard_normal((2, 2, 7, 8)), t.rng.standard_normal((3, 2, 3, 2))
    for stride, padding in [(2, 0), (1, 1), (2, 1), (3, 2)]:
        _same_convolution(t, "my_convolution_fast", x, k, stride=stride, padding=padding)
    cases = [(2, 3, 9, 7, 4, 3, 2, 2, 1), (1, 2, 10, 13, 3, 2, 4, 3, 2), (3, 1, 6, 6, 2, 3, 3, 1, 3),
             (2, 2, 11, 8, 5, 1, 3, 2, 0), (1, 4, 7, 9, 2, 4, 4, 4, 1)]
    for _ in range(3):
        h, w = (int(v) for v in t.rng.integers(5, 14, size=2))
        cases.append((*(int(v) for v in t.rng.integers(1, [4, 4], size=2)), h, w,
                      *(int(v) for v in t.rng.integers(1, [5, 5, 5, 4], size=4)), int(t.rng.integers(0, 3))))
    for n, c, h, w, o, kh, kw, stride, padding in cases:
        _same_convolution(t, "my_convolution_fast", t.rng.standard_normal((n, c, h, w)),
                          t.rng.standard_normal((o, c, kh, kw)), stride=stride, padding=padding)


@check
def fast_convolution_numpy(t: Trial) -> None:
    """my_convolution_fast with NumPy only"""
    _numpy_only(t, "my_convolution_fast")
    got = t.student.call("my_convolution_fast", np.ones((1, 2, 6, 5)), np.ones((3, 2, 2, 2)), stride=2, padding=1)
    t.expect(type(got) is np.ndarray, "my_convolution_fast must return a NumPy array")


SPEED_LIMIT = 0.25  # seconds; a vectorized version takes a few milliseconds, a loop over output pixels seconds
TIMED = ("rng = np.random.default_rng(seed)\n"
         "x, k = rng.standard_normal((1, 2, 330, 410)), rng.standard_normal((3, 2, 3, 3))\n"
         "result = my_convolution_fast(x, k, stride=1, padding=1).shape")


@check
def fast_convolution_speed(t: Trial) -> None:
    """my_convolution_fast's speed, timed by the grader"""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        try:
            t.student.run(TIMED, "my_convolution_fast", timeout=4 * SPEED_LIMIT, seed=int(t.rng.integers(2**31)))
        except KernelFailure as failure:
            if not failure.recoverable:
                raise
        best = min(best, time.perf_counter() - start)
        if best < SPEED_LIMIT:
            break
    t.expect(best < SPEED_LIMIT, f"my_convolution_fast takes {best:.2f} s or more on a 330 x 410 image with 2 "
             f"channels, expected well under {SPEED_LIMIT} s: vectorize it (no Python loops over the output pixels)")


DIGITS = ("from torch.utils.data import DataLoader\n"
          "dataset = Digits(x.copy(), y.copy())\n"
          "images, labels = next(iter(DataLoader(dataset, batch_size=5)))\n"
          "result = {'length': len(dataset), 'items': [list(dataset[int(i)]) for i in picked],\n"
          "          'batch': [images, labels]}")


def _tensor(t: Trial, label: str, value, dtype: str, shape: tuple) -> np.ndarray:
    t.expect(type(value) is TensorData, f"{label}: not a torch tensor")
    t.expect(value.array.dtype.name == dtype, f"{label}: dtype torch.{value.array.dtype.name}, expected torch.{dtype}")
    t.expect(value.shape == shape, f"{label}: shape {value.shape}, expected {shape}")
    return value.array


@check
def digits_dataset(t: Trial) -> None:
    """Digits"""
    for n in (7, 23):
        x = t.rng.integers(0, 17, size=(n, 64)).astype(np.float64)
        y = t.rng.integers(0, 10, size=n).astype(np.int64)
        picked = [int(i) for i in t.rng.permutation(n)[:6]]
        got = t.student.run(DIGITS, "Digits", x=x, y=y, picked=picked)
        want = t.reference.run(DIGITS, "Digits", x=x, y=y, picked=picked)
        t.expect(got["length"] == n, f"len(Digits(x, y)) for {n} samples is {got['length']}")
        for i, item, expected in zip(picked, got["items"], want["items"], strict=True):
            t.expect(type(item) is list and len(item) == 2, f"dataset[{i}] must be (image, label)")
            image = _tensor(t, f"image {i}", item[0], "float32", (1, 8, 8))
            t.close(f"image {i} of a random data set", image, expected[0].array, rtol=1e-6, atol=1e-7)
            label = _tensor(t, f"label {i}", item[1], "int64", ())
            t.expect(int(label) == int(expected[1].array), f"label {i} of a random data set is wrong")
        images, labels = got["batch"]
        _tensor(t, "a batch of 5 images", images, "float32", (5, 1, 8, 8))
        _tensor(t, "a batch of 5 labels", labels, "int64", (5,))


ARCHITECTURE = ("torch.manual_seed(seed)\n"
                "net = MySimpleCNN()\n"
                "params = [p.detach() for p in net.parameters()]\n"
                "with torch.no_grad():\n"
                "    logits = [net(torch.tensor(batch, dtype=torch.float32)) for batch in batches]\n"
                "result = {'params': params, 'logits': logits}")
# The student's parameters, matched by shape (each is unique), in the reference network.
REFERENCE_LOGITS = ("net = MySimpleCNN()\n"
                    "by_shape = {tuple(p.shape): p for p in params}\n"
                    "with torch.no_grad():\n"
                    "    for p in net.parameters():\n"
                    "        p.copy_(by_shape[tuple(p.shape)])\n"
                    "    result = [net(torch.tensor(batch, dtype=torch.float32)) for batch in batches]")
CNN_SHAPES = sorted([(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (10, 512), (10,)])


@check
def cnn_architecture(t: Trial) -> None:
    """MySimpleCNN"""
    batches = [np.zeros((5, 1, 8, 8))] + [t.rng.uniform(0, 1, size=(n, 1, 8, 8)) for n in (1, 3, 8)]
    got = t.student.run(ARCHITECTURE, "MySimpleCNN", seed=int(t.rng.integers(2**31)), batches=batches)
    params = got["params"]
    t.expect(all(type(p) is TensorData for p in params), "MySimpleCNN's parameters must be tensors")
    count = sum(p.array.size for p in params)
    t.expect(count == 9930, f"MySimpleCNN has {count} parameters, expected 9,930")
    shapes = sorted(p.shape for p in params)
    t.expect(shapes == CNN_SHAPES, f"MySimpleCNN's parameters have shapes {shapes}, expected {CNN_SHAPES}")
    want = t.reference.run(REFERENCE_LOGITS, "the reference network with your parameters", params=params,
                           batches=batches)
    for batch, logits, expected in zip(batches, got["logits"], want, strict=True):
        t.expect(type(logits) is TensorData and logits.shape == (len(batch), 10),
                 f"a batch of {len(batch)} images must give logits of shape ({len(batch)}, 10)")
        t.close(f"MySimpleCNN's logits for a batch of {len(batch)} images (conv, ReLU, conv, ReLU, max-pool, "
                "flatten, linear)", logits, expected, rtol=1e-4, atol=1e-5)


EPOCHS, THRESHOLD = 10, 0.75  # the reference reaches 88-89% test accuracy after 10 epochs, depending on the seed
# A fixed CNN (the layers the notebook describes) trained by the student's loop; only its weights come back.
TRAIN = ("from torch.utils.data import DataLoader, TensorDataset\n"
         "split = load_digits(test_size=1797 - 500, seed=0, verbose=False)\n"
         "x = torch.tensor(split.x_train / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)\n"
         "y = torch.tensor(split.y_train, dtype=torch.int64)\n"
         "torch.manual_seed(seed)\n"
         "model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),\n"
         "                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 10))\n"
         "loader = DataLoader(TensorDataset(x, y), batch_size=100, shuffle=True,\n"
         "                    generator=torch.Generator().manual_seed(seed))\n"
         "history = train_model(model, loader, epochs, lr=1e-3)\n"
         "result = {'history': [h for h in history], 'state': dict(model.state_dict())}")
EVALUATE = ("split = load_digits(test_size=1797 - 500, seed=0, verbose=False)\n"
            "def tensors(x, y):\n"
            "    return (torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8),\n"
            "            torch.tensor(y, dtype=torch.int64))\n"
            "model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),\n"
            "                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 10))\n"
            "model.load_state_dict(state)\n"
            "(x_train, y_train), (x_test, y_test) = tensors(split.x_train, split.y_train), tensors(split.x_test, "
            "split.y_test)\n"
            "with torch.no_grad():\n"
            "    result = [float((model(x_test).argmax(dim=1) == y_test).float().mean()),\n"
            "              float(nn.functional.cross_entropy(model(x_train), y_train))]")


@check
def training(t: Trial) -> None:
    """train_model"""
    got = t.student.run(TRAIN, "train_model", seed=int(t.rng.integers(2**31)), epochs=EPOCHS)
    history = got["history"]
    t.expect(type(history) is list and len(history) == EPOCHS,
             f"train_model for {EPOCHS} epochs must return {EPOCHS} losses")
    history = [t.number(f"the loss of epoch {i + 1}", value) for i, value in enumerate(history)]
    state = got["state"]
    t.expect(type(state) is dict and all(type(v) is TensorData for v in state.values()),
             "the trained model's parameters could not be read")
    accuracy, final_loss = t.reference.run(EVALUATE, "the trained model", about_student=True, state=state)
    t.expect(accuracy >= THRESHOLD, f"a CNN trained with train_model for {EPOCHS} epochs reaches {accuracy:.1%} "
             f"test accuracy, expected at least {THRESHOLD:.0%}")
    t.expect(history[-1] < history[0], "the mean training loss did not decrease over the epochs")
    t.expect(0.5 * final_loss < history[-1] < 2.0 * final_loss + 0.05,
             "the last entry of the history is not the mean cross-entropy of the last epoch (average the batch "
             "losses over the epoch's samples)")
