"""The probe's wire format and the grader's side of judged checks (dlcourse.probe, dlcourse.judge), without kernels.

What a kernel sends is hostile data: decoding accepts the agreed grammar and nothing else, and comparisons say
what is wrong without giving the expected value.
"""

import base64
import json
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dlcourse import judge, probe
from dlcourse.judge import Failed, Trial
from dlcourse.probe import Opaque, ProbeError, TensorData, decode, encode


@pytest.mark.parametrize("value", [None, True, 0, -7, 2**70, 1.5, "text", [1, [2.0, "x"]], {"a": [1, {"b": None}]}])
def test_plain_values_round_trip(value):
    assert decode(encode(value)) == value


def test_tuples_arrive_as_lists_and_odd_floats_keep_their_value():
    assert decode(encode((1, (2, 3)))) == [1, [2, 3]]
    nan, inf, minus = decode(encode([float("nan"), float("inf"), float("-inf")]))
    assert np.isnan(nan) and inf == np.inf and minus == -np.inf


@pytest.mark.parametrize("dtype", sorted(probe.DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 1)])
def test_arrays_round_trip_with_dtype_and_shape(dtype, shape):
    array = (np.arange(int(np.prod(shape))) % 2).astype(dtype).reshape(shape)
    back = decode(encode(array))
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == shape
    assert np.array_equal(back, array)


def test_numpy_scalars_become_zero_dimensional_arrays():
    back = decode(encode(np.float32(2.5)))
    assert back.shape == () and back.dtype == np.float32 and float(back) == 2.5


def test_tensors_arrive_as_tensor_data_and_become_tensors_in_a_kernel():
    tensor = torch.arange(6, dtype=torch.float64).reshape(2, 3).requires_grad_(True) * 1.0
    back = decode(encode(tensor))
    assert type(back) is TensorData and back.requires_grad and back.shape == (2, 3)
    assert np.array_equal(back.array, np.arange(6.0).reshape(2, 3))
    made = decode(encode(back), tensor=probe._torch_tensor)
    assert isinstance(made, torch.Tensor) and made.requires_grad and made.dtype == torch.float64


def test_anything_else_travels_as_its_type_name_only():
    assert decode(encode(lambda: 1)) == Opaque("builtins.function")
    assert decode(encode({1: 2})) == Opaque("builtins.dict")
    assert decode(encode(torch.zeros(2, dtype=torch.complex64))).type_name.startswith("torch.Tensor of complex")


def _array(dtype="float64", shape=(2,), data=None):
    data = base64.b64encode(np.zeros(shape, dtype).tobytes()).decode() if data is None else data
    return {"a": {"dtype": dtype, "shape": list(shape), "data": data}}


@pytest.mark.parametrize("raw, why", [
    ("NaN", "bare NaN"),
    ('{"a": 1, "b": 2}', "exactly one tag"),
    ('{"x": 1}', "unknown tag"),
    ('{"f": "1e400"}', "unknown tag"),
    (json.dumps(_array("object")), "not allowed"),
    (json.dumps(_array(shape=(-1,), data="")), "non-negative"),
    (json.dumps(_array(shape=(1,) * 9, data="")), "short list"),
    (json.dumps(_array(data="AAAA")), "base64 characters"),
    (json.dumps(_array(shape=(1,), data="!!!!!!!!!!!=")), "not valid base64"),
    (json.dumps({"a": {**_array()["a"], "extra": 1}}), "exactly the fields"),
    (json.dumps({"t": _array()["a"]}), "exactly the fields"),
    (json.dumps({"t": {**_array()["a"], "requires_grad": 1}}), "true or false"),
    ("[" * 40 + "]" * 40, "nested"),
    ("{not json", "not valid JSON"),
])
def test_decoding_refuses_anything_outside_the_grammar(raw, why):
    with pytest.raises(ProbeError, match=why):
        decode(raw)


def test_decoding_refuses_text_that_is_too_long_or_not_text():
    with pytest.raises(ProbeError, match="more than"):
        decode('"' + "x" * 100 + '"', max_chars=50)
    with pytest.raises(ProbeError, match="JSON text"):
        decode(b"[]")


def test_encoding_refuses_data_nested_too_deep():
    nested = []
    for _ in range(probe.MAX_DEPTH + 2):
        nested = [nested]
    with pytest.raises(ProbeError, match="nested"):
        encode(nested)


# --- the kernel's side, with a stand-in for IPython's namespace --------------------------------------------

