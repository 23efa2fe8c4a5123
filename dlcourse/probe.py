"""The probe: how the grader calls a student's code and gets back plain data, nothing else.

The grader (:mod:`dlcourse.judge`) sends a request such as ``{"call": "optimize_f", "args": [3.0, 2.0, 0.1, 10]}``
to a kernel; :func:`answer` runs there (in the student's kernel, or in the reference kernel running the
instructor's solution), calls the named function and returns what it returned as JSON text. Both sides use
:func:`encode` and :func:`decode`:

- plain JSON values: ``null``, booleans, integers, finite floats, strings, lists (Python lists and tuples);
- ``{"f": "nan" | "inf" | "-inf"}`` for the floats JSON has no word for;
- ``{"d": {...}}`` for a dict with string keys;
- ``{"a": {"dtype", "shape", "data"}}`` for a NumPy array or scalar of a plain dtype, its bytes in base64;
- ``{"t": {"dtype", "shape", "data", "requires_grad"}}`` for a torch tensor (its values, detached);
- ``{"s": name}`` for a stand-in (see :func:`stand_in`) passed as an argument: each kernel reads it as its own
  function of that name, so the reference's activation can travel inside a network's parameters;
- ``{"o": "module.Type"}`` for anything else: only the name of its type travels.

Nothing is pickled and nothing is evaluated. In the grader, :func:`decode` is strict: it accepts exactly this
grammar, within the sizes given, and raises :class:`ProbeError` for anything else, so what a hostile kernel
sends is at worst a wrong answer. Decoded tensors are :class:`TensorData` (no torch needed in the grader).
"""

import base64
import json
import math
import sys
from dataclasses import dataclass

import numpy as np

DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                    "float32", "float64"})
MAX_DEPTH = 32
MAX_DIMENSIONS = 8


class ProbeError(ValueError):
    """What came back is not data of the agreed grammar."""


@dataclass(frozen=True, eq=False)
class TensorData:
    """A torch tensor as the grader sees it: its values and whether it required gradients."""

    array: np.ndarray
    requires_grad: bool

    @property
    def shape(self) -> tuple:
        return self.array.shape


@dataclass(frozen=True)
class StandIn:
    """A stand-in function, as the grader sees it: only its name."""

    name: str


@dataclass(frozen=True)
class Opaque:
    """A value that is not data (a function, a module, an object): only its type's name came back."""

    type_name: str


# --- encoding (both sides) ---------------------------------------------------------------------------------

def encode(value) -> str:
    return json.dumps(_plain(value, 0), allow_nan=False, separators=(",", ":"))


def _plain(value, depth: int):
    if depth > MAX_DEPTH:
        raise ProbeError(f"data nested more than {MAX_DEPTH} deep")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if type(value) in (list, tuple):
        return [_plain(v, depth + 1) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {"d": {k: _plain(v, depth + 1) for k, v in value.items()}}
    if type(value) is TensorData:
        return {"t": {**_array(value.array), "requires_grad": bool(value.requires_grad)}}
    if type(value) is StandIn:
        return {"s": value.name}
    if callable(value) and type(getattr(value, "__stand_in__", None)) is str:
        return {"s": value.__stand_in__}
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.name in DTYPES:
        return {"a": _array(np.asarray(value))}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.dtype in (torch.bfloat16, torch.complex64, torch.complex128) or tensor.is_complex():
            return {"o": f"torch.Tensor of {str(tensor.dtype).removeprefix('torch.')}"}
        values = tensor.resolve_conj().resolve_neg().numpy()
        return {"t": {**_array(values), "requires_grad": bool(value.requires_grad)}}
    kind = type(value)
    return {"o": f"{kind.__module__}.{kind.__qualname__}"}


def _array(array: np.ndarray) -> dict:
    array = np.asarray(array, order="C")
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()).decode()}


# --- decoding (strict) -------------------------------------------------------------------------------------

