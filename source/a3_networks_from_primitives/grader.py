"""Hidden checks of assignment 3, judged by the grader (instructor only: never released, never in a kernel).

Each function is called on tensors the grader draws; values and gradients (computed with autograd in each kernel)
are compared with the reference kernel's. "Without the library's function" is read from the submitted source.
Tests of functions built on others (model1, network, evaluate, fit) stand the reference's versions in for the
student's, so one mistake costs points once; train_epoch's stand-ins are differentiable, and its minibatches and
updates are read from the requests they made. The settings are judged by the NumPy trainer below, run in the grader.
"""

import numpy as np

from dlcourse.data import load_digits
from dlcourse.judge import TensorData, Trial, check

SIGMOIDS = {"sigmoid", "sigmoid_", "expit"}
RELUS = {"relu", "relu_"}
LIBRARY_BCE = {"binary_cross_entropy", "binary_cross_entropy_with_logits"}


def _tensor(array, dtype=None, requires_grad: bool = False) -> TensorData:
    array = np.asarray(array)
    return TensorData(array.astype(dtype) if dtype else array, requires_grad)


def _not_calling(t: Trial, function: str, forbidden: set, what: str) -> None:
    used = sorted(t.names_used(function) & forbidden)
    t.expect(not used, f"{function} must not call {what} (it uses {', '.join(used)})")


# Values and gradients of an elementwise function, computed in each kernel.
ELEMENTWISE = """
import warnings
leaf = x.detach().clone().requires_grad_(True)
untouched = x.detach().clone()
with warnings.catch_warnings():
    warnings.simplefilter("error")
    out = FUNCTION(leaf)
    result = {"out": out, "requires_grad": bool(getattr(out, "requires_grad", False)), "grad": None,
              "input": leaf.detach()}
    if result["requires_grad"]:
        out.sum().backward()
        result["grad"] = leaf.grad
"""


def _elementwise(t: Trial, function: str, label: str, x: TensorData) -> tuple[dict, dict]:
    code = ELEMENTWISE.replace("FUNCTION", function)
    got, want = t.student.run(code, function, x=x), t.reference.run(code, function, x=x)
    t.expect(type(got["out"]) is TensorData, f"{function} must return a torch tensor")
    t.expect(got["out"].shape == x.shape, f"{function} of a tensor of shape {x.shape} has shape {got['out'].shape}")
    t.expect(got["out"].array.dtype == x.array.dtype,
             f"{function} of a {x.array.dtype} tensor returns {got['out'].array.dtype}")
    t.close(label, got["out"], want["out"], rtol=1e-6, atol=1e-6)
    return got, want


@check
def sigmoid(t: Trial) -> None:
    """sigmoid"""
    cases = [("float32", (3,), None)] + [(dtype, shape, scale) for shape, dtype, scale in
                                         [((5, 7), "float32", 6.0), ((13,), "float64", 10.0),
                                          ((2, 3, 4), "float32", 3.0), ((), "float64", 1.0)]]
    for dtype, shape, scale in cases:
        x = np.array([0.0, 2.0, -2.0]) if scale is None else scale * t.rng.standard_normal(shape)
        _elementwise(t, "sigmoid", f"sigmoid of a {dtype} tensor of shape {shape}", _tensor(x, dtype))
    _not_calling(t, "sigmoid", SIGMOIDS, "torch.sigmoid or its aliases")


@check
def sigmoid_extreme(t: Trial) -> None:
    """sigmoid at extreme inputs"""
    points = np.concatenate([np.linspace(-1000, 1000, 1000),
                             [-1000, -745.5, -709.9, -100, -88.9, -30, 30, 88.9, 100, 709.9, 745.5, 1000]])
    for dtype in ("float32", "float64"):
        label = f"{dtype} inputs in [-1000, 1000]"
        got, want = _elementwise(t, "sigmoid", f"sigmoid of {label}", _tensor(points, dtype))
        t.expect(got["requires_grad"], "sigmoid must be built from torch operations that autograd can follow")
        t.expect(bool(np.isfinite(got["grad"].array).all()), f"the gradient of sigmoid has nan or inf for {label}")
        t.close(f"gradient of sigmoid for {label}", got["grad"], want["grad"], rtol=1e-5, atol=1e-6)
    _not_calling(t, "sigmoid", SIGMOIDS, "torch.sigmoid or its aliases")


@check
def relu(t: Trial) -> None:
    """relu"""
    cases = [(np.array([-2.0, 0.0, 3.0]), "float32")]
    cases += [(t.rng.standard_normal(shape), dtype) for shape, dtype in [((6, 4), "float64"), ((17,), "float32"),
                                                                         ((2, 3, 5), "float64")]]
    for x, dtype in cases:
        x = _tensor(x, dtype)
        got, want = _elementwise(t, "relu", f"relu of a {dtype} tensor of shape {x.shape}", x)
        t.expect(np.array_equal(got["input"].array, x.array), "relu must not change its input")
        smooth = x.array != 0  # at 0 any value in [0, 1] is a gradient of relu
        t.close(f"gradient of relu for a tensor of shape {x.shape}", t.array("the gradient", got["grad"])[smooth],
                t.array("the gradient", want["grad"])[smooth])
    _not_calling(t, "relu", RELUS, "torch.relu or its aliases")


