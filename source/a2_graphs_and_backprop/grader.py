"""Hidden checks of assignment 2, judged by the grader (instructor only: never released, never in a kernel).

Graphs travel as data, ``{"nodes": [[id, attributes], ...], "edges": [[u, v], ...]}``: the grader draws random
graphs, the kernels rebuild them (``GRAPH``), and what comes back is node values, gradients, parameters.
Expected values come from the reference kernel (the forward values worked out by hand are compared with its
``evaluate_graph`` on the example); the step network's tests stand the reference's ``step`` in for the
student's, so a mistake in ``step`` costs points once.
"""

import math

import networkx as nx
import numpy as np

from dlcourse.judge import Failed, Trial, check

OPS = {"add": None, "multiply": 2, "negate": 1, "exp": 1, "add_constant": 1, "reciprocal": 1}
SIGMOID_INPUTS = ["w0", "x0", "w1", "x1", "w2"]

# Runs in a kernel before a check's own code: graphs to and from data.
GRAPH = """
import networkx as _nx


def _graph(data):
    G = _nx.DiGraph()
    for node, attributes in data["nodes"]:
        G.add_node(node, **attributes)
    G.add_edges_from(tuple(edge) for edge in data["edges"])
    return G


def _data(G):
    return {"nodes": [[node, dict(attributes)] for node, attributes in G.nodes(data=True)],
            "edges": [list(edge) for edge in G.edges()]}


def _by_node(mapping):
    return {"nodes": [str(node) for node in mapping], "values": list(mapping.values())}
"""


def _as_dict(t: Trial, label: str, got) -> dict:
    t.expect(type(got) is dict and type(got.get("nodes")) is list and type(got.get("values")) is list
             and len(got["nodes"]) == len(got["values"]), f"{label}: expected a dict from node to number")
    return dict(zip(got["nodes"], got["values"], strict=True))


def _graph(data) -> nx.DiGraph:
    G = nx.DiGraph()
    for node, attributes in data["nodes"]:
        G.add_node(node, **attributes)
    G.add_edges_from(tuple(edge) for edge in data["edges"])
    return G


def _shuffled(rng, nodes: list, edges: list) -> dict:
    """The graph with its nodes and edges inserted in a random order (a topological order must be computed)."""
    return {"nodes": [nodes[i] for i in rng.permutation(len(nodes))],
            "edges": [edges[i] for i in rng.permutation(len(edges))]}


def _sigmoid_graph(rng) -> dict:
    """The sigmoid neuron with two-input adds."""
    spec = [("op1", "multiply", ["w0", "x0"], "z1", {}), ("op2", "multiply", ["w1", "x1"], "z2", {}),
            ("op3", "add", ["z1", "z2"], "z3", {}), ("op4", "add", ["z3", "w2"], "z4", {}),
            ("op5", "negate", ["z4"], "z5", {}), ("op6", "exp", ["z5"], "z6", {}),
            ("op7", "add_constant", ["z6"], "z7", {"c": 1.0}), ("op8", "reciprocal", ["z7"], "f", {})]
    nodes = [[n, {"kind": "var", "name": n}] for n in SIGMOID_INPUTS]
    edges = []
    for op_id, op, args, out, attributes in spec:
        nodes += [[op_id, {"kind": "op", "op": op, **attributes}], [out, {"kind": "var", "name": out}]]
        edges += [[a, op_id] for a in args] + [[op_id, out]]
    return _shuffled(rng, nodes, edges)