def decode(text, max_chars: int = 256 * 2**20, tensor=None, stand_in=None):
    """The value ``text`` encodes; ``tensor(TensorData)`` makes tensors (torch ones in a kernel) and
    ``stand_in(StandIn)`` functions (a kernel's own of that name)."""
    if type(text) is not str:
        raise ProbeError(f"expected JSON text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ProbeError(f"{len(text)} characters, more than the {max_chars} allowed")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise ProbeError(f"not valid JSON ({error})") from None
    return _value(raw, 0, (tensor or (lambda t: t), stand_in or (lambda s: s)))


def _no_constant(name: str):
    raise ProbeError(f"bare {name} is not allowed")


def _value(raw, depth: int, makers: tuple):
    if depth > MAX_DEPTH:
        raise ProbeError(f"data nested more than {MAX_DEPTH} deep")
    if raw is None or type(raw) in (bool, int, float, str):
        return raw
    if type(raw) is list:
        return [_value(v, depth + 1, makers) for v in raw]
    if type(raw) is not dict or len(raw) != 1:
        raise ProbeError("an object must have exactly one tag")
    (tag, body), = raw.items()
    if tag == "f" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "d" and type(body) is dict:
        return {k: _value(v, depth + 1, makers) for k, v in body.items()}
    if tag == "a":
        return _decode_array(body, {"dtype", "shape", "data"})
    if tag == "t":
        array = _decode_array(body, {"dtype", "shape", "data", "requires_grad"})
        if type(body["requires_grad"]) is not bool:
            raise ProbeError("requires_grad must be true or false")
        return makers[0](TensorData(array, body["requires_grad"]))
    if tag == "s" and type(body) is str:
        return makers[1](StandIn(body[:200]))
    if tag == "o" and type(body) is str:
        return Opaque(body[:200])
    raise ProbeError(f"unknown tag {tag[:20]!r} or malformed body")


def _decode_array(body, keys: set) -> np.ndarray:
    if type(body) is not dict or set(body) != keys:
        raise ProbeError(f"an array needs exactly the fields {sorted(keys)}")
    dtype, shape, data = body["dtype"], body["shape"], body["data"]
    if type(dtype) is not str or dtype not in DTYPES:
        raise ProbeError(f"dtype {str(dtype)[:20]!r} is not allowed")
    if (type(shape) is not list or len(shape) > MAX_DIMENSIONS
            or not all(type(n) is int and 0 <= n < 2**40 for n in shape)):
        raise ProbeError("shape must be a short list of non-negative integers")
    if type(data) is not str:
        raise ProbeError("data must be base64 text")
    kind = np.dtype(dtype).newbyteorder("<")
    size = math.prod(shape) * kind.itemsize
    if len(data) != 4 * math.ceil(size / 3):
        raise ProbeError(f"data has {len(data)} base64 characters, shape {tuple(shape)} of {dtype} needs "
                         f"{4 * math.ceil(size / 3)}")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise ProbeError("data is not valid base64") from None
    return np.frombuffer(raw, dtype=kind).astype(kind.newbyteorder("="), copy=True).reshape(shape)


# --- the kernel's side -------------------------------------------------------------------------------------

def answer(request: str) -> str:
    """Run one request in this kernel's namespace; never raises for what the called code does.

    - ``{"call": name, "args": [...], "kwargs": {...}}`` -> ``{"ok": result}``; ``name`` may be dotted
      (``MLP.one_hot``). With ``"self": {attribute: value}``, ``Class.method`` is called on a new object of that
      class holding those attributes, and the answer adds the attributes the call changed as ``"self"``.
      With ``"vjp": gradient``, the answer is instead the gradient of ``<result, gradient>`` with respect to each
      argument tensor that requires gradients, in order (what the stand-ins' backward pass asks for);
    - ``{"get": name}`` -> ``{"ok": value}``;
    - ``{"run": code, "each": [inputs, ...]}`` -> ``{"ok": [{"ok": result} | {"raised": ...}, ...]}``: the same
      code for many cases in one round trip;
    - ``{"run": code, "inputs": {...}, "stand_ins": [names]}`` -> ``{"ok": result}``: the check's own code runs
      with the namespace's names and the inputs, and leaves its answer in ``result`` (for objects, methods,
      graphs: whatever must be turned into data here). While it runs, each name in ``stand_ins`` is bound
      to a function that asks the grader for the reference's result (:func:`stand_in`), so that a test of
      one function does not count a mistake in another twice.

    Any of them may give ``{"raised": "Type: message"}`` or ``{"missing": name}``. With ``"max_chars"``, a
    longer answer is refused here, with a message, rather than sent to a grader that would drop it.
    """
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    query = decode(request, tensor=_torch_tensor, stand_in=lambda s: namespace.get(s.name, s))
    name = query.get("call", query.get("get"))
    if "run" not in query and str(name).split(".")[0] not in namespace:
        return encode({"missing": name})
    try:
        if "run" in query and "each" in query:
            text = encode({"ok": _run_each(namespace, query["run"], query["each"], query.get("stand_ins", []),
                                           query.get("carried"))})
        elif "run" in query:
            text = encode({"ok": _run(namespace, query["run"], query.get("inputs", {}), query.get("stand_ins", []),
                                      query.get("carried"))})
        elif "get" in query:
            text = encode({"ok": namespace[name]})
        else:
            text = encode(_call(namespace, name, query))
    except NameError as error:
        return encode({"missing": error.name}) if error.name else encode({"raised": f"NameError: {error}"})
    except Exception as error:  # the student's code failed: that is the answer
        return encode({"raised": f"{type(error).__name__}: {error}"[:2000]})
    limit = query.get("max_chars")
    if limit is not None and len(text) > limit:
        return encode({"raised": f"its result is {len(text) / 2**20:.0f} MB as data, more than the grader reads "
                                 f"({limit / 2**20:.0f} MB)"})
    return text


def _call(namespace: dict, name: str, query: dict) -> dict:
    """A call request's answer: the result, the object's state for a method, or a vector-Jacobian product."""
    owner, _, attribute = name.rpartition(".")
    args, kwargs = query.get("args", []), query.get("kwargs", {})
    if "self" in query:  # a method on an object in the given state (a stand-in for a student's method)
        sent = {k: encode(v) for k, v in query["self"].items()}  # before the call: it may change them in place
        instance = object.__new__(_resolve(namespace, owner))
        vars(instance).update(query["self"])
        function = getattr(instance, attribute)
    else:
        function = _resolve(namespace, name)
    if "vjp" not in query:
        result = function(*args, **kwargs)
        if "self" not in query:
            return {"ok": result}
        return {"ok": result, "self": {k: v for k, v in vars(instance).items() if sent.get(k) != encode(v)}}
    import torch

    leaves = [t for t in _tensors([args, kwargs]) if t.requires_grad]
    with torch.enable_grad():
        result = function(*args, **kwargs)
        grads = torch.autograd.grad(result, leaves, grad_outputs=query["vjp"], allow_unused=True)
    return {"ok": [torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads, strict=True)]}


