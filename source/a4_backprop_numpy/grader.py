"""Hidden checks of assignment 4, judged by the grader (instructor only: never released, never in a kernel).

Layers and losses are called on arrays the grader draws and compared with the reference kernel's. "NumPy only"
is read from the submitted source. The per-sample network's functions read the notebook's global ``weights``
and ``biases``: a check sets them in each kernel for the call and puts the notebook's back afterwards.
The MLP's methods are called on objects whose attributes the grader sets; the methods a method under test
calls are the reference's (stand-ins carrying the object's state), and train's minibatches are read from the
stand-in calls it made. The hyperparameter table is checked for what can be checked without retraining: distinct
settings, weights of each setting's architecture, and reported numbers that its weights measure.
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


# Two forward/backward rounds of different batch sizes (backward must use the last forward and store that call's
# gradients, not their sum), a step, and a forward with the stepped parameters.
LINEAR = """
layer = Linear(W.copy(), b.copy())
result = []
for X, dY in ((X1, dY1), (X2, dY2)):
    result += [layer.forward(X.copy()), layer.backward(dY.copy()), layer.dW, layer.db]
layer.step(learning_rate)
result += [layer.W, layer.b, layer.forward(X1.copy())]
"""
ACTIVATION = """
layer = Layer()
result = []
for Z, dY in ((Z1, dY1), (Z2, dY2)):
    result += [layer.forward(Z.copy()), layer.backward(dY.copy())]
layer.step(learning_rate)
result.append(layer.forward(Z1.copy()))
"""
STEP = 0.1


def _same_run(t: Trial, code: str, label: str, parts: list[str], stand_ins: tuple, **inputs) -> None:
    """Run ``code`` in both kernels and compare the ``result`` list part by part."""
    got = t.student.run(code, label, stand_ins=stand_ins, **inputs)
    want = t.reference.run(code, label, **inputs)
    t.expect(type(got) is list and len(got) == len(want), f"{label}: forward, backward or step is missing")
    for part, value, expected in zip(parts, got, want, strict=True):
        t.close(f"{label}: {part}", value, expected)


@check
def layers(t: Trial) -> None:
    """the Linear, ReLU and Sigmoid layer objects"""
    stand_ins = ("fc_forward", "fc_backward", "relu_forward", "relu_backward")  # part (a) is graded there
    for n_in, n_out, m1, m2 in [(5, 3, 4, 2), (2, 6, 1, 5), (7, 4, 3, 6)]:
        inputs = dict(W=t.rng.normal(size=(n_in, n_out)), b=t.rng.normal(size=(1, n_out)),
                      X1=t.rng.normal(size=(m1, n_in)), dY1=t.rng.normal(size=(m1, n_out)),
                      X2=t.rng.normal(size=(m2, n_in)), dY2=t.rng.normal(size=(m2, n_out)), learning_rate=STEP)
        parts = [f"{part} of {which} forward/backward ({m} samples)" for which, m in (("the first", m1),
                                                                                 ("a second", m2))
                 for part in ("output", "dX", "dW", "db")]
        parts += [f"W after step({STEP})", f"b after step({STEP})", "the output after step"]
        _same_run(t, LINEAR, f"Linear with W {n_in}x{n_out}", parts, stand_ins, **inputs)
    parts = ["output", "dZ", "output of a second forward", "dZ of a second forward/backward", "output after step"]
    for layer in ("ReLU", "Sigmoid"):
        for shape in [(4, 3), (1, 6), (5, 2, 3)]:
            z1, z2 = t.rng.normal(size=shape) * 3, t.rng.normal(size=shape[::-1]) * 3
            for z in (z1, z2):
                z[np.abs(z) < 1e-3] = 0.5
            _same_run(t, f"Layer = {layer}" + ACTIVATION, f"{layer} on a {shape} array", parts, stand_ins,
                      Z1=z1, dY1=t.rng.normal(size=shape), Z2=z2, dY2=t.rng.normal(size=shape[::-1]),
                      learning_rate=STEP)
    _numpy_only(t, "Linear", "ReLU", "Sigmoid")


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
        for n in [1, 9, 30]:
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


# --- (d) the MLP class ---------------------------------------------------------------------------------------
# Its methods are tested on objects made with object.__new__ whose attributes the grader sets (what the
# reference's __init__ would set), so a test of one method never runs the student's others unless the task
# says it calls them. Methods a method under test calls are stand-ins: the reference's, on the object's state.

MLP_STATIC = "result = MLP.{method}(*args)"


def _mlp_state(t: Trial, features: int, hidden: tuple, classes: int, m: int, m_val: int) -> tuple[dict, np.ndarray]:
    """The attributes of a network the grader drew, and a batch of m inputs."""
    sizes = [features, *hidden, classes]
    teacher = t.rng.normal(size=(features, classes))
    x = t.rng.normal(size=(m + m_val, features))
    y = np.eye(classes)[(x @ teacher).argmax(axis=1)]
    state = {"x": x[:m], "y": y[:m], "x_val": x[m:], "y_val": y[m:], "layer_sizes": sizes,
             "weights": [t.rng.uniform(-1, 1, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
             "layers": [np.zeros((1, n)) for n in sizes],
             "history": {key: [] for key in ("train_loss", "val_loss", "train_acc", "val_acc", "epoch_time")}}
    return state, x[:m]


@check
def mlp_one_hot(t: Trial) -> None:
    """MLP.one_hot"""
    cases = [[np.array([2, 0, 1]), 3]] + [[t.rng.integers(0, k, size=n), k] for n, k in [(9, 4), (1, 10), (25, 7)]]
    cases.append([t.rng.integers(0, 10, size=6)])
    labels = [f"one_hot of {len(args[0])} labels with {args[1] if len(args) > 1 else 'the default of 10'} classes"
              for args in cases]
    code = MLP_STATIC.format(method="one_hot")
    got = t.student.run_each(code, labels, [{"args": args} for args in cases])
    want = t.reference.run_each(code, labels, [{"args": args} for args in cases])
    for label, g, w in zip(labels, got, want, strict=True):
        t.close(label, g, w, rtol=0, atol=0)


INIT_WEIGHTS = """
result = [MLP.init_weights(list(sizes), fix_seed=True), MLP.init_weights(list(sizes)), MLP.init_weights(list(sizes)),
          MLP.init_layers(m, list(sizes))]