def _random_graph(rng, n_inputs: int = 4, n_ops: int = 10) -> tuple[dict, dict]:
    """A random graph of the course's operations, with fan-out and three-input adds, and its inputs."""
    nodes, edges, value, inputs = [], [], {}, {}
    for i in range(n_inputs):
        nodes.append([f"x{i}", {"kind": "var", "name": f"x{i}"}])
        inputs[f"x{i}"] = value[f"x{i}"] = float(rng.uniform(-1.5, 1.5))
    k = 0
    for _attempt in range(1000):
        if k == n_ops:
            break
        variables = [n for n, attributes in nodes if attributes["kind"] == "var"]
        op = str(rng.choice(["add", "add3", "multiply", "negate", "exp", "add_constant", "reciprocal"]))
        arity = {"add": 2, "add3": 3, "multiply": 2}.get(op, 1)
        if len(variables) < arity:
            continue
        args = [variables[i] for i in rng.choice(len(variables), size=arity, replace=False)]
        a = [value[x] for x in args]
        attributes = {}
        if op in ("add", "add3"):
            op, r = "add", sum(a)
        elif op == "multiply":
            r = a[0] * a[1]
        elif op == "negate":
            r = -a[0]
        elif op == "exp":
            if abs(a[0]) > 2:
                continue
            r = math.exp(a[0])
        elif op == "add_constant":
            attributes["c"] = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.5))
            r = a[0] + attributes["c"]
        else:
            if abs(a[0]) < 0.4:
                continue
            r = 1.0 / a[0]
        if abs(r) > 30:
            continue
        k += 1
        nodes += [[f"op{k}", {"kind": "op", "op": op, **attributes}], [f"z{k}", {"kind": "var", "name": f"z{k}"}]]
        edges += [[x, f"op{k}"] for x in args] + [[f"op{k}", f"z{k}"]]
        value[f"z{k}"] = r
    used = {u for u, _ in edges}
    open_ends = [n for n, attributes in nodes if n not in used]
    nodes.append(["op_out", {"kind": "op", "op": "add_constant", "c": 0.5} if len(open_ends) == 1
                  else {"kind": "op", "op": "add"}])
    nodes.append(["f", {"kind": "var", "name": "f"}])
    edges += [[n, "op_out"] for n in open_ends] + [["op_out", "f"]]
    return _shuffled(rng, nodes, edges), inputs


def _sigmoid_inputs(rng) -> dict:
    return {k: float(v) for k, v in zip(SIGMOID_INPUTS, rng.uniform(-2.5, 2.5, size=5), strict=True)}


def _example(t: Trial) -> dict:
    """The notebook's example graph e = exp(-(w1 x1 + w2 x2)) - f*, as the reference kernel builds it."""
    return t.reference.run(GRAPH + "result = _data(example_graph(1.0))", "example_graph")


HAND_NODES = ["z1", "z2", "z3", "z4", "f", "e"]
HAND_RTOL = 2e-3  # three significant digits: values worked out with a calculator are rounded
FORWARD_EXAMPLE = GRAPH + ("result = _by_node(evaluate_graph(example_graph(F_STAR), "
                           "{'w1': W1, 'x1': X1, 'w2': W2, 'x2': X2}))")


@check
def forward_by_hand(t: Trial) -> None:
    """the example's forward values, worked out by hand"""
    got = t.student.value("forward_by_hand")
    t.expect(type(got) is dict, "forward_by_hand must be a dict from node name to number")
    missing = [node for node in HAND_NODES if node not in got]
    t.expect(not missing, f"forward_by_hand has no value for {missing}")
    want = _as_dict(t, "the example's forward pass", t.reference.run(FORWARD_EXAMPLE, "the example's forward pass"))
    for node in HAND_NODES:
        t.close(f"node {node!r} of your forward pass by hand (to within {HAND_RTOL:.1%})",
                t.number(f"forward_by_hand[{node!r}]", got[node]), want[node], rtol=HAND_RTOL, atol=0)


def _same_per_node(t: Trial, label: str, what: str, got: dict, want: dict) -> None:
    missing = set(want) - set(got)
    t.expect(not missing, f"{label}: {what} returned no value for {len(missing)} node(s)")
    for node in want:
        t.close(f"{label}: {'value' if what == 'evaluate_graph' else 'gradient'} of node {node!r}",
                t.number(f"{label}: node {node!r}", got[node]), want[node])