@pytest.fixture
def namespace(monkeypatch):
    names = {}
    monkeypatch.setattr("IPython.get_ipython", lambda: SimpleNamespace(user_ns=names))
    return names


def test_answer_calls_the_named_function_and_returns_only_its_result(namespace):
    def scale(v, by=2.0):
        v *= by
        return v.sum()

    namespace["scale"] = scale
    reply = decode(probe.answer(encode({"call": "scale", "args": [np.ones(3)], "kwargs": {"by": 3.0}})))
    assert float(reply["ok"]) == 9.0 and set(reply) == {"ok"}  # the arguments are not sent back


def test_answer_reports_what_went_wrong_instead_of_raising(namespace):
    def broken():
        raise ValueError("no\nway")

    namespace.update(broken=broken, big=np.zeros(1000))
    assert decode(probe.answer(encode({"call": "missing"}))) == {"missing": "missing"}
    assert decode(probe.answer(encode({"call": "broken"}))) == {"raised": "ValueError: no\nway"}
    assert "more than the grader reads" in decode(probe.answer(encode({"get": "big", "max_chars": 100})))["raised"]
    assert decode(probe.answer(encode({"get": "big"})))["ok"].shape == (1000,)


def test_run_answers_with_the_checks_code_and_stand_ins_only_while_it_runs(monkeypatch):
    namespace = {}
    served = []

    def reference(request):
        served.append(request["stand_in"])
        return {"ok": np.asarray(request["args"][0]) * 10}

    server = judge.Kernel(None, "your code", serve=reference)._stand_ins(frozenset({"step"}))
    kernel = SimpleNamespace(user_ns=namespace, kernel=SimpleNamespace(raw_input=server))
    monkeypatch.setattr("IPython.get_ipython", lambda: kernel)
    exec("def step(z):\n    return 'the student step'\ndef box(x):\n    return step(x) + 1\n"
         "def other(x):\n    return clip(x)", namespace)
    reply = decode(probe.answer(encode({"run": "result = {'out': box(x)}", "inputs": {"x": np.ones(2)},
                                        "stand_ins": ["step"]})))
    assert np.array_equal(reply["ok"]["out"], np.full(2, 11.0)) and served == ["step"]
    assert namespace["step"](0) == "the student step" and "x" not in namespace and "result" not in namespace
    unserved = decode(probe.answer(encode({"run": "result = box(1.0)", "stand_ins": ["clip"]})))
    assert unserved["raised"].startswith("TypeError")  # step was not stood in for: the student's ran
    asked = decode(probe.answer(encode({"run": "result = other(1.0)", "stand_ins": ["clip"]})))
    assert "not a function this test stands in for" in asked["raised"]
    assert decode(probe.answer(encode({"run": "result = undefined_name"}))) == {"missing": "undefined_name"}


def _execute_reply(text: str) -> dict:
    """A kernel's execute reply whose user expression evaluated to the probe's answer ``text``."""
    return {"status": "ok", "user_expressions": {"value": {"status": "ok", "data": {"text/plain": repr(text)}}}}


def _two_kernels(monkeypatch, student: dict, reference: dict, allowed: set, served: list | None = None):
    """The student's kernel, whose stand-ins the grader answers from the reference kernel's namespace."""
    kernel = SimpleNamespace(user_ns=student)
    monkeypatch.setattr("IPython.get_ipython", lambda: kernel)

    def run_in_reference(expression, on_input=None, timeout=None):
        kernel.user_ns = reference
        try:
            text = probe.answer(eval(expression.split(".answer(", 1)[1][:-1]))  # the request the probe carries
        finally:
            kernel.user_ns = student
        return _execute_reply(text)

    serve = judge.Kernel(run_in_reference, "the reference solution", trusted=True).answer_stand_in
    server = judge.Kernel(None, "your code", serve=serve)._stand_ins(frozenset(allowed), served)
    kernel.kernel = SimpleNamespace(raw_input=server)