def _resolve(namespace: dict, name: str):
    first, *rest = name.split(".")
    value = namespace[first]
    for attribute in rest:
        value = getattr(value, attribute)
    return value


def _tensors(value) -> list:
    """The torch tensors in nested lists and dicts, in order."""
    if type(value) in (list, tuple):
        return [t for v in value for t in _tensors(v)]
    if type(value) is dict:
        return [t for v in value.values() for t in _tensors(v)]
    torch = sys.modules.get("torch")
    return [value] if torch is not None and isinstance(value, torch.Tensor) else []


def _run(namespace: dict, code: str, inputs: dict, stand_ins: list, carried: list | None = None):
    made = {n: stand_in(n, carried) for n in stand_ins}
    plain = [n for n in stand_ins if "." not in n]  # Class.method stand-ins are the check's to place
    saved = {n: namespace[n] for n in plain if n in namespace}
    namespace.update({n: made[n] for n in plain})
    # the check's code may bind names of its own too; it finds every stand-in in __stand_ins__
    scope = {**namespace, **inputs, "__student__": namespace, "__stand_ins__": made}
    try:
        exec(code, scope)
    finally:
        for n in plain:
            namespace.pop(n, None)
        namespace.update(saved)
    return scope.get("result")


def _run_each(namespace: dict, code: str, cases: list, stand_ins: list, carried: list | None = None) -> list:
    """The code once per case: [{"ok": result} or {"raised": "Type: message"}, ...], in one round trip."""
    answers = []
    for inputs in cases:
        try:
            answers.append({"ok": _run(namespace, code, inputs, stand_ins, carried)})
        except Exception as error:  # this case's answer; the other cases still run
            answers.append({"raised": f"{type(error).__name__}: {error}"[:2000]})
    return answers