"""


@check
def mlp_init(t: Trial) -> None:
    """MLP.init_weights and MLP.init_layers"""
    all_sizes = [[4, 3, 2], [7, 5, 11, 3], [20, 2], [int(n) for n in t.rng.integers(2, 30, size=4)]]
    labels = ["-".join(map(str, sizes)) for sizes in all_sizes]
    cases = [{"sizes": sizes, "m": int(t.rng.integers(1, 9))} for sizes in all_sizes]
    got = t.student.run_each(INIT_WEIGHTS, [f"init_weights for sizes {s}" for s in labels], cases)
    want = t.reference.run_each(INIT_WEIGHTS, labels, cases)
    for label, case, (fixed, free, again, layers), (want_fixed, _, _, want_layers) in zip(labels, cases, got, want,
                                                                                          strict=True):
        t.expect(type(fixed) is list and len(fixed) == len(want_fixed),
                 f"init_weights for sizes {label} must give {len(want_fixed)} matrices")
        for i, (g, w) in enumerate(zip(fixed, want_fixed, strict=True)):
            t.close(f"init_weights(fix_seed=True), layer {i} of sizes {label}", g, w, rtol=0, atol=0)
        for i, (a, b, w) in enumerate(zip(free, again, want_fixed, strict=True)):
            a, b = t.array(f"init_weights, layer {i}", a), t.array(f"init_weights, layer {i}", b)
            t.expect(a.shape == w.shape, f"init_weights(fix_seed=False), layer {i} of sizes {label}: shape {a.shape}, "
                     f"expected {w.shape}")
            t.expect(bool(np.all(np.abs(a) <= 1)), f"init_weights(fix_seed=False), layer {i}: values outside [-1, 1]")
            t.expect(not np.array_equal(a, b), f"init_weights(fix_seed=False), layer {i}: two calls gave the same "
                     "weights")
        t.expect(type(layers) is list and len(layers) == len(want_layers),
                 f"init_layers for sizes {label} must give {len(want_layers)} arrays")
        for g, w in zip(layers, want_layers, strict=True):
            t.close(f"init_layers({case['m']}, {label}), the layer of size {w.shape[1]}", g, w, rtol=0, atol=0)
    weights = t.student.run("result = MLP.init_weights([100, 200])", "init_weights")
    values = np.concatenate([np.ravel(t.array("init_weights", w)) for w in weights])
    t.expect(values.size == 100 * 200 and abs(values.mean()) < 0.02 and abs(values.var() - 1 / 3) < 0.02,
             "init_weights(fix_seed=False) must be uniform in [-1, 1]")


SIGMOID = """
import torch
z = torch.tensor(z, requires_grad=True)
h = torch.sigmoid(z)
(slope,) = torch.autograd.grad(h.sum(), [z])
result = [h.detach().numpy(), slope.numpy()]
"""


@check
def mlp_sigmoid_prime(t: Trial) -> None:
    """MLP.sigmoid_prime"""
    for z in [np.log([1.0, 9.0])] + [t.rng.normal(size=shape) * 3 for shape in [(4, 6), (3, 1), (5,)]]:
        h, slope = t.reference.run(SIGMOID, "sigmoid and its derivative", z=z)
        shape = z.shape
        t.close(f"sigmoid_prime at the activations of a {shape} batch", t.student.call("MLP.sigmoid_prime", h), slope)


ON_OBJECT = """
Net = type("Net", (MLP,), {name.split(".")[1]: function for name, function in __stand_ins__.items()})
net = object.__new__(Net)
vars(net).update(state)
"""
FEED_FORWARD = ON_OBJECT + """
output = net.feed_forward(batch.copy())
result = [output, list(net.layers), list(net.evaluate(state["x_val"].copy(), state["y_val"].copy()))]
"""


@check
def mlp_feed_forward(t: Trial) -> None:
    """MLP.feed_forward and MLP.evaluate"""
    batch = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    cases = [({"layer_sizes": [3, 2, 2], "layers": [None] * 3, "x_val": batch, "y_val": np.eye(2),
               "weights": [np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.0]]), np.eye(2)]}, batch)]
    cases += [_mlp_state(t, 8, hidden, 4, m, 5) for hidden, m in [((6, 5), 4), ((9, 4, 3), 7), ((), 3)]]
    for state, batch in cases:
        m = len(batch)
        network = f"a {'-'.join(map(str, state['layer_sizes']))} network"
        output, layers, scores = t.student.run(FEED_FORWARD, "MLP.feed_forward", state=state, batch=batch)
        want_output, want_layers, want_scores = t.reference.run(FEED_FORWARD, "MLP.feed_forward", state=state,
                                                                batch=batch)
        t.close(f"feed_forward output of {network} on a batch of {m}", output, want_output)
        t.expect(type(layers) is list and len(layers) == len(want_layers),
                 f"{network}: self.layers must hold one array per layer")
        for i, (g, w) in enumerate(zip(layers, want_layers, strict=True)):
            t.close(f"self.layers[{i}] after feed_forward of {network} on a batch of {m}", g, w)
        t.expect(type(scores) is list and len(scores) == 2, "evaluate must return (loss, accuracy)")
        t.close(f"evaluate loss of {network}", t.number("the loss", scores[0]), want_scores[0])
        t.close(f"evaluate accuracy of {network}", t.number("the accuracy", scores[1]), want_scores[1])


BACK_PROP = ON_OBJECT + """
net.back_prop(targets.copy(), lr)
result = list(net.weights)
"""


@check
def mlp_back_prop(t: Trial) -> None:
    """MLP.back_prop"""
    example = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    cases = [({"layer_sizes": [3, 2], "layers": [None] * 2, "y": np.array([[0.0, 1.0], [0.0, 1.0]]),
               "weights": [np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.0]])]}, example, 0.5)]
    cases += [(*_mlp_state(t, 8, hidden, 3, m, 2), lr)
              for hidden, m, lr in [((6, 5), 4, 0.7), ((9,), 7, 1.5), ((5, 4, 6), 3, 0.3), ((), 5, 1.0)]]
    for state, batch, lr in cases:
        m = len(batch)
        state["layers"] = t.reference.run(ON_OBJECT + "net.feed_forward(batch)\nresult = net.layers",
                                          "the reference's forward pass", state=state, batch=batch)
        label = f"a {'-'.join(map(str, state['layer_sizes']))} network, batch of {m}, lr {lr}"
        got = t.student.run(BACK_PROP, "MLP.back_prop", stand_ins=("MLP.sigmoid_prime",), state=state,
                            targets=state["y"], lr=lr)
        want = t.reference.run(BACK_PROP, "MLP.back_prop", state=state, targets=state["y"], lr=lr)
        t.expect(type(got) is list and len(got) == len(want), f"{label}: self.weights must keep one matrix per layer")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            t.close(f"weights[{i}] after back_prop of {label}", g, w)


TRAIN = ON_OBJECT + """
history = net.train(batch_size=batch_size, epochs=epochs, lr=lr)
result = [history, list(net.weights)]
"""
EVALUATE = ON_OBJECT + "result = [list(net.evaluate(net.x, net.y)), list(net.evaluate(net.x_val, net.y_val))]"
HISTORY = ("train_loss", "val_loss", "train_acc", "val_acc", "epoch_time")
CARRIED = ("layer_sizes", "weights", "layers")  # what the reference's methods read from self; the data stays


@check
def mlp_train(t: Trial) -> None:
    """MLP.train"""
    epochs, batch_size, lr = 5, 32, 2.0
    state, _ = _mlp_state(t, 6, (8,), 3, 240, 90)
    before = t.reference.run(EVALUATE, "the reference's evaluation", state=state)[1][1]
    served = []
    history, weights = t.student.run(
        TRAIN, "MLP.train", served=served, carried=CARRIED, state=state, batch_size=batch_size, epochs=epochs,
        lr=lr,
        stand_ins=tuple(f"MLP.{m}" for m in ("feed_forward", "back_prop", "evaluate", "init_layers", "one_hot",
                                             "init_weights", "sigmoid_prime")))
    orders = _training_orders(t, served, state, epochs, lr)
    for epoch, order in enumerate(orders):
        t.expect(order != sorted(order), f"epoch {epoch + 1} used the samples in their stored order: shuffle them")
        t.expect(epoch == 0 or order != orders[epoch - 1], f"epoch {epoch + 1} used the same order as the one "
                 "before: shuffle again every epoch")
    t.expect(type(history) is dict, "train must return the history dict")
    for key in HISTORY:
        entries = history.get(key)
        t.expect(type(entries) is list and len(entries) == epochs, f"history['{key}'] must have one entry per epoch "
                 f"({epochs}), has {len(entries) if type(entries) is list else 'none'}")
    times = [t.number("history['epoch_time']", v) for v in history["epoch_time"]]
    t.expect(all(v > 0 for v in times), "history['epoch_time'] must hold the positive time of each epoch")
    final = t.reference.run(EVALUATE, "the trained weights", about_student=True, state={**state, "weights": weights})
    for (loss, accuracy), part in zip(final, ("train", "val"), strict=True):
        t.close(f"history['{part}_loss'] after the last epoch", t.number("the loss", history[f"{part}_loss"][-1]), loss)
        t.close(f"history['{part}_acc'] after the last epoch", t.number("the accuracy", history[f"{part}_acc"][-1]),
                accuracy)
    t.expect(final[1][1] >= max(0.75, before + 0.15), f"training should raise the validation accuracy: from "
             f"{before:.0%} to {final[1][1]:.0%} in {epochs} epochs")


def _training_orders(t: Trial, served: list, state: dict, epochs: int, lr: float) -> list[list]:
    """The order in which each epoch of train used the samples (rows of self.x), from the stand-in calls it
    made: a step is a feed_forward followed by a back_prop; each epoch must use every sample once, with its own
    targets and the learning rate given."""
    rows = {row.tobytes(): i for i, row in enumerate(state["x"])}
    n = len(state["x"])
    runs, steps, previous = [], [], None
    for request in served:
        name = request["stand_in"]
        if name == "MLP.back_prop" and previous is not None and previous["stand_in"] == "MLP.feed_forward":
            batch = t.array("a training minibatch", previous["args"][0] if previous["args"] else None)
            t.expect(batch.ndim == 2 and batch.shape[1] == state["x"].shape[1], f"train fed feed_forward an array "
                     f"of shape {batch.shape}; expected (batch_size, {state['x'].shape[1]})")
            indices = [rows.get(row.tobytes()) for row in batch]
            t.expect(None not in indices, "train must feed the network rows of self.x")
            args = request["args"]
            t.expect(len(args) == 2, "train must call back_prop(batch_y, lr)")
            t.close("the targets given to back_prop", args[0], state["y"][indices])
            t.close("the learning rate given to back_prop", t.number("the learning rate", args[1]), lr)
            steps.append(indices)
        elif name != "MLP.feed_forward" and steps:
            runs.append(steps)
            steps = []
        previous = request
    if steps:
        runs.append(steps)
    if len(runs) != epochs:  # the epochs are not set apart by evaluations: cut the steps every n samples
        flat, runs, count = [s for run in runs for s in run], [], 0
        for step in flat:
            if count % n == 0:
                runs.append([])
            runs[-1].append(step)
            count += len(step)
    t.expect(len(runs) == epochs, f"train ran {len(runs)} epochs of minibatch steps; expected {epochs}")
    orders = [[i for step in run for i in step] for run in runs]
    for epoch, order in enumerate(orders):
        t.expect(sorted(order) == list(range(n)), f"epoch {epoch + 1}: back_prop saw {len(order)} samples "
                 f"({len(set(order))} different); each epoch must use all {n} exactly once")
    return orders


# --- (e) the hyperparameter table ---------------------------------------------------------------------------
# Retraining every setting would cost what the student's run cost, and training shuffles with the global RNG, so
# it could not be reproduced anyway. What can be checked cheaply is that the table is honest: distinct settings,
# one result each, weights of the setting's architecture, and numbers that are what those weights measure. They
# are measured with the student's own MLP (its evaluate, on the data its __init__ sets up), so a mistake in the
# MLP, judged by its own cells, does not cost these points too, and a table that reports anything else does.

TUNING_RESULTS = """
entries = results if type(results) is list else None
summaries = None if entries is None else [
    {"keys": sorted(map(str, entry)), "train_loss": entry.get("train_loss"), "test_error": entry.get("test_error"),
     "shapes": [list(np.shape(w)) for w in entry.get("weights", [])]} if type(entry) is dict else None
    for entry in entries]