def test_a_method_stand_in_works_on_the_objects_state(monkeypatch):
    student, reference, served = {}, {}, []
    exec("class Net:\n    def step(self, lr):\n        self.w = 'broken'\n    def train(self, lr):\n"
         "        for _ in range(3):\n            self.step(lr)\n        return self.w", student)
    exec("class Net:\n    def step(self, lr):\n        self.w -= lr\n        self.steps = self.steps + 1", reference)
    _two_kernels(monkeypatch, student, reference, {"Net.step"}, served)
    code = ("Probe = type('Probe', (Net,), {n.split('.')[1]: f for n, f in __stand_ins__.items()})\n"
            "net = object.__new__(Probe)\nnet.w, net.steps, net.log = np.ones(2), 0, print\n"
            "result = [net.train(0.25), net.steps, net.log is print]")
    student["np"] = np
    reply = decode(probe.answer(encode({"run": code, "stand_ins": ["Net.step"]})))
    assert np.array_equal(reply["ok"][0], np.full(2, 0.25)) and reply["ok"][1:] == [3, True]
    assert [r["self"]["steps"] for r in served] == [0, 1, 2] and served[0]["args"] == [0.25]
    same = ("net = object.__new__(Probe)\nnet.w, net.steps, net.log = np.ones(1), 0, []\nlog = net.log\n"
            "net.step(1.0)\nresult = net.log is log")
    assert decode(probe.answer(encode({"run": code.split("\n")[0] + "\n" + same, "stand_ins": ["Net.step"]})))["ok"]
    assert served[0]["self"]["log"] == Opaque("builtins.builtin_function_or_method")  # not data: stays as it was


def test_stand_ins_are_differentiable_through_the_references_gradients(monkeypatch):
    student, reference = {"torch": torch}, {"torch": torch}
    exec("def network(x, w):\n    return x * 0.0\ndef loss(p):\n    return p.sum() * 0", student)
    exec("def network(x, w):\n    return torch.tanh(x @ w)\ndef loss(p):\n    return (p ** 2).mean()", reference)
    _two_kernels(monkeypatch, student, reference, {"network", "loss"})
    x, w = torch.randn(5, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    code = "w = w.clone().requires_grad_(True)\nvalue = loss(network(x, w))\nvalue.backward()\nresult = [value, w.grad]"
    value, grad = decode(probe.answer(encode({"run": code, "inputs": {"x": x, "w": w},
                                              "stand_ins": ["network", "loss"]})))["ok"]
    leaf = w.clone().requires_grad_(True)
    expected = (torch.tanh(x @ leaf) ** 2).mean()
    expected.backward()
    assert np.isclose(value.array, expected.item()) and np.allclose(grad.array, leaf.grad.numpy())
    changed = code.replace("value = loss(network(x, w))", "p = network(x, w)\nwith torch.no_grad():\n    w += 1\n"
                                                           "value = loss(p)")
    _, grad_after_change = decode(probe.answer(encode({"run": changed, "inputs": {"x": x, "w": w},
                                                       "stand_ins": ["network", "loss"]})))["ok"]
    assert np.allclose(grad_after_change.array, leaf.grad.numpy())  # at the arguments of the forward call
    with_no_grad = "with torch.no_grad():\n    result = network(x, w.requires_grad_(True)).requires_grad"
    assert decode(probe.answer(encode({"run": with_no_grad, "inputs": {"x": x, "w": w},
                                       "stand_ins": ["network"]})))["ok"] is False


@pytest.mark.parametrize("request_", [{"stand_in": "step", "self": {}}, {"stand_in": "Net.step", "self": []},
                                      {"stand_in": "step", "vjp": [1.0]}, {"stand_in": "step", "args": {}},
                                      {"stand_in": "step", "extra": 1}])
def test_malformed_stand_in_requests_are_refused(request_):
    server = judge.Kernel(None, "your code", serve=lambda r: {"ok": 1})._stand_ins(frozenset({"step", "Net.step"}))
    assert decode(server(encode(request_))) == {"raised": "malformed request"}


# --- the grader's side --------------------------------------------------------------------------------------

def _trial(answers=None, reference=None, cells=()):
    def kernel(values, whose, trusted=False):
        def run(expression, on_input=None, timeout=None):
            request = decode(eval(expression.split(".answer(", 1)[1][:-1]))  # the request the probe carries
            value = values[request.get("call", request.get("get"))]
            reply = value if isinstance(value, dict) else {"ok": value}
            text = json.dumps(json.loads(encode(reply)))
            return _execute_reply(text)
        return judge.Kernel(run, whose, trusted)

    return Trial(kernel(answers or {}, "your code"), kernel(reference or {}, "the reference solution", True),
                 np.random.default_rng(0), list(cells))


def test_close_says_which_quantity_is_off_and_by_how_much_never_the_expected_value():
    t = _trial()
    t.close("x_hist", [1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0000001]))
    with pytest.raises(Failed) as failure:
        t.close("x_hist from start (1, 2)", [1.0, 2.5, 3.0], np.array([1.0, 2.123456789, 3.0]))
    message = str(failure.value)
    assert message.startswith("x_hist from start (1, 2): 1 of 3 values are off") and "2.123456789" not in message
    with pytest.raises(Failed, match=r"shape \(2,\), expected \(3,\)"):
        t.close("v", [1.0, 2.0], np.zeros(3))
    with pytest.raises(Failed, match="nan or inf"):
        t.close("v", [np.nan, 1.0, 2.0], np.zeros(3))
    with pytest.raises(Failed, match="expected numbers, got a str"):
        t.close("v", ["a", "b", "c"], np.zeros(3))
    with pytest.raises(Failed, match="ragged"):
        t.close("v", [[1.0], [1.0, 2.0]], np.zeros(3))
    assert t.comparisons == 6