def _structure_problem(G: nx.DiGraph) -> str:
    """What makes G not a graph of the course's format, or ''."""
    if not nx.is_directed_acyclic_graph(G):
        return "the graph has a cycle"
    for node, data in G.nodes(data=True):
        kind = data.get("kind")
        if kind == "var":
            if data.get("name") != node:
                return f"variable {node!r}: its id must equal its name"
            if G.in_degree(node) > 1 or any(G.nodes[p].get("kind") != "op" for p in G.predecessors(node)):
                return f"variable {node!r} must be the result of at most one operation"
        elif kind == "op":
            op = data.get("op")
            if op not in OPS:
                return f"operation {node!r} has op={op!r}, which is not in the table"
            if G.out_degree(node) != 1 or any(G.nodes[p].get("kind") != "var" for p in G.predecessors(node)):
                return f"operation {node!r} must read variables and have exactly one result variable"
            if OPS[op] is not None and G.in_degree(node) != OPS[op]:
                return f"{op} node {node!r} needs {OPS[op]} input(s)"
            if op == "add" and G.in_degree(node) < 1:
                return f"add node {node!r} needs inputs"
            if op == "add_constant" and not (type(data.get("c")) in (int, float) or type(data.get("c")) is np.ndarray
                                             and data["c"].shape == () and data["c"].dtype.kind in "iuf"):
                return f"add_constant node {node!r} needs a number as its attribute c"
        else:
            return f"node {node!r} needs kind='var' or kind='op'"
    return ""


@check
def build_sigmoid_graph(t: Trial) -> None:
    """build_sigmoid_graph"""
    got = t.student.run(GRAPH + "G = build_sigmoid_graph()\nresult = [isinstance(G, _nx.DiGraph), _data(G)]",
                        "build_sigmoid_graph")
    t.expect(got[0] is True, "build_sigmoid_graph must return a networkx.DiGraph")
    try:
        G = _graph(got[1])
    except (TypeError, ValueError, KeyError) as error:
        raise Failed(f"build_sigmoid_graph: the graph's nodes or edges cannot be read ({error})") from None
    problem = _structure_problem(G)
    t.expect(not problem, problem)
    sources = {n for n in G if G.in_degree(n) == 0}
    t.expect(sources == set(SIGMOID_INPUTS), f"the inputs must be exactly w0, x0, w1, x1, w2, not {sorted(sources)}")
    sinks = [n for n in G if G.out_degree(n) == 0]
    t.expect(sinks == ["f"], f"the graph must have one output, the variable f (it has {sinks})")
    intermediate = {n for n in G if G.nodes[n]["kind"] == "var"} - sources - {"f"}
    t.expect(intermediate == {f"z{i}" for i in range(1, len(intermediate) + 1)},
             f"intermediate results must be named z1, z2, ... (got {sorted(intermediate)})")
    inputs = [_sigmoid_inputs(t.rng) for _ in range(6)]
    evaluate = "\nresult = [evaluate_graph(G, dict(point))['f'] for point in points]"
    yours = t.reference.run(GRAPH + "G = _graph(graph)" + evaluate, "your graph", about_student=True, graph=got[1],
                            points=inputs)
    want = t.reference.run("G = build_sigmoid_graph()" + evaluate, "build_sigmoid_graph", points=inputs)
    t.expect(type(yours) is list and len(yours) == len(want), "your graph: one value of f per input")
    for case, (value, expected) in enumerate(zip(yours, want, strict=True)):
        t.close(f"f of your graph at a random input (case {case})", t.number("f", value), expected, rtol=1e-9)


EVALUATE = GRAPH + "result = _by_node(evaluate_graph(_graph(graph), dict(inputs)))"
BACKPROP = GRAPH + "result = _by_node(backprop_graph(_graph(graph), dict(values)))"


