"""Hidden checks of assignment 4, judged by the grader (instructor only: never released, never in a kernel).

Layers and losses are called on arrays the grader draws and compared with the reference kernel's. "NumPy only"
is read from the submitted source. The per-sample network's functions read the notebook's global ``weights``
and ``biases``: a check sets them in each kernel for the call and puts the notebook's back afterwards.
The MLP class's tests still run in the kernel (they swap reference methods into the student's class).
"""

import numpy as np

from dlcourse.judge import Trial, check


def _numpy_only(t: Trial, *functions: str) -> None:
    for function in functions:
        torch = sorted(t.names_used(function) & t.imported_from(("torch",)))
        t.expect(not torch, f"{function} must use NumPy only, not torch (it uses {', '.join(torch)})")


def _same(t: Trial, function: str, label: str, *args, **tolerance) -> None:
    got, want = t.student.call(function, *args), t.reference.call(function, *args)
    t.close(f"{function} {label}", got, want, **tolerance)


@check
def relu(t: Trial) -> None:
    """relu_forward and relu_backward"""
    cases = [(np.array([[-1.0, 2.0, 0.5], [3.0, -0.5, -2.0]]), np.full((2, 3), 2.0))]
    for shape in [(4, 6), (1, 3), (5, 2), (3, 2, 4)]:
        z = t.rng.normal(size=shape)
        z[np.abs(z) < 1e-3] = 0.5
        cases.append((z, t.rng.normal(size=shape)))
    for z, upstream in cases:
        _same(t, "relu_forward", f"on a {z.shape} array", z)
        _same(t, "relu_backward", f"on a {z.shape} array", upstream, z)
    _numpy_only(t, "relu_forward", "relu_backward")


def _fc_cases(t: Trial, shapes: list) -> list:
    return [(t.rng.normal(size=(m, n_in)), t.rng.normal(size=(n_in, n_out)), t.rng.normal(size=(1, n_out)))
            for m, n_in, n_out in shapes]


@check
def fc_forward(t: Trial) -> None:
    """fc_forward"""
    cases = [(np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]]), np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]]),
              np.array([[0.5, -0.5, 0.0]]))] + _fc_cases(t, [(3, 5, 2), (1, 4, 6), (7, 2, 3)])
    for x, w, b in cases:
        _same(t, "fc_forward", f"with X {x.shape[0]}x{x.shape[1]}, W {w.shape[0]}x{w.shape[1]}", x, w, b)
    _numpy_only(t, "fc_forward")


@check
def fc_backward(t: Trial) -> None:
    """fc_backward"""
    for x, w, _ in _fc_cases(t, [(3, 2, 3), (3, 5, 2), (1, 4, 6), (7, 2, 3), (4, 4, 4)]):
        upstream = t.rng.normal(size=(x.shape[0], w.shape[1]))
        got = t.student.call("fc_backward", upstream, x, w)
        t.expect(type(got) is list and len(got) == 3, "fc_backward must return (dX, dW, db)")
        want = t.reference.call("fc_backward", upstream, x, w)
        for name, value, expected in zip(("dX", "dW", "db"), got, want, strict=True):
            t.close(f"{name} with X {x.shape[0]}x{x.shape[1]}, W {w.shape[0]}x{w.shape[1]}", value, expected)
    _numpy_only(t, "fc_backward")


@check
def softmax(t: Trial) -> None:
    """softmax"""
    cases = [np.array([[0.0, np.log(3.0)], [1000.0, 1000.0], [-1000.0, 0.0]])]
    cases += [t.rng.normal(size=shape) * 3 for shape in [(3, 5), (6, 2), (1, 7)]]
    huge = t.rng.normal(size=(5, 4)) * 3 + np.array([[1000.0], [-1000.0], [0.0], [1000.0], [-1000.0]])
    huge[3, 0] = 2000.0  # rows near +1000 and -1000 in the same batch
    for s in cases + [huge]:
        _same(t, "softmax", f"of a {s.shape[0]}x{s.shape[1]} batch" + (" with logits around +-1000" if s is huge
                                                                         else ""), s)
    _numpy_only(t, "softmax")


