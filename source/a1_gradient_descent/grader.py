"""Hidden checks of assignment 1, judged by the grader (instructor only: never released, never in a kernel).

Each check names the test cell that runs it (``# judged by grader.py: <check>``). It calls the student's
functions and the reference solution's on the same inputs (the self-check's examples, then inputs drawn for
this student) and compares what came back; see :mod:`dlcourse.judge`.
"""

import numpy as np

from dlcourse.judge import Failed, Trial, check
from dlcourse.probe import TensorData

PATH_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}  # float32 paths stay within it; the bugs miss it by far
NORM_NAMES = {"norm", "linalg", "vector_norm", "matrix_norm", "dist", "cdist", "pairwise_distance"}


def _run(t: Trial, function: str, *args):
    """The student's and the reference's (x, y, f, x_hist, y_hist) for the same call."""
    got = t.student.call(function, *args)
    t.expect(type(got) is list and len(got) == 5, f"{function} must return (x, y, f(x, y), x_hist, y_hist)")
    return got, t.reference.call(function, *args)


def _same_path(t: Trial, label: str, got, want, final_point: bool = True) -> None:
    t.close(f"x_hist from {label}", got[3], want[3], **PATH_TOLERANCE)
    t.close(f"y_hist from {label}", got[4], want[4], **PATH_TOLERANCE)
    if final_point:
        t.close(f"final x from {label}", t.number(f"final x from {label}", got[0]), want[0], **PATH_TOLERANCE)
        t.close(f"final y from {label}", t.number(f"final y from {label}", got[1]), want[1], **PATH_TOLERANCE)
    t.close(f"f at the final point from {label}", t.number(f"f from {label}", got[2]), want[2], **PATH_TOLERANCE)


def _random_paths(t: Trial, function: str, step_sizes: tuple, steps: tuple, third: tuple | None = None) -> None:
    """Six paths from random starts with random settings; ``third`` = (name, low, high) for decay or beta."""
    for _ in range(6):
        x0, y0 = (float(v) for v in t.rng.uniform(-4, 4, size=2))
        args = [x0, y0, float(t.rng.uniform(*step_sizes)), int(t.rng.integers(*steps))]
        label = f"start ({x0:.3f}, {y0:.3f}), step_size {args[2]:.3f}, {args[3]} steps"
        if third:
            args.append(float(t.rng.uniform(*third[1:])))
            label += f", {third[0]} {args[4]:.3f}"
        got, want = _run(t, function, *args)
        _same_path(t, label, got, want, final_point=third is None)


@check
def optimize_f_constant(t: Trial) -> None:
    """optimize_f with a constant step"""
    for step in (0.1, 0.2, 0.3, 0.4):  # the self-check's examples, with its tolerance
        got, want = _run(t, "optimize_f", 3.0, 2.0, step, 10)
        t.close(f"f from (3, 2) with step_size {step}", t.number("f", got[2]), want[2], rtol=0, atol=1e-3)
        t.expect(len(got[3]) == len(got[4]) == 11, "10 steps visit 11 points, the start included")
        t.expect(t.array("x_hist", got[3])[0] == 3.0 and t.array("y_hist", got[4])[0] == 2.0,
                 "histories start at the start point")
    _random_paths(t, "optimize_f", (0.02, 0.15), (3, 25))


@check
def optimize_f_decay(t: Trial) -> None:
    """optimize_f with a decaying step"""
    got, want = _run(t, "optimize_f", 3.0, 2.0, 0.2, 10, 0.9)
    t.close("f from (3, 2) with step_size 0.2, decay 0.9", t.number("f", got[2]), want[2], rtol=0, atol=1e-5)
    _random_paths(t, "optimize_f", (0.05, 0.2), (4, 25), ("decay", 0.7, 0.97))


@check
def tuned_settings(t: Trial) -> None:
    """the tuned settings"""
    step = t.number("tuned_step_size", t.student.value("tuned_step_size"))
    steps = t.number("tuned_steps", t.student.value("tuned_steps"))
    decay = t.number("tuned_decay", t.student.value("tuned_decay"))
    t.expect(0 < decay <= 1, "tuned_decay must be in (0, 1]")
    t.expect(step > 0, "tuned_step_size must be positive")
    t.expect(steps.is_integer() and 1 <= steps <= 500, "tuned_steps must be a whole number from 1 to 500")
    final_f = t.reference.call("optimize_f", 3.0, 2.0, step, int(steps), decay)[2]
    t.expect(float(final_f) < -2.2, "with these settings, gradient descent from (3, 2) does not reach f < -2.2")


@check
def momentum(t: Trial) -> None:
    """optimize_f_momentum"""
    got, want = _run(t, "optimize_f_momentum", 3.0, 2.0, 0.05, 40, 0.8)
    t.expect(len(got[3]) == 41, "40 steps visit 41 points, the start included")
    t.close("f from (3, 2) with step_size 0.05, beta 0.8", t.number("f", got[2]), want[2], rtol=0, atol=1e-5)
    got, want = _run(t, "optimize_f_momentum", 3.0, 2.0, 0.1, 10, 0.0)
    t.close("f with beta=0 (momentum must equal plain gradient descent)", t.number("f", got[2]), want[2],
            rtol=0, atol=1e-5)
    _random_paths(t, "optimize_f_momentum", (0.01, 0.06), (5, 30), ("beta", 0.3, 0.9))