def _graphs(t: Trial, sigmoid_cases: int, random_cases: int) -> list[tuple[str, dict, dict]]:
    """(label, graph, inputs): the notebook's example, sigmoid neurons, random graphs."""
    cases = [("the example graph", _example(t), {"w1": 0.1, "x1": 0.3, "w2": -0.2, "x2": 0.4})]
    cases += [(f"sigmoid graph (case {i})", _sigmoid_graph(t.rng), _sigmoid_inputs(t.rng))
              for i in range(sigmoid_cases)]
    for i in range(random_cases):
        graph, inputs = _random_graph(t.rng)
        cases.append((f"random graph {i} with {len(graph['nodes'])} nodes", graph, inputs))
    return cases


@check
def evaluate_graph(t: Trial) -> None:
    """evaluate_graph"""
    labels, cases = _cases(_graphs(t, 4, 5))
    got = t.student.run_each(EVALUATE, labels, cases)
    want = t.reference.run_each(EVALUATE, labels, cases)
    for label, yours, expected in zip(labels, got, want, strict=True):
        _same_per_node(t, label, "evaluate_graph", _as_dict(t, label, yours), _as_dict(t, label, expected))


def _cases(graphs: list) -> tuple[list, list]:
    return [label for label, _, _ in graphs], [{"graph": graph, "inputs": inputs} for _, graph, inputs in graphs]


@check
def backprop_graph(t: Trial) -> None:
    """backprop_graph"""
    fan_out = {"nodes": [["x", {"kind": "var", "name": "x"}], ["w", {"kind": "var", "name": "w"}],
                         ["plus", {"kind": "op", "op": "add"}], ["z1", {"kind": "var", "name": "z1"}],
                         ["times", {"kind": "op", "op": "multiply"}], ["y", {"kind": "var", "name": "y"}]],
               "edges": [["x", "plus"], ["w", "plus"], ["plus", "z1"], ["x", "times"], ["z1", "times"],
                         ["times", "y"]]}
    labels, cases = _cases(_graphs(t, 3, 6) + [("y = x (x + w) (fan-out: add up both paths)", fan_out,
                                                  {"x": 1.5, "w": -0.5})])
    values = [_as_dict(t, label, v) for label, v in zip(labels, t.reference.run_each(EVALUATE, labels, cases),
                                                          strict=True)]
    cases = [{"graph": case["graph"], "values": v} for case, v in zip(cases, values, strict=True)]
    got = t.student.run_each(BACKPROP, labels, cases)
    want = t.reference.run_each(BACKPROP, labels, cases)
    for label, yours, expected in zip(labels, got, want, strict=True):
        _same_per_node(t, label, "backprop_graph", _as_dict(t, label, yours), _as_dict(t, label, expected))


def _weight_gradients(t: Trial, function: str, random_cases: int) -> None:
    cases = [(0.1, 0.3, -0.2, 0.4, 1.0)]
    cases += [(*(float(v) for v in t.rng.uniform(-2, 2, size=4)), float(t.rng.uniform(-1, 3)))
              for _ in range(random_cases)]
    labels = [f"w1={w1:.3f}, x1={x1:.3f}, w2={w2:.3f}, x2={x2:.3f}, f*={f_star:.3f}"
              for w1, x1, w2, x2, f_star in cases]
    code = f"result = {function}(*point)"
    points = [{"point": list(case)} for case in cases]
    for label, got, want in zip(labels, t.student.run_each(code, labels, points),
                                t.reference.run_each(code, labels, points), strict=True):
        t.expect(type(got) is list and len(got) == 2, f"{function} must return (de/dw1, de/dw2)")
        t.close(f"de/dw1 at {label}", t.number("de/dw1", got[0]), want[0], rtol=1e-5)
        t.close(f"de/dw2 at {label}", t.number("de/dw2", got[1]), want[1], rtol=1e-5)


@check
def manual_gradients(t: Trial) -> None:
    """manual_gradients"""
    _weight_gradients(t, "manual_gradients", 8)


@check
def autograd_gradients(t: Trial) -> None:
    """autograd_gradients"""
    _weight_gradients(t, "autograd_gradients", 5)