result = [summaries, N_TUNE, TUNE_EPOCHS]
"""
TUNING_EVALUATE = """
result = []
for setting, entry in zip(settings, results):
    net = MLP(x_train[:N_TUNE], y_train[:N_TUNE], x_test, y_test, hidden_sizes=tuple(setting["hidden_sizes"]),
              fix_seed=True)
    net.weights = list(entry["weights"])
    result.append([list(net.evaluate(net.x, net.y)), list(net.evaluate(net.x_val, net.y_val))])
"""
SETTING_KEYS = ("lr", "batch_size", "hidden_sizes")
RESULT_KEYS = ("train_loss", "test_error", "weights")


def _setting(t: Trial, number: int, setting) -> tuple[float, int, tuple[int, ...]]:
    t.expect(type(setting) is dict and set(SETTING_KEYS) <= set(setting),
             f"setting {number} must be a dict with the keys {', '.join(SETTING_KEYS)}")
    lr = t.number(f"setting {number}: lr", setting["lr"])
    batch_size = t.number(f"setting {number}: batch_size", setting["batch_size"])
    hidden = t.array(f"setting {number}: hidden_sizes", setting["hidden_sizes"])
    t.expect(lr > 0, f"setting {number}: the learning rate must be positive")
    t.expect(batch_size.is_integer() and batch_size >= 1, f"setting {number}: the batch size must be a positive "
             "whole number")
    t.expect(hidden.ndim == 1 and bool(np.all(hidden >= 1)) and bool(np.all(hidden == np.round(hidden))),
             f"setting {number}: hidden_sizes must be a tuple of positive whole numbers")
    return lr, int(batch_size), tuple(int(n) for n in hidden)


def _one(t: Trial, label: str, value) -> float:
    """One number, inf and nan allowed: a diverged setting is an honest result if it is reported as measured."""
    array = t.array(label, value)
    t.expect(array.size == 1, f"{label}: expected a single number, got {array.size}")
    return float(array.reshape(()))


def _agree(reported: float, measured: float) -> bool:
    return bool(np.isclose(reported, measured, rtol=1e-6, atol=1e-9, equal_nan=True))


@check
def tuning(t: Trial) -> None:
    """the hyperparameter table"""
    settings = t.student.value("settings")
    t.expect(type(settings) is list and len(settings) >= 3, "settings must be a list of at least three settings"
             + (f"; it has {len(settings)}" if type(settings) is list else ""))
    parsed = [_setting(t, number, setting) for number, setting in enumerate(settings, 1)]
    t.expect(len(set(parsed)) == len(parsed), "two of the settings are the same: each must differ from the others "
             "in lr, batch_size or hidden_sizes")
    entries, n_tune, epochs = t.student.run(TUNING_RESULTS, "results")
    n_tune, epochs = t.number("N_TUNE", n_tune), t.number("TUNE_EPOCHS", epochs)
    t.expect(type(entries) is list and len(entries) == len(settings),
             f"results must be a list with one dict per setting ({len(settings)}), in the order of settings")
    described = [f"setting {number} (lr {lr:g}, batch_size {batch_size}, hidden_sizes {hidden})"
                 for number, (lr, batch_size, hidden) in enumerate(parsed, 1)]
    reported = []
    for label, (_, _, hidden), entry in zip(described, parsed, entries, strict=True):
        t.expect(type(entry) is dict and set(RESULT_KEYS) <= set(entry["keys"]),
                 f"{label}: its result must be a dict with the keys {', '.join(RESULT_KEYS)}")
        sizes = [784, *hidden, 10]
        t.expect(entry["shapes"] == [[a, b] for a, b in zip(sizes[:-1], sizes[1:], strict=False)],
                 f"{label}: the weights in its result have shapes {entry['shapes']}, not those of a "
                 f"{'-'.join(map(str, sizes))} network")
        curve = t.array(f"{label}: train_loss", entry["train_loss"])
        t.expect(curve.ndim == 1 and len(curve) == epochs, f"{label}: train_loss must hold the training loss after "
                 f"each of the {epochs:.0f} epochs; it has {len(curve) if curve.ndim == 1 else 'no list of'} values")
        error = _one(t, f"{label}: test_error", entry["test_error"])
        t.expect(0 <= error <= 1, f"{label}: test_error must be a fraction between 0 and 1, is {error:g}")
        reported.append((float(curve[-1]), error))
    measured = t.student.run(TUNING_EVALUATE, "MLP.evaluate on the weights in results")
    for label, (final_loss, error), ((train_loss, _), (_, test_accuracy)) in zip(described, reported, measured,
                                                                                strict=True):
        train_loss, test_accuracy = _one(t, "the training loss", train_loss), _one(t, "the accuracy", test_accuracy)
        t.expect(_agree(final_loss, train_loss), f"{label}: the last value of train_loss, {final_loss:.4g}, is not the "
                 f"loss of its weights on the {n_tune:.0f} training images x_train[:N_TUNE] (off by "
                 f"{abs(final_loss - train_loss):.2g})")
        t.expect(_agree(error, 1 - test_accuracy), f"{label}: test_error, {error:.4g}, is not 1 minus the accuracy of "
                 f"its weights on the test set x_test (off by {abs(error - (1 - test_accuracy)):.2g})")