def stand_in(name: str, carried: list | None = None):
    """A function that computes nothing here: it sends its arguments to the grader (over the kernel's input
    channel) and returns the reference solution's result, which the grader gives only while a check that
    names it runs.

    - ``Class.method`` called on an instance of this kernel's ``Class`` (placed in a subclass by the check)
      sends the instance's attributes along (only those in ``carried``, when given) and sets those the
      reference's method changed, so a stand-in method can update ``self.weights`` (the others keep their
      identity);
    - called with tensors that require gradients, with gradients on, its tensor result is differentiable: the
      backward pass asks the grader for the reference's vector-Jacobian product, so ``loss.backward()``
      reaches the student's parameters through stand-ins.
    """
    from IPython import get_ipython

    ask = get_ipython().kernel.raw_input  # the kernel's own: builtins.input is not forwarded outside a cell
    namespace = get_ipython().user_ns
    owner = name.rpartition(".")[0]

    def request(fields: dict):
        """Ask the grader; ``fields`` are already in the wire format (a snapshot of the arguments)."""
        text = json.dumps({"d": {"stand_in": name, **fields}}, allow_nan=False, separators=(",", ":"))
        reply = decode(ask(text), tensor=lambda data: _torch_tensor(TensorData(data.array, False)),  # not a leaf
                       stand_in=lambda s: namespace.get(s.name, s))
        if type(reply) is dict and "ok" in reply:
            return reply
        why = reply.get("raised") if type(reply) is dict else None
        raise RuntimeError(f"{name} (the reference's, standing in for yours) failed: {why or 'no answer'}")

    def call(*args, **kwargs):
        query = {"args": list(args), "kwargs": kwargs}
        instance = None
        if owner and args and isinstance(namespace.get(owner), type) and isinstance(args[0], namespace[owner]):
            instance = args[0]
            query = {"args": list(args[1:]), "kwargs": kwargs,
                     "self": {k: v for k, v in vars(instance).items() if carried is None or k in carried}}
        fields = _plain(query, 0)["d"]
        reply = request(fields)
        for attribute, value in reply.get("self", {}).items() if instance is not None else ():
            if type(value) is not Opaque:
                setattr(instance, attribute, value)
        # the backward pass differentiates at the arguments of this call, even if they change before it runs
        return _differentiable(reply["ok"], _tensors([query["args"], query["kwargs"]]),
                               lambda gradient: request({**fields, "vjp": _plain(gradient, 0)})["ok"])

    call.__name__ = call.__qualname__ = call.__stand_in__ = name
    return call


def _differentiable(result, tensors: list, vjp):
    """``result`` joined to the autograd graph of those ``tensors`` that require gradients, when gradients are
    on; ``vjp(gradient)`` gives the gradients with respect to them, in order."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(result, torch.Tensor) or not result.is_floating_point() \
            or not torch.is_grad_enabled():
        return result
    leaves = [t for t in tensors if t.requires_grad]
    if not leaves:
        return result

    class Reference(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, *inputs):
            return value.clone()

        @staticmethod
        def backward(ctx, gradient):
            grads = vjp(gradient)
            if type(grads) is not list or [getattr(g, "shape", None) for g in grads] != [t.shape for t in leaves]:
                raise RuntimeError("the reference's gradients did not come back")
            return (None, *(g.to(t.dtype) for g, t in zip(grads, leaves, strict=True)))

    return Reference.apply(result, *leaves)


def _torch_tensor(data: TensorData):
    import torch

    return torch.from_numpy(data.array.copy()).requires_grad_(data.requires_grad)