@check
def step(t: Trial) -> None:
    """step"""
    cases = [np.array([-2.0, -1e-9, 0.0, 1e-9, 3.0]), np.zeros((2, 3))]
    for shape in [(7,), (3, 5), (2, 4, 3)]:
        z = t.rng.normal(size=shape)
        z.flat[::3] = 0.0
        cases.append(z)
    for z in cases:
        got, want = t.student.call("step", z), t.reference.call("step", z)
        t.close(f"step on an array of shape {z.shape}", got, want, rtol=0, atol=0)


@check
def box(t: Trial) -> None:
    """box"""
    cases = [(np.array([-0.5, 0.0, 0.2, 0.5, 0.7]), 2.0, 0.5)]
    for _ in range(6):
        h = float(t.rng.choice([-1, 1]) * t.rng.uniform(0.2, 3.0))
        delta = float(t.rng.choice([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]))
        cases.append((np.concatenate([t.rng.uniform(-2, 5, size=40), [0.0, delta, -delta, 2 * delta, delta / 2]]),
                      h, delta))
    labels = [f"box with h={h:.3f}, delta={delta} at {x.size} points, the edges 0 and delta among them"
              for x, h, delta in cases]
    inputs = [{"x": x, "h": h, "delta": delta} for x, h, delta in cases]
    got = t.student.run_each("result = box(x, h, delta)", labels, inputs, stand_ins=("step",))
    want = t.reference.run_each("result = box(x, h, delta)", labels, inputs)
    for label, yours, expected in zip(labels, got, want, strict=True):
        t.close(label, yours, expected)


@check
def network_output(t: Trial) -> None:
    """network_output"""
    cases = [(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]),
              {"w1": np.array([1.0, 1.0]), "b1": np.array([0.0, -1.0]), "w2": np.array([3.0, -3.0]), "b2": 0.5})]
    for hidden, n in [(3, 9), (8, 25), (13, 40)]:
        params = {"w1": t.rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], size=hidden),
                  "b1": t.rng.integers(-8, 9, size=hidden) * 0.25,
                  "w2": t.rng.normal(size=hidden), "b2": float(t.rng.normal())}
        edges = -params["b1"] / params["w1"]  # exact in binary: these points sit on a neuron's threshold
        cases.append((np.concatenate([t.rng.integers(-40, 41, size=n) * 0.125, edges]), params))
    labels = [f"network_output with {len(params['w1'])} hidden neurons on {x.size} points (some on the thresholds)"
              for x, params in cases]
    inputs = [{"x": x, "params": params} for x, params in cases]
    got = t.student.run_each("result = network_output(x, params)", labels, inputs, stand_ins=("step",))
    want = t.reference.run_each("result = network_output(x, params)", labels, inputs)
    for label, (x, _), yours, expected in zip(labels, cases, got, want, strict=True):
        t.expect(np.shape(t.array(label, yours)) == x.shape, f"network_output on {x.size} points must return "
                 f"{x.size} values")
        t.close(label, yours, expected)


# The student's parameters for f, as data; then evaluated by the reference network, against the reference's own.
PARAMETERS = "p = box_network(eval(f), B, N)\nresult = {key: p[key] for key in ('w1', 'b1', 'w2', 'b2')}"
STAIRCASE = "result = [network_output(x, params), network_output(x, box_network(eval(f), B, N))]"
ERRORS = ("grid = np.linspace(-B, B, 4001)[1:]\n"
          "result = [float(np.max(np.abs(network_output(grid, p) - eval(f)(grid)))) for p in params]")