LOSS = """
leaf = prediction.detach().clone().requires_grad_(True)
loss = FUNCTION(y, leaf)
result = {"numel": int(loss.numel()), "loss": loss.reshape(()), "grad": None}
loss.reshape(()).backward()
result["grad"] = leaf.grad
"""


def _loss(t: Trial, function: str, label: str, y, prediction, rtol: float = 1e-6, atol: float = 1e-9,
          gradient_rtol: float = 1e-5) -> dict:
    code = LOSS.replace("FUNCTION", function)
    inputs = {"y": _tensor(y), "prediction": _tensor(prediction)}
    got, want = t.student.run(code, function, **inputs), t.reference.run(code, function, **inputs)
    t.expect(got["numel"] == 1, f"{function} must return a single number (the mean)")
    t.close(f"{function} for {label}", got["loss"], want["loss"], rtol=rtol, atol=atol)
    t.expect(got["grad"] is not None and bool(np.isfinite(got["grad"].array).all()),
             f"the gradient of {function} for {label} has nan or inf")
    t.close(f"gradient of {function} for {label}", got["grad"], want["grad"], rtol=gradient_rtol, atol=atol)
    return got


@check
def bce_loss(t: Trial) -> None:
    """bce_loss"""
    _loss(t, "bce_loss", "the example", np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.9, 0.2, 0.6, 0.5]))
    for shape, soft in [((9,), False), ((3, 5), False), ((12,), True), ((1,), False)]:
        y = t.rng.random(shape) if soft else (t.rng.random(shape) < 0.5) * 1.0
        _loss(t, "bce_loss", f"{'soft' if soft else 'hard'} labels of shape {shape}", y,
              t.rng.uniform(1e-4, 1 - 1e-4, size=shape))
    _not_calling(t, "bce_loss", LIBRARY_BCE, "the library's binary_cross_entropy")


BCE_VALUE = "result = float(bce_loss_stable(y, prediction))"


@check
def bce_stable(t: Trial) -> None:
    """bce_loss_stable"""
    for shape in [(11,), (4, 3)]:
        _loss(t, "bce_loss_stable", f"predictions in [0.01, 0.99], shape {shape}", (t.rng.random(shape) < 0.5) * 1.0,
              t.rng.uniform(0.01, 0.99, size=shape), rtol=1e-4, atol=1e-6, gradient_rtol=1e-3)
    for n in (1, 7):
        y = _tensor((t.rng.random(n) < 0.5) * 1.0)
        perfect = t.number("loss", t.student.run(BCE_VALUE, "bce_loss_stable", y=y, prediction=y))
        t.expect(abs(perfect) < 1e-6, f"bce_loss_stable of a perfect prediction of {n} labels is not 0 "
                 "(to within 1e-6)")
        wrong = t.number("loss", t.student.run(BCE_VALUE, "bce_loss_stable", y=y, prediction=_tensor(1 - y.array)))
        t.expect(wrong > 10, f"bce_loss_stable of {n} completely wrong predictions is {wrong:.3g}: far too small")
    edges = LOSS.replace("FUNCTION", "bce_loss_stable")
    got = t.student.run(edges, "bce_loss_stable", y=_tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.3, 0.7]),
                        prediction=_tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.25, 0.0, 1.0]))
    t.expect(bool(np.isfinite(t.array("loss", got["loss"])).all()),
             "bce_loss_stable is not finite for predictions of exactly 0 and 1")
    t.expect(got["grad"] is not None and bool(np.isfinite(got["grad"].array).all()),
             "the gradient of bce_loss_stable has nan or inf for predictions of exactly 0 and 1")
    _not_calling(t, "bce_loss_stable", LIBRARY_BCE, "the library's binary_cross_entropy")


@check
def bce_with_logits(t: Trial) -> None:
    """bce_with_logits"""
    extreme = np.array([-1000.0, -100.0, -40.0, -20.5, -5.0, 5.0, 20.5, 40.0, 100.0, 1000.0])
    cases = [("the example", np.array([2.0, -1.0, -3.0, 40.0]), np.array([1.0, 0.0, 1.0, 0.0])),
             ("logits +-1000 with the right labels", np.array([1000.0, -1000.0]), np.array([1.0, 0.0])),
             ("random logits, shape (9,)", t.rng.normal(0, 4, size=9), (t.rng.random(9) < 0.5) * 1.0),
             ("random logits, shape (4, 6), soft labels", t.rng.normal(0, 4, size=(4, 6)), t.rng.random((4, 6))),
             ("extreme logits, labels 1", extreme, np.ones(10)), ("extreme logits, labels 0", extreme, np.zeros(10)),
             ("extreme logits, soft labels", extreme, t.rng.random(10))]
    for label, z, y in cases:
        _loss(t, "bce_with_logits", label, y, z)
    _not_calling(t, "bce_with_logits", LIBRARY_BCE, "the library's binary_cross_entropy functions")


