"""Realistic mistakes and correct alternatives for assignment 2 (instructor only, never released).

``dlcourse prove a2_graphs_and_backprop`` grades each one and checks that bugs lose points exactly in
their ``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

VARIANTS = [
    # build_sigmoid_graph
    Variant("bias w2 forgotten: the neuron has only four inputs", "build_sigmoid_graph",
            replace=[('for name in ["w0", "x0", "w1", "x1", "w2"]:', 'for name in ["w0", "x0", "w1", "x1"]:'),
                     ('["z1", "z2", "w2"]', '["z1", "z2"]')],
            fails=["test_build_sigmoid_graph"]),
    Variant("negation forgotten: 1 / (1 + exp(+s))", "build_sigmoid_graph",
            replace=[('add_operation(G, "flip", "negate", ["z3"], "z4")\n'
                      '    add_operation(G, "exp", "exp", ["z4"], "z5")',
                      'add_operation(G, "exp", "exp", ["z3"], "z4")'),
                     ('["z5"], "z6", c=1.0)', '["z4"], "z5", c=1.0)'),
                     ('["z6"], "f")', '["z5"], "f")')],
            fails=["test_build_sigmoid_graph"]),
    Variant("reciprocal forgotten: the output is 1 + exp(-s)", "build_sigmoid_graph",
            replace=[('"z5"], "z6", c=1.0)', '"z5"], "f", c=1.0)'),
                     ('    add_operation(G, "recip", "reciprocal", ["z6"], "f")\n', '')],
            fails=["test_build_sigmoid_graph"]),
    Variant("1 - exp(-s) instead of 1 + exp(-s)", "build_sigmoid_graph",
            replace=[('add_operation(G, "plus_one", "add_constant", ["z5"], "z6", c=1.0)',
                      'add_operation(G, "minus", "negate", ["z5"], "z6")\n'
                      '    add_operation(G, "plus_one", "add_constant", ["z6"], "z7", c=1.0)'),
                     ('["z6"], "f")', '["z7"], "f")')],
            fails=["test_build_sigmoid_graph"]),
    # evaluate_graph
    Variant("nodes visited in insertion order, not topological order", "evaluate_graph",
            replace=[("for node in nx.topological_sort(G):", "for node in list(G.nodes):")],
            fails=["test_evaluate_graph"]),
    Variant("add uses only its first two inputs", "evaluate_graph",
            replace=[("values[node] = sum(args)", "values[node] = args[0] + args[1]")],
            fails=["test_evaluate_graph"]),
    Variant("add_constant always adds 1 (the sigmoid's constant)", "evaluate_graph",
            replace=[('values[node] = args[0] + data["c"]', "values[node] = args[0] + 1.0")],
            fails=["test_evaluate_graph"]),
    Variant("op nodes get no value of their own", "evaluate_graph", code='''
def evaluate_graph(G, inputs):
    values = {}
    for node in nx.topological_sort(G):
        data = G.nodes[node]
        preds = list(G.predecessors(node))
        if data["kind"] != "var":
            continue
        if not preds:
            values[node] = inputs[data["name"]]
            continue
        op = G.nodes[preds[0]]
        args = [values[p] for p in G.predecessors(preds[0])]
        if op["op"] == "add":
            values[node] = sum(args)
        elif op["op"] == "multiply":
            values[node] = args[0] * args[1]
        elif op["op"] == "negate":
            values[node] = -args[0]
        elif op["op"] == "exp":
            values[node] = np.exp(args[0])
        elif op["op"] == "add_constant":
            values[node] = args[0] + op["c"]
        else:
            values[node] = 1.0 / args[0]
    return values
''', fails=["test_evaluate_graph"]),
    # backprop_graph
    Variant("gradients overwritten instead of accumulated (fan-out lost)", "backprop_graph",
            replace=[("grads[parent] += derivative * grads[node]", "grads[parent] = derivative * grads[node]")],
            fails=["test_backprop_graph"]),
    Variant("chain rule forgotten: local derivative not multiplied by the upstream gradient", "backprop_graph",
            replace=[("grads[parent] += derivative * grads[node]", "grads[parent] += derivative")],
            fails=["test_backprop_graph"]),
    Variant("derivative of 1/a taken as +1/a^2", "backprop_graph",
            replace=[("local = [-1.0 / args[0] ** 2]", "local = [1.0 / args[0] ** 2]")],
            fails=["test_backprop_graph"]),
    Variant("multiply: each input's derivative is itself, not the other input", "backprop_graph",
            replace=[("local = [args[1], args[0]]", "local = [args[0], args[1]]")],
            fails=["test_backprop_graph"]),
    # forward_by_hand
    Variant("z2 without the sign of w2: +0.08", "forward_by_hand",
            replace=[('"z2": -0.08', '"z2": 0.08')],
            fails=["test_forward_by_hand"]),
    Variant("negation skipped: z4 written as z3", "forward_by_hand",
            replace=[('"z4": 0.05', '"z4": -0.05')],
            fails=["test_forward_by_hand"]),
    Variant("error taken as f* - f", "forward_by_hand",
            replace=[('"e": 0.051271', '"e": -0.051271')],
            fails=["test_forward_by_hand"]),
    Variant("f rounded to 1.051 before subtracting: e = 0.051, two significant digits", "forward_by_hand",
            replace=[('"e": 0.051271', '"e": 0.051')],
            fails=["test_forward_by_hand"]),
    # manual_gradients
    Variant("f taken as 1 (the target) instead of the computed f", "manual_gradients",
            replace=[("return -x1 * f, -x2 * f", "return -x1 * f_star, -x2 * f_star")],
            fails=["test_manual_gradients"]),
    Variant("derivative of exp(-s) without the minus sign", "manual_gradients",
            replace=[("return -x1 * f, -x2 * f", "return x1 * f, x2 * f")],
            fails=["test_manual_gradients"]),
    Variant("hard-coded numbers from the worked example", "manual_gradients", code='''
def manual_gradients(w1, x1, w2, x2, f_star):
    return -0.315381, -0.420508
''', fails=["test_manual_gradients"]),
    # autograd_gradients
    Variant("returns the gradients of the inputs x instead of the weights w", "autograd_gradients", code='''
def autograd_gradients(w1, x1, w2, x2, f_star):
    x1 = torch.tensor(float(x1), dtype=torch.float64, requires_grad=True)
    x2 = torch.tensor(float(x2), dtype=torch.float64, requires_grad=True)
    e = torch.exp(-(w1 * x1 + w2 * x2)) - f_star
    e.backward()
    return x1.grad.item(), x2.grad.item()
''', fails=["test_autograd_gradients"]),
    Variant("loss taken as e**2 / 2 instead of e", "autograd_gradients",
            replace=[("e.backward()", "(e**2 / 2).backward()")],
            fails=["test_autograd_gradients"]),
    # step
    Variant("step(0) = 1 (z >= 0)", "step",
            replace=[("np.asarray(z) > 0", "np.asarray(z) >= 0")],
            fails=["test_step"]),
    Variant("sigmoid instead of a step", "step",
            replace=[("return np.where(np.asarray(z) > 0, 1.0, 0.0)", "return 1 / (1 + np.exp(-np.asarray(z)))")],
            fails=["test_step"]),
    # box
    Variant("box as step(x) + step(x - delta) (second neuron not subtracted)", "box",
            replace=[("return h * step(x) - h * step(x - delta)", "return h * step(x) + h * step(x - delta) - h")],
            fails=["test_box"]),
    Variant("box centred at 0: h on (-delta/2, delta/2]", "box",
            replace=[("return h * step(x) - h * step(x - delta)",
                      "return h * step(x + delta / 2) - h * step(x - delta / 2)")],
            fails=["test_box"]),
    Variant("box of height 1 (h ignored)", "box",
            replace=[("return h * step(x) - h * step(x - delta)", "return step(x) - step(x - delta)")],
            fails=["test_box"]),
    # network_output
    Variant("output bias b2 forgotten", "network_output",
            replace=[('return hidden @ params["w2"] + params["b2"]', 'return hidden @ params["w2"]')],
            fails=["test_network_output"]),
    Variant("hidden bias subtracted instead of added", "network_output",
            replace=[('step(x * params["w1"] + params["b1"])', 'step(x * params["w1"] - params["b1"])')],
            fails=["test_network_output"]),
    # box_network
    Variant("heights at the left edges instead of the midpoints", "box_network",
            replace=[("heights = f((edges[:-1] + edges[1:]) / 2)", "heights = f(edges[:-1])")],
            fails=["test_box_network"]),
    Variant("box width B / N: only [-B, 0] covered", "box_network",
            replace=[("edges = np.linspace(-B, B, N + 1)", "edges = -B + B / N * np.arange(N + 1)")],
            fails=["test_box_network", "test_error_rate"]),
    Variant("second neuron of each box not negated (boxes never switch off)", "box_network",
            replace=[('"w2": np.concatenate([heights, -heights])', '"w2": np.concatenate([heights, heights])')],
            fails=["test_box_network", "test_error_rate"]),
    Variant("N - 1 boxes: np.linspace(-B, B, N)", "box_network",
            replace=[("edges = np.linspace(-B, B, N + 1)", "edges = np.linspace(-B, B, N)")],
            fails=["test_box_network", "test_error_rate"]),
    Variant("boxes open at the right edge: step(x - a_k) + step(a_{k+1} - x) - 1", "box_network", code='''
def box_network(f, B, N):
    edges = np.linspace(-B, B, N + 1)
    heights = f((edges[:-1] + edges[1:]) / 2)
    w1 = np.concatenate([np.ones(N), -np.ones(N)])
    b1 = np.concatenate([-edges[:-1], edges[1:]])
    return {"w1": w1, "b1": b1, "w2": np.concatenate([heights, heights]), "b2": -float(np.sum(heights))}
''', fails=["test_box_network", "test_error_rate"]),
    # init_std
    Variant("returns the variance instead of the standard deviation", "init_std",
            replace=[("return math.sqrt(variance)", "return variance")],
            fails=["test_init_std"]),
    Variant("n_in and n_out swapped", "init_std",
            replace=[("variance = 1.0 / n_in", "variance = 1.0 / n_out"),
                     ("variance = 2.0 / n_in", "variance = 2.0 / n_out")],
            fails=["test_init_std"]),
    Variant("xavier without the factor 2", "init_std",
            replace=[("variance = 2.0 / (n_in + n_out)", "variance = 1.0 / (n_in + n_out)")],
            fails=["test_init_std"]),
    Variant("he without the factor 2: LeCun's 1/n_in for ReLU layers", "init_std",
            replace=[("variance = 2.0 / n_in", "variance = 1.0 / n_in")],
            fails=["test_init_std"]),
    Variant("unknown scheme silently falls back to lecun", "init_std",
            replace=[('raise ValueError(f"unknown initialization scheme {scheme!r}")', "variance = 1.0 / n_in")],
            fails=["test_init_std"]),

    # ------------------------------------------------------------------------------------------------------
    # correct alternatives
    Variant("sigmoid graph with two-input adds, raw networkx calls and other op ids", "build_sigmoid_graph", code='''
def build_sigmoid_graph():
    G = nx.DiGraph()
    for name in ["w0", "x0", "w1", "x1", "w2"]:
        G.add_node(name, kind="var", name=name)
    steps = [("m0", "multiply", ["w0", "x0"], "z1", {}), ("m1", "multiply", ["w1", "x1"], "z2", {}),
             ("a0", "add", ["z1", "z2"], "z3", {}), ("a1", "add", ["z3", "w2"], "z4", {}),
             ("n", "negate", ["z4"], "z5", {}), ("e", "exp", ["z5"], "z6", {}),
             ("p", "add_constant", ["z6"], "z7", {"c": 1}), ("r", "reciprocal", ["z7"], "f", {})]
    for op_id, op, args, out, attrs in steps:
        G.add_node(op_id, kind="op", op=op, **attrs)
        G.add_node(out, kind="var", name=out)
        G.add_edges_from([(a, op_id) for a in args] + [(op_id, out)])
    return G
'''),
    Variant("sigmoid graph built from the output backwards", "build_sigmoid_graph", code='''
def build_sigmoid_graph():
    G = nx.DiGraph()
    add_operation(G, "recip", "reciprocal", ["z6"], "f")
    add_operation(G, "plus_one", "add_constant", ["z5"], "z6", c=1.0)
    add_operation(G, "exp", "exp", ["z4"], "z5")
    add_operation(G, "flip", "negate", ["z3"], "z4")
    add_operation(G, "sum", "add", ["z2", "w2", "z1"], "z3")
    add_operation(G, "mul1", "multiply", ["x1", "w1"], "z2")
    add_operation(G, "mul0", "multiply", ["x0", "w0"], "z1")
    for name in ["w0", "x0", "w1", "x1", "w2"]:
        add_input(G, name)
    return G
'''),
    Variant("recursive, memoized forward pass with math.exp", "evaluate_graph", code='''
def evaluate_graph(G, inputs):
    values = {}

    def value(node):
        if node in values:
            return values[node]
        data = G.nodes[node]
        args = [value(p) for p in G.predecessors(node)]
        if data["kind"] == "var":
            result = args[0] if args else float(inputs[node])
        else:
            op = data["op"]
            if op == "add":
                result = math.fsum(args)
            elif op == "multiply":
                result = args[0] * args[1]
            elif op == "negate":
                result = -args[0]
            elif op == "exp":
                result = math.exp(args[0])
            elif op == "add_constant":
                result = args[0] + data["c"]
            elif op == "reciprocal":
                result = 1 / args[0]
            else:
                raise ValueError(op)
        values[node] = result
        return result

    for node in G:
        value(node)
    return values
'''),
    Variant("forward pass with a dispatch table of lambdas", "evaluate_graph", code='''
FORWARD = {
    "add": lambda args, d: sum(args),
    "multiply": lambda args, d: args[0] * args[1],
    "negate": lambda args, d: -args[0],
    "exp": lambda args, d: np.exp(args[0]),
    "add_constant": lambda args, d: args[0] + d["c"],
    "reciprocal": lambda args, d: 1 / args[0],
}


def evaluate_graph(G, inputs):
    values = dict(inputs)
    for node in nx.topological_sort(G):
        if G.in_degree(node) == 0:
            continue
        args = [values[p] for p in G.predecessors(node)]
        data = G.nodes[node]
        values[node] = FORWARD[data["op"]](args, data) if data["kind"] == "op" else args[0]
    return values
'''),
    Variant("backprop pulling from consumers (grad = sum over successors)", "backprop_graph", code='''
def backprop_graph(G, values):
    order = list(nx.topological_sort(G))
    grads = {}
    for node in reversed(order):
        data = G.nodes[node]
        if G.out_degree(node) == 0:
            grads[node] = 1.0
        elif data["kind"] == "op":
            grads[node] = grads[next(iter(G.successors(node)))]
        else:
            total = 0.0
            for op in G.successors(node):
                od = G.nodes[op]
                args = list(G.predecessors(op))
                if od["op"] in ("add", "add_constant"):
                    local = 1.0
                elif od["op"] == "multiply":
                    other = args[1] if args[0] == node else args[0]
                    local = values[other]
                elif od["op"] == "negate":
                    local = -1.0
                elif od["op"] == "exp":
                    local = np.exp(values[node])
                else:
                    local = -values[op] ** 2
                total += local * grads[op]
            grads[node] = total
    return grads
'''),
    Variant("backprop via a dict of local-derivative functions and defaultdict", "backprop_graph", code='''
from collections import defaultdict

LOCAL = {
    "add": lambda a, r: [1.0] * len(a),
    "add_constant": lambda a, r: [1.0],
    "multiply": lambda a, r: [a[1], a[0]],
    "negate": lambda a, r: [-1.0],
    "exp": lambda a, r: [r],
    "reciprocal": lambda a, r: [-r * r],
}


def backprop_graph(G, values):
    order = list(nx.topological_sort(G))
    grads = defaultdict(float)
    grads[order[-1]] = 1.0
    for node in reversed(order):
        if G.nodes[node]["kind"] == "op":
            (out,) = list(G.successors(node))
            grads[node] = grads[out]
            parents = list(G.predecessors(node))
            for p, d in zip(parents, LOCAL[G.nodes[node]["op"]]([values[q] for q in parents], values[node])):
                grads[p] += d * grads[node]
    return {n: grads[n] for n in G}
'''),
    Variant("forward values rounded to 4 significant digits", "forward_by_hand",
            replace=[('"f": 1.051271', '"f": 1.051'), ('"e": 0.051271', '"e": 0.05127')]),
    Variant("forward values rounded to 3 significant digits", "forward_by_hand",
            replace=[('"f": 1.051271', '"f": 1.05'), ('"e": 0.051271', '"e": 0.0513')]),
    Variant("forward values as fractions and NumPy numbers from a calculator session", "forward_by_hand", code='''
forward_by_hand = {"z1": 3 / 100, "z2": -8 / 100, "z3": np.float64(-0.05), "z4": np.float32(0.05),
                   "f": np.exp(0.05), "e": np.exp(0.05) - 1}
'''),
    Variant("manual gradients step by step through the chain", "manual_gradients", code='''
def manual_gradients(w1, x1, w2, x2, f_star):
    z1, z2 = w1 * x1, w2 * x2
    z3 = z1 + z2
    z4 = -z3
    f = np.exp(z4)
    de_df = 1.0
    de_dz4 = de_df * f
    de_dz3 = -de_dz4
    de_dz1 = de_dz2 = de_dz3
    return de_dz1 * x1, de_dz2 * x2
'''),
    Variant("manual gradients in float32", "manual_gradients", code='''
def manual_gradients(w1, x1, w2, x2, f_star):
    w1, x1, w2, x2 = (np.float32(v) for v in (w1, x1, w2, x2))
    f = np.exp(-(w1 * x1 + w2 * x2))
    return float(-x1 * f), float(-x2 * f)
'''),
    Variant("torch.autograd.grad in float32 on a stacked weight vector", "autograd_gradients", code='''
def autograd_gradients(w1, x1, w2, x2, f_star):
    w = torch.tensor([w1, w2], dtype=torch.float32, requires_grad=True)
    x = torch.tensor([x1, x2], dtype=torch.float32)
    e = torch.exp(-(w * x).sum()) - f_star
    (g,) = torch.autograd.grad(e, w)
    return float(g[0]), float(g[1])
'''),
    Variant("step via astype", "step",
            replace=[("return np.where(np.asarray(z) > 0, 1.0, 0.0)", "return (np.asarray(z) > 0).astype(float)")]),
    Variant("step via np.heaviside(z, 0)", "step",
            replace=[("return np.where(np.asarray(z) > 0, 1.0, 0.0)", "return np.heaviside(z, 0.0)")]),
    Variant("box with the output weight factored out: h (step(x) - step(x - delta))", "box", code='''
def box(x, h, delta):
    x = np.asarray(x, dtype=float)
    return h * (step(x) - step(x - delta))
'''),
    Variant("network_output with np.outer and an explicit transpose", "network_output", code='''
def network_output(x, params):
    pre = np.outer(np.ravel(x), params["w1"]) + params["b1"]
    return (params["w2"].reshape(1, -1) * step(pre)).sum(axis=1) + params["b2"]
'''),
    Variant("network_output in torch float64", "network_output", code='''
def network_output(x, params):
    xt = torch.as_tensor(np.asarray(x, dtype=float)).reshape(-1, 1)
    pre = xt * torch.as_tensor(params["w1"]) + torch.as_tensor(params["b1"])
    hidden = torch.as_tensor(step(pre.numpy()))
    return (hidden @ torch.as_tensor(params["w2"], dtype=torch.float64)).numpy() + params["b2"]
'''),
    Variant("box_network with scaled neurons (w1 = 1/delta) and a loop over boxes", "box_network", code='''
def box_network(f, B, N):
    delta = 2 * B / N
    w1, b1, w2 = [], [], []
    for k in range(N):
        left = -B + k * delta
        right = -B + (k + 1) * delta if k < N - 1 else B
        height = float(f(np.array([left + delta / 2]))[0])
        w1 += [1 / delta, 1 / delta]
        b1 += [-left / delta, -right / delta]
        w2 += [height, -height]
    return {"w1": np.array(w1), "b1": np.array(b1), "w2": np.array(w2), "b2": 0.0}
'''),
    Variant("box_network with interleaved neurons scaled by 2 and a float32 height vector", "box_network", code='''
def box_network(f, B, N):
    edges = np.linspace(-B, B, N + 1)
    heights = f((edges[:-1] + edges[1:]) / 2).astype(np.float32)
    w1 = np.full(2 * N, 2.0)
    b1 = np.empty(2 * N)
    b1[0::2], b1[1::2] = -2 * edges[:-1], -2 * edges[1:]
    w2 = np.empty(2 * N)
    w2[0::2], w2[1::2] = heights, -heights
    return {"w1": w1, "b1": b1, "w2": w2, "b2": 0.0}
'''),
    Variant("init_std with a dict of variance formulas and ** 0.5", "init_std", code='''
def init_std(n_in, n_out, scheme):
    variances = {"lecun": lambda: 1 / n_in, "xavier": lambda: 2 / (n_in + n_out), "he": lambda: 2 / n_in}
    if scheme not in variances:
        raise ValueError(scheme)
    return variances[scheme]() ** 0.5
'''),
    Variant("init_std via torch.nn.init gain conventions, returning a numpy float", "init_std", code='''
def init_std(n_in, n_out, scheme):
    if scheme == "lecun":
        return np.sqrt(1.0 / n_in)
    if scheme == "xavier":
        return torch.nn.init.calculate_gain("linear") * np.sqrt(2.0 / (n_in + n_out))
    if scheme == "he":
        return torch.nn.init.calculate_gain("relu") / np.sqrt(n_in)
    raise ValueError(f"unknown scheme {scheme}")
'''),
]