def _parameters(t: Trial, f: str, sizes: list[tuple[float, int]]) -> list[dict]:
    """The student's box_network(f, B, N) for each (B, N), checked for shape."""
    labels = [f"box_network(f, {B}, {N})" for B, N in sizes]
    answers = t.student.run_each(PARAMETERS, labels, [{"f": f, "B": B, "N": N} for B, N in sizes])
    params = []
    for label, (_, N), got in zip(labels, sizes, answers, strict=True):
        t.expect(type(got) is dict, f"{label} must return a dict with w1, b1, w2 and b2")
        for key in ("w1", "b1", "w2"):
            t.expect(np.shape(t.array(f"{label}: {key}", got[key])) == (2 * N,),
                     f"{label}: {key} must have 2N = {2 * N} entries")
        params.append({key: t.array(f"{label}: {key}", got[key]) for key in ("w1", "b1", "w2")} | {
            "b2": t.number(f"{label}: b2", got["b2"])})
    return params


@check
def box_network(t: Trial) -> None:
    """box_network"""
    _parameters(t, "lambda x: x", [(2.0, 4)])
    functions = [("sin(3x)", "lambda x: np.sin(3 * x)"), ("x^2 - x", "lambda x: x**2 - x"),
                 ("exp(-x) |x|", "lambda x: np.exp(-x) * np.abs(x)")]
    sizes = [(2.0, 8), (1.5, 6), (1.7, 13), (3.0, 5)]
    for name, f in functions:
        labels, cases = [], []
        for (B, N), params in zip(sizes, _parameters(t, f, sizes), strict=True):
            edges = np.linspace(-B, B, N + 1)
            x = np.concatenate([t.rng.uniform(-B, B, size=60), edges[1:] - 1e-7, edges[:-1] + 1e-7,
                                [-B - 0.5, B + 0.5, -3 * B, 3 * B]])
            if B in (2.0, 1.5):  # edges exactly representable: check the edges themselves
                x = np.concatenate([x, edges[1:]])
            labels.append(f"box_network for f(x) = {name} with B={B}, N={N}, at random points, near the edges and "
                          "outside")
            cases.append({"x": x, "params": params, "f": f, "B": B, "N": N})
        for label, (yours, want) in zip(labels, t.reference.run_each(STAIRCASE, labels, cases, about_student=True),
                                        strict=True):
            t.close(label, yours, want, rtol=1e-6, atol=1e-9)


@check
def error_rate(t: Trial) -> None:
    """the staircase's error rate"""
    Ns = [8, 16, 32, 64, 128]
    for name, f in [("|x| + sin(2x)", "lambda x: np.abs(x) + np.sin(2 * x)"),
                    ("3 cos(x) - |x - 0.3|", "lambda x: 3 * np.cos(x) - np.abs(x - 0.3)")]:
        params = _parameters(t, f, [(2.0, N) for N in Ns])
        errors = t.reference.run(ERRORS, "your box networks' errors", about_student=True, params=params, f=f, B=2.0)
        slope = float(np.polyfit(np.log(Ns), np.log([t.number("error", e) for e in errors]), 1)[0])
        t.expect(-1.3 < slope < -0.7, f"f(x) = {name}: the max error falls with slope {slope:.2f} on a log-log "
                 "plot, not -1")


@check
def init_std(t: Trial) -> None:
    """init_std"""
    cases = [(100, 100, "lecun"), (50, 150, "xavier"), (200, 10, "he")]
    cases += [(n_in, n_out, scheme) for n_in, n_out in [(784, 128), (30, 500), (7, 3), (1, 64), (256, 256)]
              for scheme in ("lecun", "xavier", "he")]
    labels = [f"init_std({n_in}, {n_out}, {scheme!r})" for n_in, n_out, scheme in cases]
    arguments = [{"arguments": list(case)} for case in cases]
    for label, got, want in zip(labels, t.student.run_each("result = init_std(*arguments)", labels, arguments),
                                t.reference.run_each("result = init_std(*arguments)", labels, arguments),
                                strict=True):
        t.close(label, t.number(label, got), want, rtol=1e-6)
    raised = t.student.run("try:\n    init_std(10, 10, 'uniform')\n    result = None\n"
                           "except ValueError:\n    result = 'ValueError'", "init_std")
    t.expect(raised == "ValueError", "init_std must raise ValueError for an unknown scheme")