GRADIENT = """
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("error")
    out = bce_logits_gradient(y, logits)
result = {"out": out, "logits": logits, "y": y}
"""
AUTOGRAD = {"backward", "autograd", "grad"}


@check
def bce_logits_gradient(t: Trial) -> None:
    """bce_logits_gradient"""
    extreme = np.array([-1000.0, -100.0, -40.0, -5.0, 0.0, 5.0, 40.0, 100.0, 1000.0])
    cases = [("the example", np.array([[2.0, -1.0, 0.5], [-3.0, 0.2, -40.0]]),
              np.array([[1.0, 0.0, 1.0], [0.0, 0.3, 1.0]]), "float64")]
    for shape, soft, dtype in [((9,), False, "float64"), ((4, 6), True, "float64"), ((2, 3, 5), False, "float32"),
                               ((1,), False, "float64"), ((7, 2), False, "float32")]:
        y = t.rng.random(shape) if soft else (t.rng.random(shape) < 0.5) * 1.0
        cases.append((f"random logits of shape {shape} ({dtype}, {'soft' if soft else 'hard'} labels)",
                      t.rng.normal(0, 4, size=shape), y, dtype))
    cases.append(("extreme logits, soft labels", extreme, t.rng.random(len(extreme)), "float64"))
    for label, z, y, dtype in cases:
        inputs = {"y": _tensor(y, dtype), "logits": _tensor(z, dtype)}
        got = t.student.run(GRADIENT, "bce_logits_gradient", stand_ins=("sigmoid",), **inputs)
        want = t.reference.run(GRADIENT, "bce_logits_gradient", **inputs)
        out = got["out"]
        t.expect(type(out) is TensorData, "bce_logits_gradient must return a torch tensor")
        t.expect(out.shape == z.shape, f"the gradient for logits of shape {z.shape} has shape {out.shape}")
        t.expect(np.array_equal(got["logits"].array, inputs["logits"].array)
                 and np.array_equal(got["y"].array, inputs["y"].array),
                 "bce_logits_gradient must not change its inputs")
        t.close(f"bce_logits_gradient for {label}", out, want["out"], rtol=1e-5, atol=1e-8)
    used = sorted(t.names_used("bce_logits_gradient") & AUTOGRAD)
    t.expect(not used, "bce_logits_gradient must compute the formula of (b2), not ask autograd "
             f"(it uses {', '.join(used)})")


@check
def model1(t: Trial) -> None:
    """model1"""
    cases = [(np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]), np.array([0.5, -0.25]), 0.1, False)]
    for n, d, tensor_bias in [(7, 3, True), (1, 5, False), (20, 64, True)]:
        cases.append((t.rng.normal(size=(n, d)), t.rng.normal(size=d) / np.sqrt(d), float(t.rng.normal()), tensor_bias))
    for x, w, b, tensor_bias in cases:
        inputs = {"x": _tensor(x), "w": _tensor(w), "b": _tensor(np.array(b)) if tensor_bias else b}
        got = t.student.run("result = model1(x, w, b)", "model1", stand_ins=("sigmoid",), **inputs)
        want = t.reference.run("result = model1(x, w, b)", "model1", **inputs)
        t.close(f"model1 on {len(x)} samples with {x.shape[1]} features", got, want)


@check
def model1_input_gradient(t: Trial) -> None:
    """model1_input_gradient"""
    cases = [("the example", np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]), np.array([0.5, -0.25]), 0.1,
              np.array([1.0, 0.0, 0.0]), "float64", False)]
    for n, d, soft, dtype, tensor_bias in [(5, 3, False, "float64", True), (1, 4, True, "float64", False),
                                           (12, 64, False, "float32", True), (7, 2, True, "float32", False)]:
        y = t.rng.random(n) if soft else (t.rng.random(n) < 0.5) * 1.0
        cases.append((f"{n} random samples of {d} features ({dtype}, {'soft' if soft else 'hard'} labels)",
                      t.rng.normal(size=(n, d)), t.rng.normal(0, 2, size=d), float(t.rng.normal()), y, dtype,
                      tensor_bias))
    for label, x, w, b, y, dtype, tensor_bias in cases:
        inputs = {"x": _tensor(x, dtype), "w": _tensor(w, dtype), "y": _tensor(y, dtype),
                  "b": _tensor(np.array(b), dtype) if tensor_bias else b}
        code = "result = model1_input_gradient(x, w, b, y)"
        got = t.student.run(code, "model1_input_gradient", stand_ins=("sigmoid", "bce_logits_gradient", "model1"),
                            **inputs)
        want = t.reference.run(code, "model1_input_gradient", **inputs)
        t.expect(type(got) is TensorData, "model1_input_gradient must return a torch tensor")
        t.expect(got.shape == x.shape, f"the gradient for inputs of shape {x.shape} has shape {got.shape}")
        tolerance = {"rtol": 1e-4, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-7, "atol": 1e-12}
        t.close(f"model1_input_gradient for {label}", got, want, **tolerance)
    used = sorted(t.names_used("model1_input_gradient") & AUTOGRAD)
    t.expect(not used, f"model1_input_gradient must compute the chain rule's formula, not ask autograd "
             f"(it uses {', '.join(used)})")


