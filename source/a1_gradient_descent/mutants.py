"""Realistic mistakes and correct alternatives for assignment 1 (instructor only, never released).

``dlcourse prove a1_gradient_descent`` grades each one and checks that bugs lose points exactly in their
``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

GD = ["test_optimize_f_constant", "test_optimize_f_decay"]

VARIANTS = [
    # optimize_f
    Variant("x moves before the y-gradient is taken (sequential update)", "optimize_f",
            replace=[("x, y = x - eta * df_dx(x, y), y - eta * df_dy(x, y)",
                      "x = x - eta * df_dx(x, y)\n        y = y - eta * df_dy(x, y)")],
            fails=GD),
    Variant("decay compounds: eta_{t+1} = eta_t * decay**t", "optimize_f",
            replace=[("x_hist, y_hist = [x], [y]", "x_hist, y_hist = [x], [y]\n    eta = step_size"),
                     ("        eta = step_size * decay**t\n", ""),
                     ("        y_hist.append(y)\n", "        y_hist.append(y)\n        eta = eta * decay**t\n")],
            fails=["test_optimize_f_decay"]),
    Variant("decay starts one step early: eta_t = step_size * decay**(t + 1)", "optimize_f",
            replace=[("eta = step_size * decay**t", "eta = step_size * decay**(t + 1)")],
            fails=["test_optimize_f_decay"]),
    Variant("histories leave out the starting point", "optimize_f",
            replace=[("x_hist, y_hist = [x], [y]", "x_hist, y_hist = [], []")],
            fails=GD),
    Variant("a while loop without its stopping test: never returns", "optimize_f",
            replace=[("    for t in range(steps):\n", "    t = -1\n    while True:\n        t += 1\n")],
            fails=GD),
    Variant("gradient ascent: steps uphill", "optimize_f",
            replace=[("x - eta * df_dx(x, y), y - eta * df_dy(x, y)", "x + eta * df_dx(x, y), y + eta * df_dy(x, y)")],
            fails=GD),
    # tuned settings
    Variant("tuned settings that stop in a local minimum", "tuned_settings",
            replace=[("0.2, 20, 0.9", "0.1, 50, 1.0")],
            fails=["test_tuned_settings"]),
    # momentum
    Variant("Nesterov look-ahead instead of heavy ball", "optimize_f_momentum",
            replace=[("beta * vx - step_size * df_dx(x, y), beta * vy - step_size * df_dy(x, y)",
                      "beta * vx - step_size * df_dx(x + beta * vx, y + beta * vy), "
                      "beta * vy - step_size * df_dy(x + beta * vx, y + beta * vy)")],
            fails=["test_momentum"]),
    Variant("velocity forgets the past (beta ignored)", "optimize_f_momentum",
            replace=[("beta * vx - step_size", "0 * vx - step_size"), ("beta * vy - step_size", "0 * vy - step_size")],
            fails=["test_momentum"]),
    Variant("exponential moving average of gradients, v = beta v + (1 - beta) g", "optimize_f_momentum",
            replace=[("vx, vy = beta * vx - step_size * df_dx(x, y), beta * vy - step_size * df_dy(x, y)\n"
                      "        x, y = x + vx, y + vy",
                      "vx, vy = beta * vx + (1 - beta) * df_dx(x, y), beta * vy + (1 - beta) * df_dy(x, y)\n"
                      "        x, y = x - step_size * vx, y - step_size * vy")],
            fails=["test_momentum"]),
    # tensors and autograd
    Variant("v1 and v2 as vectors of shape (2,), V stacked from them", "tensors",
            replace=[("v1 = torch.tensor([[1.0], [2.0]])", "v1 = torch.tensor([1.0, 2.0])"),
                     ("v2 = torch.tensor([[-2.0], [-1.0]])", "v2 = torch.tensor([-2.0, -1.0])"),
                     ("V = torch.cat([v1, v2], dim=1)", "V = torch.stack([v1, v2], dim=1)")],
            fails=["test_tensors"]),
    Variant("V with v1 and v2 as rows", "tensors",
            replace=[("V = torch.cat([v1, v2], dim=1)", "V = torch.cat([v1.T, v2.T], dim=0)")],
            fails=["test_tensors"]),
    Variant("integer tensors", "tensors",
            replace=[("A = torch.tensor([[1.0, -1.0], [0.0, 1.0]])", "A = torch.tensor([[1, -1], [0, 1]])")],
            fails=["test_tensors"]),
    Variant("A transposed", "tensors",
            replace=[("A = torch.tensor([[1.0, -1.0], [0.0, 1.0]])", "A = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])")],
            fails=["test_tensors"]),
    Variant("squared_distance returns the distance, not its square", "tensor_ops",
            replace=[("return ((a - b) ** 2).sum()", "return ((a - b) ** 2).sum().sqrt()")],
            fails=["test_tensor_ops"]),
    Variant("squared_distance through torch.norm", "tensor_ops",
            replace=[("return ((a - b) ** 2).sum()", "return torch.norm(a - b) ** 2")],
            fails=["test_tensor_ops"]),
    Variant("matrix_product returns the transpose (B^T A^T)", "tensor_ops",
            replace=[("return A @ B", "return B.T @ A.T")],
            fails=["test_tensor_ops"]),
    Variant("hand-derived dy/dv2 has the wrong sign", "distance_gradients",
            replace=[("return 2 * (v1 - v2), -2 * (v1 - v2)", "return 2 * (v1 - v2), 2 * (v1 - v2)")],
            fails=["test_distance_gradients"]),
    Variant("dy/dw misses the inner derivative x", "exp_sin_gradients",
            replace=[("return w.grad.item(), b.grad.item()",
                      "return (y * torch.cos(x * w)).item(), b.grad.item()")],
            fails=["test_exp_sin_gradients"]),
    # correct alternatives
    Variant("vectorized state p = (x, y) with NumPy arrays", "optimize_f", code='''
def optimize_f(x, y, step_size, steps, decay=1.0):
    p = np.array([x, y], dtype=float)
    path = [p.copy()]
    for t in range(steps):
        p = p - step_size * decay**t * np.array([df_dx(*p), df_dy(*p)])
        path.append(p.copy())
    path = np.array(path)
    return p[0], p[1], f(*p), path[:, 0], path[:, 1]
'''),
    Variant("float32 arithmetic throughout", "optimize_f", code='''
def optimize_f(x, y, step_size, steps, decay=1.0):
    x, y = np.float32(x), np.float32(y)
    eta, decay = np.float32(step_size), np.float32(decay)
    x_hist, y_hist = [x], [y]
    for _ in range(steps):
        gx, gy = df_dx(x, y), df_dy(x, y)
        x, y = np.float32(x - eta * gx), np.float32(y - eta * gy)
        eta = np.float32(eta * decay)
        x_hist.append(x)
        y_hist.append(y)
    return x, y, f(x, y), x_hist, y_hist
'''),
    Variant("gradients from torch autograd instead of the given formulas", "optimize_f", code='''
def optimize_f(x, y, step_size, steps, decay=1.0):
    point = torch.tensor([float(x), float(y)], dtype=torch.float64)
    x_hist, y_hist = [float(x)], [float(y)]
    for t in range(steps):
        p = point.clone().requires_grad_(True)
        value = p[0] ** 2 + p[1] ** 2 + p[0] * (p[1] + 2) + torch.cos(3 * p[0])
        value.backward()
        point = point - step_size * decay**t * p.grad
        x_hist.append(point[0].item())
        y_hist.append(point[1].item())
    x, y = x_hist[-1], y_hist[-1]
    return x, y, f(x, y), x_hist, y_hist
'''),
    Variant("momentum as v = beta v + g, p = p - eta v", "optimize_f_momentum", code='''
def optimize_f_momentum(x, y, step_size, steps, beta):
    v = np.zeros(2)
    p = np.array([x, y], dtype=float)
    xs, ys = [x], [y]
    for _ in range(steps):
        v = beta * v + np.array([df_dx(*p), df_dy(*p)])
        p = p - step_size * v
        xs.append(p[0])
        ys.append(p[1])
    return p[0], p[1], f(*p), xs, ys
'''),
    Variant("momentum in Polyak's form p + beta (p - p_prev)", "optimize_f_momentum", code='''
def optimize_f_momentum(x, y, step_size, steps, beta):
    xs, ys = [x], [y]
    prev_x, prev_y = x, y
    for _ in range(steps):
        new_x = x - step_size * df_dx(x, y) + beta * (x - prev_x)
        new_y = y - step_size * df_dy(x, y) + beta * (y - prev_y)
        prev_x, prev_y, x, y = x, y, new_x, new_y
        xs.append(x)
        ys.append(y)
    return x, y, f(x, y), xs, ys
'''),
    Variant("tensors from nested lists with an explicit dtype, V by hstack", "tensors", code='''
A = torch.tensor([[1, -1], [0, 1]], dtype=torch.float32)
v1 = torch.tensor([1.0, 2.0]).reshape(2, 1)
v2 = torch.tensor([[-2.0], [-1.0]])
V = torch.hstack([v1, v2])
'''),
    Variant("tensor ops via torch.mul, torch.matmul and a dot product", "tensor_ops", code='''
def elementwise_product(A, B):
    return torch.mul(A, B)


def matrix_product(A, B):
    return torch.matmul(A, B)


def squared_distance(a, b):
    d = (a - b).flatten()
    return torch.dot(d, d)
'''),
    Variant("squared_distance as d^T d (a 1x1 tensor)", "tensor_ops",
            replace=[("return ((a - b) ** 2).sum()", "return (a - b).T @ (a - b)")]),
    Variant("torch.autograd.grad instead of backward()", "distance_gradients",
            replace=[("((a - b) ** 2).sum().backward()\n    return a.grad, b.grad",
                      "return torch.autograd.grad(((a - b) ** 2).sum(), [a, b])")]),
    Variant("exp_sin_gradients in float32, returning tensors", "exp_sin_gradients", code='''
def exp_sin_gradients(x, w, b):
    w = torch.tensor([w], dtype=torch.float32, requires_grad=True)
    b = torch.tensor([b], dtype=torch.float32, requires_grad=True)
    torch.exp(torch.sin(x * w) + b).sum().backward()
    return w.grad, b.grad
'''),
]