def test_number_takes_one_number_and_nothing_else():
    t = _trial()
    assert t.number("f", 2) == 2.0 and t.number("f", np.array([[1.5]])) == 1.5
    assert t.number("f", TensorData(np.array([0.5], np.float32), True)) == 0.5
    for bad in (True, "1.0", [1.0], np.zeros(2), None, Opaque("mod.Liar"), float("nan")):
        with pytest.raises(Failed, match="^f: "):
            t.number("f", bad)


def test_kernel_failures_are_the_students_and_reference_failures_the_graders():
    t = _trial(answers={"f": {"raised": "ZeroDivisionError: division by zero"}, "g": {"missing": "g"}},
               reference={"f": {"raised": "KeyError: 'x'"}})
    with pytest.raises(Failed, match="f raised ZeroDivisionError"):
        t.student.call("f")
    with pytest.raises(Failed, match="NameError: g is not defined"):
        t.student.call("g")
    with pytest.raises(RuntimeError, match="the reference solution"):
        t.reference.call("f")


def test_an_unreadable_answer_fails_the_check_and_never_the_grader():
    def run(expression, on_input=None, timeout=None):
        value = {"status": "ok", "data": {"text/plain": "__import__('os')"}}
        return {"status": "ok", "user_expressions": {"value": value}}

    with pytest.raises(Failed, match="could not be read as data"):
        judge.Kernel(run, "your code").call("f")


def test_the_hidden_part_of_a_test_names_one_check():
    cell = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\n# judged by grader.py: f_values\n### END HIDDEN TESTS"
    assert judge.judged_check(cell) == "f_values"
    assert judge.visible_part(cell) == "assert f(1) == 2\n"
    assert judge.judged_check("x\n### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS") is None
    assert judge.judged_check(cell + "\n" + cell) is None


def test_inputs_depend_on_the_secret_the_student_and_the_check(tmp_path):
    secret = judge.course_secret(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / judge.SECRET_FILE).st_mode) == 0o600
    assert judge.course_secret(tmp_path) == secret
    draw = lambda *key: judge.input_rng(*key).random(4).tolist()  # noqa: E731
    assert draw(secret, "a1", "ana", "momentum") == draw(secret, "a1", "ana", "momentum")
    others = [draw(secret, "a1", "ben", "momentum"), draw(secret, "a1", "ana", "tensor_ops"),
              draw(b"another secret of enough length", "a1", "ana", "momentum")]
    assert all(o != draw(secret, "a1", "ana", "momentum") for o in others)
    scratch = tmp_path / "kit"
    scratch.mkdir()
    judge.share_secret(tmp_path, scratch)
    assert judge.course_secret(scratch) == secret


def test_student_code_finds_the_definition_that_runs_last():
    t = _trial(cells=["%matplotlib inline\ndef d(a, b):\n    return torch.norm(a - b)",
                      "x = 1", "def d(a, b):\n    return ((a - b) ** 2).sum()", "this is not python ("])
    node = t.student_code("d")
    assert "norm" not in {n.attr for n in __import__("ast").walk(node) if hasattr(n, "attr")}
    assert t.student_code("missing") is None


def test_a_grader_error_while_answering_a_stand_in_still_answers_the_kernel_and_fails_as_the_graders():
    told = []

    def run(expression, on_input, timeout):
        told.append(decode(on_input(encode({"stand_in": "step", "args": [1.0]}))))  # the kernel waits for this
        text = json.dumps(json.loads(encode({"ok": 2.0})))
        return _execute_reply(text)

    kernel = judge.Kernel(run, "your code", serve=lambda request: 1 / 0)
    with pytest.raises(RuntimeError, match="stand-in failed: ZeroDivisionError"):
        kernel.run("result = box(1.0)", "box", stand_ins=("step",))
    assert told == [{"raised": "the grader could not answer"}]