# Layers as data (weights, biases, activation name); each kernel makes them tensors with its own activations.
LAYERS = """
activations = {"relu": relu, "sigmoid": sigmoid, "tanh": torch.tanh, "identity": identity}
params = [(w, b, activations[kind]) for w, b, kind in layers]
"""


@check
def network(t: Trial) -> None:
    """network"""
    cases = [(np.array([[1.0, 1.0], [-1.0, 2.0]]),
              [(np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([0.0, 1.0]), "relu"),
               (np.array([[1.0], [-1.0]]), np.array([0.5]), "identity")])]
    for sizes, kinds in [([5, 7, 3, 1], ["relu", "tanh", "sigmoid"]), ([6, 2, 4], ["relu", "identity"]),
                         ([3, 1], ["identity"]), ([4, 9, 3], ["sigmoid", "relu"])]:
        layers = [(t.rng.normal(size=(a, b)), t.rng.normal(size=b), kind)
                  for a, b, kind in zip(sizes[:-1], sizes[1:], kinds, strict=True)]
        cases += [(t.rng.normal(size=(n, sizes[0])), layers) for n in (1, 5)]
    for x, layers in cases:
        data = [[_tensor(w), _tensor(b), kind] for w, b, kind in layers]
        code = LAYERS + "result = network(x, params)"
        got = t.student.run(code, "network", stand_ins=("relu", "sigmoid"), x=_tensor(x), layers=data)
        want = t.reference.run(code, "network", x=_tensor(x), layers=data)
        sizes = [layers[0][0].shape[0]] + [w.shape[1] for w, _, _ in layers]
        t.close(f"network {'-'.join(map(str, sizes))} ({', '.join(k for _, _, k in layers)}) on a batch of {len(x)}",
                got, want)


MAKE_LAYER = """
w, b, activation = make_layer(d_in, d_out, torch.tanh)
result = {"w": w.detach(), "b": b.detach(), "same_activation": activation is torch.tanh}
"""


@check
def make_layer(t: Trial) -> None:
    """make_layer"""
    for d_in, d_out in [(64, 32), (600, 200), (200, 600)]:
        label = f"make_layer({d_in}, {d_out})"
        got = t.student.run(MAKE_LAYER, "make_layer", d_in=d_in, d_out=d_out)
        w, b = got["w"], got["b"]
        t.expect(type(w) is TensorData and type(b) is TensorData, f"{label} must return tensors")
        t.expect(w.shape == (d_in, d_out) and b.shape == (d_out,), f"{label}: shapes {w.shape} and {b.shape}")
        t.expect(w.array.dtype == np.float64 and b.array.dtype == np.float64, "weights and biases must be float64")
        t.expect(got["same_activation"] is True, "make_layer must return the activation it was given")
        t.expect(bool((b.array == 0).all()), "biases must start at zero")
        he = (2.0 / d_in) ** 0.5
        std, mean = float(w.array.std()), float(w.array.mean())
        tolerance = 0.3 if d_in * d_out < 10_000 else 0.03
        t.expect(abs(std / he - 1) < tolerance, f"{label}: the weights' standard deviation is {std / he:.3f} times the "
                 "He value")
        t.expect(abs(mean) < 0.02 * he or d_in * d_out < 10_000, f"{label}: the weights are not centred at 0")
    first = t.student.run(MAKE_LAYER, "make_layer", d_in=50, d_out=40)["w"].array
    second = t.student.run(MAKE_LAYER, "make_layer", d_in=50, d_out=40)["w"].array
    t.expect(not np.array_equal(first, second), "two calls of make_layer must draw different random weights")


EVALUATE = LAYERS + """
result = list(evaluate(params, x, y))
result.append([w.grad is None and b.grad is None for w, b, _ in params])
result.append([bool(getattr(value, "requires_grad", False)) for value in result[:2]])
"""