@check
def softmax_jacobian(t: Trial) -> None:
    """softmax_jacobian"""
    cases = [np.array([0.25, 0.75])]
    for k in [2, 5, 9]:
        e = np.exp(t.rng.normal(size=k) * 2)
        cases.append(e / e.sum())
    for s in cases:
        _same(t, "softmax_jacobian", f"for {len(s)} classes", s)
    _numpy_only(t, "softmax_jacobian")


def _probabilities(t: Trial, m: int, k: int, tiny_labelled: bool = False) -> tuple[np.ndarray, np.ndarray]:
    labels = t.rng.integers(0, k, size=m)
    logits = t.rng.normal(size=(m, k)) * (2 if tiny_labelled else 1)
    if tiny_labelled:  # labelled probabilities of about 1e-7 to 1e-13: an epsilon or clipping changes the loss
        logits[np.arange(m), labels] -= t.rng.uniform(15, 30, size=m)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.eye(k)[labels], e / e.sum(axis=1, keepdims=True)


@check
def cross_entropy(t: Trial) -> None:
    """cross_entropy"""
    cases = [("of the example", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.5, 0.5], [0.25, 0.75]]))]
    cases += [(f"of a {m}x{k} batch", *_probabilities(t, m, k)) for m, k in [(4, 3), (1, 5), (6, 2)]]
    cases.append(("of a 5x4 batch whose labelled probabilities are 1e-7 and below", *_probabilities(t, 5, 4, True)))
    for label, y, p in cases:
        got = t.student.call("cross_entropy", y, p)
        t.expect(np.size(t.array("cross_entropy", got)) == 1, "cross_entropy must return one number")
        t.close(f"cross_entropy {label}", t.number("cross_entropy", got), t.reference.call("cross_entropy", y, p))
    _numpy_only(t, "cross_entropy")


@check
def cross_entropy_grad(t: Trial) -> None:
    """cross_entropy_grad"""
    cases = [("of the example", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.5, 0.5], [0.25, 0.75]]))]
    cases += [(f"of a {m}x{k} batch", *_probabilities(t, m, k)) for m, k in [(4, 3), (7, 5), (1, 4)]]
    for label, y, p in cases:
        _same(t, "cross_entropy_grad", label, y, p)
    _numpy_only(t, "cross_entropy_grad")


@check
def softmax_cross_entropy_grad(t: Trial) -> None:
    """softmax_cross_entropy_grad"""
    cases = [(np.array([[0.0, np.log(3.0)], [0.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]))]
    for m, k in [(5, 3), (2, 7), (1, 4), (8, 2)]:
        cases.append((t.rng.normal(size=(m, k)) * 2, np.eye(k)[t.rng.integers(0, k, size=m)]))
    for s, y in cases:
        code = "result = softmax_cross_entropy_grad(s, y)"
        got = t.student.run(code, "softmax_cross_entropy_grad", stand_ins=("softmax",), s=s, y=y)
        want = t.reference.run(code, "softmax_cross_entropy_grad", s=s, y=y)
        t.close(f"softmax_cross_entropy_grad of a {s.shape[0]}x{s.shape[1]} batch", got, want)
    _numpy_only(t, "softmax_cross_entropy_grad")


NUMERICAL = """
functions = {"sum of squares": lambda v: np.sum(v**2), "cubes": lambda v: np.sum(v**3),
             "smooth": lambda v: np.sum(np.sin(3 * v) * v**2) + np.sum(v) ** 2}
before = x.copy()
gradient = numerical_gradient(functions[f], x) if h is None else numerical_gradient(functions[f], x, h=h)
result = [gradient, bool(np.array_equal(x, before))]
"""


@check
def numerical_gradient(t: Trial) -> None:
    """numerical_gradient"""
    cases = [("sum(x^2)", "sum of squares", np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]), None)]
    cases += [(f"a smooth function at a {shape} array", "smooth", t.rng.normal(size=shape), None)
              for shape in [(3, 4), (5,), (2, 3, 2), (1, 6)]]
    cases.append(("sum(x^3) with h=0.1 (the central difference is exactly 3x^2 + h^2)", "cubes",
                  t.rng.normal(size=(2, 3)), 0.1))
    for label, f, x, h in cases:
        got = t.student.run(NUMERICAL, "numerical_gradient", f=f, x=x, h=h)
        want = t.reference.run(NUMERICAL, "numerical_gradient", f=f, x=x, h=h)
        t.expect(got[1] is True, "numerical_gradient changed the array it was given")
        t.close(f"numerical gradient of {label}", got[0], want[0], rtol=1e-6, atol=1e-8)