@check
def tensors(t: Trial) -> None:
    """A, v1, v2 and V built with the shapes the task gives"""
    shapes = {"A": (2, 2), "v1": (2, 1), "v2": (2, 1), "V": (2, 2)}
    built = {name: t.student.value(name) for name in shapes}
    for name, shape in shapes.items():
        value = built[name]
        t.expect(type(value) is TensorData, f"{name} must be a torch tensor")
        t.expect(value.shape == shape, f"{name} has shape {value.shape}, expected {shape}")
        t.expect(value.array.dtype.kind == "f", f"{name} has integer entries: autograd needs floating point")
        t.close(f"the entries of {name}", value, t.reference.value(name))
    t.close("the columns of V (v1 and v2)", built["V"].array, np.hstack([built["v1"].array, built["v2"].array]))


@check
def tensor_ops(t: Trial) -> None:
    """elementwise_product, matrix_product and squared_distance"""
    def tensor(array):
        return TensorData(array, requires_grad=False)

    a = np.array([[1.0, -1.0], [0.0, 1.0]], dtype=np.float32)
    v = np.array([[1.0, -2.0], [2.0, -1.0]], dtype=np.float32)
    cases = [("A o V", "elementwise_product", a, v), ("A V", "matrix_product", a, v)]
    for m, k, n in [(3, 4, 2), (5, 2, 7), (1, 6, 3)]:
        p, q, r = t.rng.standard_normal((m, k)), t.rng.standard_normal((k, n)), t.rng.standard_normal((m, k))
        cases += [(f"matrix_product of a {m}x{k} and a {k}x{n} matrix", "matrix_product", p, q),
                  (f"elementwise_product of two {m}x{k} matrices", "elementwise_product", p, r)]
    for label, function, left, right in cases:
        t.close(label, t.student.call(function, tensor(left), tensor(right)),
                t.reference.call(function, tensor(left), tensor(right)), rtol=1e-5, atol=1e-6)
    pairs = [(v[:, :1], v[:, 1:])] + [tuple(t.rng.standard_normal((n, 1)) for _ in range(2)) for n in (1, 3, 8)]
    for left, right in pairs:
        label = f"squared_distance of two {left.shape[0]}x1 vectors"
        got = t.student.call("squared_distance", tensor(left), tensor(right))
        want = t.reference.call("squared_distance", tensor(left), tensor(right))
        t.close(label, t.number(f"{label} (a single number)", got), want, rtol=1e-5, atol=1e-6)
    used = t.names_used("squared_distance") & NORM_NAMES
    if used:
        raise Failed(f"squared_distance must not call torch.norm or torch.linalg.norm (it uses {sorted(used)[0]})")


@check
def distance_gradients(t: Trial) -> None:
    """distance_gradients and manual_distance_gradients"""
    pairs = [(np.array([[1.0], [2.0]], dtype=np.float32), np.array([[-2.0], [-1.0]], dtype=np.float32))]
    pairs += [tuple(t.rng.standard_normal((n, 1)) for _ in range(2)) for n in (2, 5)]
    for left, right in pairs:
        args = (TensorData(left, False), TensorData(right, False))
        want = t.reference.call("distance_gradients", *args)
        for function in ("distance_gradients", "manual_distance_gradients"):
            got = t.student.call(function, *args)
            t.expect(type(got) is list and len(got) == 2, f"{function} must return (dy/dv1, dy/dv2)")
            t.close(f"{function}: dy/dv1 for {left.shape[0]}x1 vectors", got[0], want[0], rtol=1e-5, atol=1e-6)
            t.close(f"{function}: dy/dv2 for {left.shape[0]}x1 vectors", got[1], want[1], rtol=1e-5, atol=1e-6)


@check
def exp_sin_gradients(t: Trial) -> None:
    """exp_sin_gradients"""
    cases = [(5.0, 2.0, 1.0, {"rtol": 0, "atol": 1e-3})]
    cases += [(*(float(v) for v in t.rng.uniform(-2, 2, size=3)), {"rtol": 1e-5, "atol": 1e-9}) for _ in range(5)]
    for x, w, b, tolerance in cases:
        label = f"at x={x:.3f}, w={w:.3f}, b={b:.3f}"
        got = t.student.call("exp_sin_gradients", x, w, b)
        t.expect(type(got) is list and len(got) == 2, "exp_sin_gradients must return (dy/dw, dy/db)")
        want = t.reference.call("exp_sin_gradients", x, w, b)
        t.close(f"dy/dw {label}", t.number(f"dy/dw {label}", got[0]), want[0], **tolerance)
        t.close(f"dy/db {label}", t.number(f"dy/db {label}", got[1]), want[1], **tolerance)