@check
def evaluate(t: Trial) -> None:
    """evaluate"""
    x_example = t.rng.normal(size=(40, 64))
    cases = [("a constant network", x_example, (t.rng.random(40) < 0.5) * 1.0,
              [(np.zeros((64, 1)), np.array([0.1]), "sigmoid")])]
    for n, sizes in [(37, [5, 4, 1]), (12, [3, 1])]:
        layers = [(t.rng.normal(size=(a, b)), t.rng.normal(size=b), "relu")
                  for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        layers[-1] = (*layers[-1][:2], "sigmoid")
        cases.append((f"a {'-'.join(map(str, sizes))} network on {n} samples", t.rng.normal(size=(n, sizes[0])),
                      (t.rng.random(n) < 0.5) * 1.0, layers))
    for label, x, y, layers in cases:
        data = [[_tensor(w, requires_grad=True), _tensor(b, requires_grad=True), kind] for w, b, kind in layers]
        inputs = {"x": _tensor(x), "y": _tensor(y), "layers": data}
        got = t.student.run(EVALUATE, "evaluate", stand_ins=("network", "bce_loss_stable", "bce_loss", "sigmoid",
                                                             "relu"), **inputs)
        t.expect(len(got) == 4, "evaluate must return (loss, accuracy)")
        want = t.reference.run(EVALUATE, "evaluate", **inputs)
        t.expect(not any(got[3]), "evaluate must not build a graph: use torch.no_grad()")
        t.close(f"loss of {label}", t.number("the loss", got[0]), want[0])
        t.close(f"accuracy of {label}", t.number("the accuracy", got[1]), want[1])
        t.expect(all(got[2]), "evaluate must not compute gradients")


# experiment_networks with make_layer replaced by a correct He layer (a mistake in make_layer costs its own
# points only) and relu and sigmoid answered by the reference: each activation is described by its values on a probe.
EXPERIMENTS = """
def he_layer(d_in, d_out, activation):
    w = torch.randn(d_in, d_out, dtype=torch.float64) * (2.0 / d_in) ** 0.5
    return w, torch.zeros(d_out, dtype=torch.float64), activation


saved = __student__.get("make_layer")
__student__["make_layer"] = he_layer
try:
    runs = [experiment_networks(seed), experiment_networks(seed), experiment_networks(seed + 1)]
finally:
    __student__["make_layer"] = saved
probe = torch.linspace(-3, 3, 13, dtype=torch.float64)


def describe(networks):
    if not isinstance(networks, dict):
        return type(networks).__name__
    return {str(name): [{"w": w.detach(), "b": b.detach(), "probe": activation(probe.clone())}
                        for w, b, activation in layers] for name, layers in networks.items()}


result = [describe(networks) for networks in runs]
"""
EXPERIMENT_NETWORKS = {"one layer 64-1": ([64, 1], ["sigmoid"]),
                       "two linear layers 64-32-1": ([64, 32, 1], ["identity", "sigmoid"]),
                       "64-32-1 with ReLU": ([64, 32, 1], ["relu", "sigmoid"]),
                       "four layers 64-64-32-16-1": ([64, 64, 32, 16, 1], ["relu", "relu", "relu", "sigmoid"])}
ACTIVATION_NAMES = {"identity": "no activation (identity)", "relu": "ReLU", "sigmoid": "a sigmoid"}


def _acts_as(t: Trial, values, probe: np.ndarray) -> str | None:
    """Which of identity, relu and sigmoid gives these values on the probe (None: none of them)."""
    values = t.array("the activation's values", values)
    if values.shape != probe.shape:
        return None
    known = {"identity": probe, "relu": np.maximum(probe, 0), "sigmoid": 1 / (1 + np.exp(-probe))}
    return next((kind for kind, want in known.items() if np.allclose(values, want, rtol=1e-6, atol=1e-9)), None)


@check
def experiment_networks(t: Trial) -> None:
    """experiment_networks"""
    seed = int(t.rng.integers(1, 2**20))
    runs = t.student.run(EXPERIMENTS, "experiment_networks", stand_ins=("relu", "sigmoid"), seed=seed)
    t.expect(type(runs[0]) is dict, f"experiment_networks must return a dict, not {runs[0]}")
    t.expect(sorted(runs[0]) == sorted(EXPERIMENT_NETWORKS),
             f"experiment_networks must return the keys {sorted(EXPERIMENT_NETWORKS)}, not {sorted(runs[0])[:6]}")
    probe = np.linspace(-3, 3, 13)
    weights = []
    for name, (sizes, kinds) in EXPERIMENT_NETWORKS.items():
        layers = runs[0][name]
        t.expect(type(layers) is list and len(layers) == len(kinds),
                 f"{name}: {len(kinds)} layer(s) expected, got {len(layers) if type(layers) is list else layers}")
        scaled = []
        for k, (layer, d_in, d_out, kind) in enumerate(zip(layers, sizes[:-1], sizes[1:], kinds, strict=True)):
            w, b = t.array("the weights", layer["w"]), t.array("the biases", layer["b"])
            t.expect(w.shape == (d_in, d_out) and b.shape == (d_out,), f"{name}, layer {k + 1}: weights {w.shape} "
                     f"and biases {b.shape}, expected {(d_in, d_out)} and {(d_out,)}")
            t.expect(bool((b == 0).all()), f"{name}, layer {k + 1}: the biases must start at zero")
            acts = _acts_as(t, layer["probe"], probe)
            t.expect(acts == kind, f"{name}, layer {k + 1}: the activation must be {ACTIVATION_NAMES[kind]}, but "
                     f"it acts as {ACTIVATION_NAMES.get(acts, 'none of identity, ReLU and sigmoid')}")
            scaled.append((w / np.sqrt(2.0 / d_in)).ravel())
            weights.append(w)
        scaled = np.concatenate(scaled)
        spread = 5 / np.sqrt(2 * scaled.size)  # five standard errors of the sample's standard deviation
        t.expect(abs(scaled.std() - 1) < max(0.1, spread) and abs(scaled.mean()) < 5 / np.sqrt(scaled.size),
                 f"{name}: the weights are not He-initialized (their standard deviation is {scaled.std():.3f} "
                 "times sqrt(2 / d_in); use make_layer)")
    t.expect(not any(np.array_equal(a, b) for k, a in enumerate(weights) for b in weights[k + 1:]),
             "the networks must have layers of their own, each drawn at random")
    for label, other, same in (("the same seed", runs[1], True), ("another seed", runs[2], False)):
        t.expect(type(other) is dict and sorted(other) == sorted(runs[0]),
                 f"experiment_networks with {label} returns other keys")
        equal = all(np.array_equal(t.array("the weights", x["w"]), t.array("the weights", y["w"]))
                    for name in runs[0] for x, y in zip(runs[0][name], other[name], strict=False))
        t.expect(equal == same, f"experiment_networks with {label} must give {'the same' if same else 'other'} "
                 "weights: call seed_everything(seed) before drawing them")


# train_epoch with the reference's network and losses standing in: they are differentiable (their backward pass
# is the reference's), so train_epoch's own loss.backward(), update and clearing act on the parameters, and the
# grader reads each minibatch and the parameters it was computed at from the network's backward requests.
TRAIN_EPOCH = LAYERS + """
torch.manual_seed(seed)
for epoch in range(epochs):
    train_epoch(params, x, y, learning_rate, batch_size)
result = [[w.detach(), b.detach()] for w, b, _ in params]
"""
GRADIENTS = LAYERS + """
loss = bce_loss_stable(y, network(x, params))
result = list(torch.autograd.grad(loss, [t for w, b, _ in params for t in (w, b)]))
"""
STAND_INS = ("network", "bce_loss_stable", "bce_loss", "evaluate", "sigmoid", "relu")


def _problem(t: Trial, n: int, d: int, hidden: int) -> tuple[np.ndarray, np.ndarray, list]:
    x = t.rng.normal(size=(n, d))
    y = ((x[:, 0] - x[:, 1] + 0.3 * t.rng.normal(size=n)) > 0) * 1.0
    layers = [[0.5 * t.rng.normal(size=(d, hidden)), 0.1 * t.rng.normal(size=hidden), "relu"],
              [0.5 * t.rng.normal(size=(hidden, 1)), np.array([0.05]), "sigmoid"]]
    return x, y, layers


def _layers(layers: list) -> list:
    """Layers [w, b, kind] as data whose weights and biases require gradients."""
    return [[_tensor(w, requires_grad=True), _tensor(b, requires_grad=True), kind] for w, b, kind in layers]


def _train(t: Trial, x, y, layers, learning_rate: float, batch_size: int, epochs: int, served: list | None = None):
    """train_epoch run ``epochs`` times in the student's kernel: the parameters after, as [[w, b], ...]."""
    params = t.student.run(TRAIN_EPOCH, "train_epoch", stand_ins=STAND_INS, served=served, x=_tensor(x),
                           y=_tensor(y), layers=_layers(layers), learning_rate=learning_rate, batch_size=batch_size,
                           epochs=epochs, seed=int(t.rng.integers(2**31)))
    t.expect(type(params) is list and len(params) == len(layers), "train_epoch must keep the layers of params")
    return [[t.array("the weights", w), t.array("the biases", b)] for w, b in params]


def _minibatches(t: Trial, served: list, x: np.ndarray, batch_size: int) -> tuple[list, list]:
    """Each minibatch train_epoch differentiated the network on (its rows of x), and the parameters it was at."""
    rows = {row.tobytes(): i for i, row in enumerate(x)}
    batches, states = [], []
    for request in served:
        if request["stand_in"] != "network" or "vjp" not in request:
            continue
        batch, params = (request["args"] + [None, None])[:2]
        batch = t.array("a minibatch", batch)
        t.expect(batch.shape == (batch_size, x.shape[1]), f"minibatch {len(batches) + 1} has shape {batch.shape}, "
                 f"expected (batch_size, d) = {(batch_size, x.shape[1])}")
        indices = [rows.get(row.tobytes()) for row in batch]
        t.expect(None not in indices, "minibatches must be made of rows of x")
        batches.append(indices)
        states.append([[t.array("the weights", w), t.array("the biases", b)] for w, b, _ in params])
    n = len(x)
    t.expect(len(batches) == n // batch_size, f"with n = {n} samples and batch_size = {batch_size}, train_epoch made "
             f"{len(batches)} backward passes through the network; expected n // batch_size = {n // batch_size}")
    used = [i for batch in batches for i in batch]
    t.expect(len(set(used)) == len(used), "the minibatches of one epoch must not share samples")
    return batches, states


@check
def train_epoch(t: Trial) -> None:
    """train_epoch"""
    n, batch_size, learning_rate = 61, 8, 0.3
    x, y, layers = _problem(t, n, 5, 6)
    kinds = [kind for _, _, kind in layers]
    orders = []
    for epoch in range(2):
        served = []
        after = _train(t, x, y, layers, learning_rate, batch_size, 1, served)
        batches, states = _minibatches(t, served, x, batch_size)
        orders.append([i for batch in batches for i in batch])
        if epoch == 0:  # each update of the first epoch, against the reference's gradient of its minibatch
            cases = [{"x": _tensor(x[batch]), "y": _tensor(y[batch]),
                      "layers": _layers([[w, b, kind] for (w, b), kind in zip(state, kinds, strict=True)])}
                     for batch, state in zip(batches, states, strict=True)]
            gradients = t.reference.run_each(GRADIENTS, [f"the gradient at minibatch {k + 1}"
                                                         for k in range(len(cases))], cases)
            _updates(t, states + [after], gradients, learning_rate)
        layers = [[w, b, kind] for (w, b), kind in zip(after, kinds, strict=True)]
    t.expect(orders[0] != sorted(orders[0]), "the minibatches must be drawn at random (shuffle the samples)")
    t.expect(orders[1] != orders[0], "every epoch must draw new random minibatches")

    x, y, layers = _problem(t, 160, 4, 10)
    loss = LAYERS + "result = float(bce_loss_stable(y, network(x, params)))"
    before = t.number("the loss", t.reference.run(loss, "the loss", x=_tensor(x), y=_tensor(y),
                                                  layers=_layers(layers)))
    after = _train(t, x, y, layers, 0.4, 16, 2)
    trained = [[w, b, kind] for (w, b), (_, _, kind) in zip(after, layers, strict=True)]
    loss_after = t.number("the loss", t.reference.run(loss, "the loss", about_student=True, x=_tensor(x), y=_tensor(y),
                                                       layers=_layers(trained)))
    t.expect(loss_after < 0.8 * before, "two epochs of train_epoch do not lower the training loss of a simple "
             f"problem by a fifth (from {before:.3f} to {loss_after:.3f})")


def _updates(t: Trial, states: list, gradients: list, learning_rate: float) -> None:
    """Each step moved the parameters by -learning_rate times the gradient of its own minibatch."""
    total = None
    for k, grads in enumerate(gradients):
        grads = [t.array("the gradient", g) for g in grads]
        total = grads if total is None else [a + g for a, g in zip(total, grads, strict=True)]
        for layer in range(len(states[k])):
            for part, name in ((0, "weights"), (1, "biases")):
                step = states[k + 1][layer][part] - states[k][layer][part]
                want = -learning_rate * grads[2 * layer + part]
                if k > 0 and not np.allclose(step, want, rtol=1e-6, atol=1e-9):
                    t.expect(not np.allclose(step, -learning_rate * total[2 * layer + part], rtol=1e-6, atol=1e-9),
                             "gradients are not cleared between steps: each update uses the sum of all gradients "
                             "so far")
                t.close(f"SGD update of the layer-{layer + 1} {name} at minibatch {k + 1} of the epoch", step, want,
                        rtol=1e-6, atol=1e-9)


# fit with its helpers replaced by recorders: train_epoch counts its calls, evaluate answers from the call count.
FIT = """
calls = []
net = [(torch.zeros(3, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), torch.sigmoid)]


def fake_train_epoch(params, x, y, learning_rate, batch_size):
    same = params is net and torch.equal(x, xt) and torch.equal(y, yt)
    calls.append([float(learning_rate), int(batch_size), same])


def fake_evaluate(params, x, y):
    k = len(calls)
    if x.shape == xt.shape and torch.equal(x, xt) and torch.equal(y, yt):
        return 1.0 / (k + 1), 0.5 + k / 100
    if x.shape == xv.shape and torch.equal(x, xv) and torch.equal(y, yv):
        return 2.0 / (k + 1), 0.25 + k / 100
    raise AssertionError("fit must evaluate on the training data and on the validation data")


saved = {name: __student__.get(name) for name in ("train_epoch", "evaluate")}
__student__.update(train_epoch=fake_train_epoch, evaluate=fake_evaluate)
try:
    history = fit(net, xt, yt, xv, yv, epochs, lr, batch_size)
finally:
    __student__.update(saved)
result = {"calls": calls, "history": {str(key): list(values) for key, values in dict(history).items()}}
"""


@check
def fit(t: Trial) -> None:
    """fit"""
    data = {"xt": _tensor(t.rng.normal(size=(20, 3))), "yt": _tensor((t.rng.random(20) < 0.5) * 1.0),
            "xv": _tensor(t.rng.normal(size=(11, 3))), "yv": _tensor((t.rng.random(11) < 0.5) * 1.0)}
    for epochs, lr, batch_size in [(2, 0.1, 10), (4, 0.37, 6), (1, 0.05, 3)]:
        got = t.student.run(FIT, "fit", epochs=epochs, lr=lr, batch_size=batch_size, **data)
        calls = got["calls"]
        t.expect(len(calls) == epochs, f"fit({epochs} epochs) called train_epoch {len(calls)} times")
        t.expect(all(call[2] for call in calls), "fit must train the params it was given, on the training data")
        t.expect(all(call[:2] == [lr, batch_size] for call in calls),
                 "fit must pass learning_rate and batch_size on to train_epoch")
        expected = {"train loss": [1.0 / (e + 2) for e in range(epochs)],
                    "validation loss": [2.0 / (e + 2) for e in range(epochs)],
                    "train accuracy": [0.5 + (e + 1) / 100 for e in range(epochs)],
                    "validation accuracy": [0.25 + (e + 1) / 100 for e in range(epochs)]}
        for key, values in expected.items():
            t.expect(key in got["history"], f"the history has no key {key!r}")
            t.expect(len(got["history"][key]) == epochs, f"{epochs} epochs must give {epochs} values of {key!r}")
            t.close(f"history[{key!r}] (the values evaluate returns after each epoch)", got["history"][key], values)


def _fit_digits(learning_rate: float, batch_size: int, epochs: int, seed: int = 0) -> float:
    """Validation accuracy of the 64-32-1 network trained with these settings, by NumPy SGD (the grader's own)."""
    digits = load_digits(test_size=0.5, seed=0, verbose=False)
    mean, std = digits.x_train.mean(axis=0), digits.x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_val = (digits.x_train - mean) / std, (digits.x_test - mean) / std
    y_train, y_val = (digits.y_train <= 4) * 1.0, (digits.y_test <= 4) * 1.0
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(64, 32)) * np.sqrt(2 / 64), rng.normal(size=(32, 1)) * np.sqrt(2 / 32)]
    biases = [np.zeros(32), np.zeros(1)]

    def forward(x):
        z1 = x @ weights[0] + biases[0]
        a1 = np.maximum(z1, 0)
        return z1, a1, 0.5 * (1 + np.tanh(0.5 * (a1 @ weights[1] + biases[1])))[:, 0]

    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for k in range(len(x_train) // batch_size):
            index = order[k * batch_size:(k + 1) * batch_size]
            z1, a1, p = forward(x_train[index])
            dz2 = ((p - y_train[index]) / batch_size)[:, None]
            dz1 = (dz2 @ weights[1].T) * (z1 > 0)
            weights[1] -= learning_rate * (a1.T @ dz2)
            biases[1] -= learning_rate * dz2.sum(axis=0)
            weights[0] -= learning_rate * (x_train[index].T @ dz1)
            biases[0] -= learning_rate * dz1.sum(axis=0)
    return float(np.mean((forward(x_val)[2] >= 0.5) == (y_val == 1)))


@check
def trained_network(t: Trial) -> None:
    """the training settings"""
    learning_rate = t.number("learning_rate", t.student.value("learning_rate"))
    batch_size = t.number("batch_size", t.student.value("batch_size"))
    samples = len(load_digits(test_size=0.5, seed=0, verbose=False).x_train)
    t.expect(learning_rate > 0, "learning_rate must be positive")
    t.expect(batch_size.is_integer() and 1 <= batch_size <= samples,
             f"batch_size must be a whole number from 1 to {samples}")
    with np.errstate(all="ignore"):
        accuracy = _fit_digits(learning_rate, int(batch_size), 30)  # the task's 30 epochs
    t.expect(bool(np.isfinite(accuracy)) and accuracy >= 0.95, "with this learning_rate and batch_size the 64-32-1 "
             "network does not reach a validation accuracy of 0.95 in 30 epochs")