INIT = "result = [init_network(sizes, seed=seed), init_network(sizes, seed=seed), init_network(sizes, seed=seed + 1)]"


@check
def init_network(t: Trial) -> None:
    """init_network"""
    for sizes, seed in [((784, 32, 32, 10), 0), ((20, 300, 5), int(t.rng.integers(1000))),
                        ((50, 40, 60), int(t.rng.integers(1000)))]:
        first, again, other = t.student.run(INIT, "init_network", sizes=list(sizes), seed=seed)
        t.expect(len(first) == 2 and len(first[0]) == len(first[1]) == len(sizes) - 1,
                 f"a network of sizes {sizes} has {len(sizes) - 1} layers of weights and of biases")
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            label = f"layer {i + 1} of a network of sizes {sizes}"
            w, b = t.array(f"{label}: weights", first[0][i]), t.array(f"{label}: biases", first[1][i])
            t.expect(w.shape == (n_in, n_out), f"{label}: weights of shape {w.shape}, expected ({n_in}, {n_out})")
            t.expect(b.shape == (n_out,) and bool(np.all(b == 0)), f"{label}: biases must be zeros of shape ({n_out},)")
            target = 1.0 / max(n_in, n_out)
            ratio = float(np.var(w)) / target
            t.expect(abs(ratio - 1) < 0.12, f"{label}: the weight variance is {ratio:.2f} times what it should be")
            t.expect(abs(float(np.mean(w))) < 4 * np.sqrt(target / w.size) + 1e-12, f"{label}: the weights must have "
                     "mean 0")
            t.expect(np.array_equal(w, t.array(label, again[0][i])), f"{label}: the same seed must give the same "
                     "weights")
            t.expect(not np.array_equal(w, t.array(label, other[0][i])), f"{label}: different seeds must give "
                     "different weights")


# The per-sample network's functions read the notebook's global weights and biases: set them for the call.
WITH_WEIGHTS = """
saved = {name: __student__.get(name) for name in ("weights", "biases")}
__student__.update(weights=[w.copy() for w in ws], biases=[b.copy() for b in bs])
try:
    result = BODY
finally:
    __student__.update(saved)
"""
SET_WEIGHTS = ("__student__['_saved_by_grader'] = {name: __student__.get(name) for name in ('weights', 'biases')}\n"
               "__student__.update(weights=[w.copy() for w in ws], biases=[b.copy() for b in bs])")
RESTORE_WEIGHTS = "__student__.update(__student__.pop('_saved_by_grader'))"


def _random_network(t: Trial, sizes=(784, 32, 32, 10), scale: float = 3.0) -> tuple[list, list]:
    return ([t.rng.normal(0.0, scale / np.sqrt(a), size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
            [t.rng.normal(0.0, 0.5, size=b) for b in sizes[1:]])


@check
def feed_forward_sample(t: Trial) -> None:
    """feed_forward_sample"""
    ws, bs = _random_network(t)
    code = WITH_WEIGHTS.replace("BODY", "list(feed_forward_sample(x.copy(), y))")
    for case in range(6):
        x, y = t.rng.uniform(0, 1, size=784), int(t.rng.integers(0, 10))
        got = t.student.run(code, "feed_forward_sample", ws=ws, bs=bs, x=x, y=y)
        t.expect(len(got) == 2, "feed_forward_sample must return (loss, guess)")
        want = t.reference.run(code, "feed_forward_sample", ws=ws, bs=bs, x=x, y=y)
        t.close(f"loss of random sample {case} (label {y}) on random weights", t.number("the loss", got[0]), want[0])
        t.close(f"one-hot guess for random sample {case} on random weights", got[1], want[1])


@check
def feed_forward_dataset(t: Trial) -> None:
    """feed_forward_dataset"""
    ws, bs = _random_network(t)
    code = WITH_WEIGHTS.replace("BODY", "list(feed_forward_dataset(x.copy(), y.copy()))")
    t.reference.run(SET_WEIGHTS, "setting the reference's weights", ws=ws, bs=bs)  # its feed_forward_sample stands in
    try:
        for n in [1, 37, 120]:
            x, y = t.rng.uniform(0, 1, size=(n, 784)), t.rng.integers(0, 10, size=n)
            got = t.student.run(code, "feed_forward_dataset", stand_ins=("feed_forward_sample",), ws=ws, bs=bs, x=x,
                                y=y)
            t.expect(len(got) == 2, "feed_forward_dataset must return (mean loss, accuracy)")
            want = t.reference.run(code, "feed_forward_dataset", ws=ws, bs=bs, x=x, y=y)
            t.close(f"mean loss over {n} random samples", t.number("the mean loss", got[0]), want[0])
            t.close(f"accuracy over {n} random samples", t.number("the accuracy", got[1]), want[1])
    finally:
        t.reference.run(RESTORE_WEIGHTS, "restoring the reference's weights")


TRAIN_STEPS = """
saved = {name: __student__.get(name) for name in ("weights", "biases")}
__student__.update(weights=[w.copy() for w in ws], biases=[b.copy() for b in bs])
try:
    result = []
    for x, y in samples:
        loss = train_one_sample(x.copy(), y, lr)
        result.append([loss, [w.copy() for w in __student__["weights"]], [b.copy() for b in __student__["biases"]]])
finally:
    __student__.update(saved)
"""


@check
def train_one_sample(t: Trial) -> None:
    """train_one_sample"""
    for sizes, lr in [((784, 32, 32, 10), 0.5), ((784, 32, 32, 10), 0.003), ((12, 7, 9, 5), 0.8)]:
        ws, bs = _random_network(t, sizes, scale=2.0)
        samples = [[t.rng.uniform(0, 1, size=sizes[0]), int(t.rng.integers(0, sizes[-1]))] for _ in range(3)]
        got = t.student.run(TRAIN_STEPS, "train_one_sample", ws=ws, bs=bs, samples=samples, lr=lr)
        want = t.reference.run(TRAIN_STEPS, "train_one_sample", ws=ws, bs=bs, samples=samples, lr=lr)
        for step, ((loss, weights, biases), (want_loss, want_weights, want_biases)) in enumerate(
                zip(got, want, strict=True)):
            label = f"step {step + 1} with learning rate {lr} on a {'-'.join(map(str, sizes))} network"
            t.close(f"returned loss, {label}", t.number("the loss", loss), want_loss)
            for layer in range(len(sizes) - 1):
                t.close(f"weights[{layer}] after {label}", weights[layer], want_weights[layer])
                t.close(f"biases[{layer}] after {label}", biases[layer], want_biases[layer])


TRAINING = TRAIN_STEPS.replace("""    result = []
    for x, y in samples:
        loss = train_one_sample(x.copy(), y, lr)
        result.append([loss, [w.copy() for w in __student__["weights"]], [b.copy() for b in __student__["biases"]]])""",
                               """    x_train, y_train = data.x_train[:2000].astype(np.float64), data.y_train[:2000]
    for epoch in range(3):
        for i in np.random.default_rng(epoch).permutation(len(x_train)):
            train_one_sample(x_train[i].copy(), int(y_train[i]), 0.03)
    result = [__student__["weights"], __student__["biases"]]""")
ACCURACY = WITH_WEIGHTS.replace("BODY", "feed_forward_dataset(data.x_test[:1000].astype(np.float64), "
                                        "data.y_test[:1000])[1]")


@check
def training(t: Trial) -> None:
    """training with train_one_sample"""
    rng = np.random.default_rng(11)
    sizes = (784, 32, 32, 10)
    ws = [rng.normal(0.0, np.sqrt(1.0 / max(a, b)), size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [np.zeros(b) for b in sizes[1:]]
    weights, biases = t.student.run(TRAINING, "train_one_sample", ws=ws, bs=bs)
    accuracy = t.reference.run(ACCURACY, "the trained weights", about_student=True, ws=weights, bs=biases)
    t.expect(t.number("the accuracy", accuracy) >= 0.7, f"after 3 epochs on 2,000 samples the test accuracy is "
             f"{t.number('the accuracy', accuracy):.1%}; expected at least 70%")
