"""Realistic mistakes and correct alternatives for assignment 3 (instructor only, never released).

``dlcourse prove a3_networks_from_primitives`` grades each one and checks that bugs lose points exactly in
their ``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

SIGMOID_BOTH = ["test_sigmoid", "test_sigmoid_extreme"]

VARIANTS = [
    # sigmoid
    Variant("textbook formula 1 / (1 + exp(-x)): values fine, nan gradients for very negative x", "sigmoid", code='''
def sigmoid(x):
    return 1 / (1 + torch.exp(-x))
''', fails=["test_sigmoid_extreme"]),
    Variant("exp(x) / (1 + exp(x)): inf / inf = nan for large x", "sigmoid", code='''
def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))
''', fails=["test_sigmoid_extreme"]),
    Variant("torch.where over the two naive branches: right values, nan gradients", "sigmoid", code='''
def sigmoid(x):
    return torch.where(x >= 0, 1 / (1 + torch.exp(-x)), torch.exp(x) / (1 + torch.exp(x)))
''', fails=["test_sigmoid_extreme"]),
    Variant("calls torch.sigmoid", "sigmoid", code='''
def sigmoid(x):
    return torch.sigmoid(x)
''', fails=SIGMOID_BOTH),
    Variant("input clipped to [-10, 10] against overflow: wrong beyond", "sigmoid", code='''
def sigmoid(x):
    return 1 / (1 + torch.exp(-torch.clamp(x, -10, 10)))
''', fails=SIGMOID_BOTH),
    # relu
    Variant("relu modifies its input in place", "relu", code='''
def relu(x):
    x[x < 0] = 0
    return x
''', fails=["test_relu"]),
    Variant("relu as absolute value", "relu", replace=[("torch.clamp(x, min=0)", "torch.abs(x)")], fails=["test_relu"]),
    Variant("relu calls torch.relu", "relu", replace=[("torch.clamp(x, min=0)", "torch.relu(x)")], fails=["test_relu"]),
    # bce_loss
    Variant("BCE summed instead of averaged", "bce_loss", replace=[(".mean()", ".sum()")], fails=["test_bce_loss"]),
    Variant("BCE without the minus sign", "bce_loss", replace=[("return -(y", "return (y")], fails=["test_bce_loss"]),
    Variant("labels and predictions swapped inside the formula", "bce_loss", code='''
def bce_loss(y, y_hat):
    return -(y_hat * torch.log(y) + (1 - y_hat) * torch.log(1 - y)).mean()
''', fails=["test_bce_loss"]),
    # bce_loss_stable
    Variant("stable BCE left naive (no clipping)", "bce_loss_stable",
            replace=[("    y_hat = torch.clamp(y_hat, eps, 1 - eps)\n", "")], fails=["test_bce_stable"]),
    Variant("epsilon far too large (1e-2)", "bce_loss_stable", replace=[("eps=1e-7", "eps=1e-2")],
            fails=["test_bce_stable"]),
    Variant("logarithms clamped at -100 like the library: nan gradients at 0 and 1", "bce_loss_stable", code='''
def bce_loss_stable(y, y_hat, eps=1e-7):
    log_p = torch.clamp(torch.log(y_hat), min=-100)
    log_q = torch.clamp(torch.log(1 - y_hat), min=-100)
    return -(y * log_p + (1 - y) * log_q).mean()
''', fails=["test_bce_stable"]),
    # bce_with_logits
    Variant("naive log(1 + exp(z)): inf for large logits", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    return (torch.log(1 + torch.exp(logits)) - y * logits).mean()
''', fails=["test_bce_with_logits"]),
    Variant("sigmoid then the clipped loss: wrong for confident logits", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    return bce_loss_stable(y, sigmoid(logits))
''', fails=["test_bce_with_logits"]),
    Variant("max(z, 0) term forgotten", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    return (torch.log1p(torch.exp(-torch.abs(logits))) - y * logits).mean()
''', fails=["test_bce_with_logits"]),
    Variant("torch.where over two branches: nan gradients for extreme logits", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    softplus = torch.where(logits >= 0, logits + torch.log1p(torch.exp(-logits)), torch.log1p(torch.exp(logits)))
    return (softplus - y * logits).mean()
''', fails=["test_bce_with_logits"]),
    # bce_logits_gradient
    Variant("gradient without the 1/n of the mean", "bce_logits_gradient",
            replace=[("(sigmoid(logits) - y) / logits.numel()", "sigmoid(logits) - y")],
            fails=["test_bce_logits_gradient"]),
    Variant("sign flipped: (y - sigmoid(z)) / n", "bce_logits_gradient",
            replace=[("(sigmoid(logits) - y)", "(y - sigmoid(logits))")], fails=["test_bce_logits_gradient"]),
    Variant("divided by the number of rows, not of entries", "bce_logits_gradient",
            replace=[("logits.numel()", "len(logits)")], fails=["test_bce_logits_gradient"]),
    Variant("chain rule applied once too often: times sigmoid'(z)", "bce_logits_gradient", code='''
def bce_logits_gradient(y, logits):
    s = sigmoid(logits)
    return (s - y) * s * (1 - s) / logits.numel()
''', fails=["test_bce_logits_gradient"]),
    Variant("the gradient with respect to y_hat instead of the logits", "bce_logits_gradient", code='''
def bce_logits_gradient(y, logits):
    s = sigmoid(logits).clamp(1e-12, 1 - 1e-12)
    return (s - y) / (s * (1 - s)) / logits.numel()
''', fails=["test_bce_logits_gradient"]),
    Variant("asks autograd instead of using the formula", "bce_logits_gradient", code='''
def bce_logits_gradient(y, logits):
    z = logits.detach().clone().requires_grad_(True)
    bce_with_logits(y, z).backward()
    return z.grad
''', fails=["test_bce_logits_gradient"]),
    # model1
    Variant("model1 without the bias", "model1", replace=[("sigmoid(x @ w + b)", "sigmoid(x @ w)")], fails=["test_model1"]),
    Variant("model1 returns the logits", "model1", replace=[("sigmoid(x @ w + b)", "x @ w + b")], fails=["test_model1"]),
    # model1_input_gradient
    Variant("input gradient times x instead of w", "model1_input_gradient",
            replace=[("* w[None, :]", "* x")], fails=["test_model1_input_gradient"]),
    Variant("input gradient without the 1/n of the mean", "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    return (sigmoid(x @ w + b) - y)[:, None] * w[None, :]
''', fails=["test_model1_input_gradient"]),
    Variant("input gradient with the sign flipped", "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    return (y - sigmoid(x @ w + b))[:, None] * w[None, :] / len(x)
''', fails=["test_model1_input_gradient"]),
    Variant("input gradient through the probabilities: (y_hat - y) / n times sigmoid'(z) again",
            "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    y_hat = model1(x, w, b)
    return ((y_hat - y) * y_hat * (1 - y_hat) / len(x))[:, None] * w[None, :]
''', fails=["test_model1_input_gradient"]),
    Variant("input gradient summed over the samples, shape (d,)", "model1_input_gradient",
            replace=[("bce_logits_gradient(y, x @ w + b)[:, None] * w[None, :]",
                      "(bce_logits_gradient(y, x @ w + b)[:, None] * w[None, :]).sum(dim=0)")],
            fails=["test_model1_input_gradient"]),
    Variant("input gradient by autograd", "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    x = x.detach().clone().requires_grad_(True)
    bce_with_logits(y, x @ w + b).backward()
    return x.grad
''', fails=["test_model1_input_gradient"]),
    # network
    Variant("squeeze() also drops the batch dimension when n = 1", "network",
            replace=[("x = x[:, 0]", "x = x.squeeze()")], fails=["test_network"]),
    Variant("single output column never squeezed", "network",
            replace=[("    if x.shape[1] == 1:\n        x = x[:, 0]\n", "")], fails=["test_network"]),
    Variant("no activation on the last layer", "network", code='''
def network(x, params):
    for w, b, activation in params[:-1]:
        x = activation(x @ w + b)
    w, b, _ = params[-1]
    x = x @ w + b
    return x[:, 0] if x.shape[1] == 1 else x
''', fails=["test_network"]),
    Variant("bias added after the activation", "network",
            replace=[("x = activation(x @ w + b)", "x = activation(x @ w) + b")], fails=["test_network"]),
    # make_layer
    Variant("He with fan-out: sqrt(2 / d_out)", "make_layer", replace=[("(2.0 / d_in) ** 0.5", "(2.0 / d_out) ** 0.5")],
            fails=["test_make_layer"]),
    Variant("variance 2 / d_in used as the standard deviation", "make_layer",
            replace=[("(2.0 / d_in) ** 0.5", "(2.0 / d_in)")], fails=["test_make_layer"]),
    Variant("kaiming_normal_ on a (d_in, d_out) tensor: torch takes fan-in from dim 1", "make_layer", code='''
def make_layer(d_in, d_out, activation):
    w = torch.empty(d_in, d_out, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu")
    return w, torch.zeros(d_out, dtype=torch.float64), activation
''', fails=["test_make_layer"]),
    Variant("float32 weights (torch's default dtype)", "make_layer",
            replace=[("torch.randn(d_in, d_out, dtype=torch.float64)", "torch.randn(d_in, d_out)")],
            fails=["test_make_layer"]),
    # evaluate
    Variant("accuracy threshold the wrong way round", "evaluate", replace=[("(y_hat >= 0.5)", "(y_hat < 0.5)")],
            fails=["test_evaluate"]),
    Variant("accuracy as a count, not a fraction", "evaluate",
            replace=[("== y).double().mean()", "== y).double().sum()")], fails=["test_evaluate"]),
    Variant("loss arguments swapped: bce_loss_stable(y_hat, y)", "evaluate",
            replace=[("bce_loss_stable(y, y_hat)", "bce_loss_stable(y_hat, y)")], fails=["test_evaluate"]),
    # experiment_networks
    Variant("ReLU between the 'linear' layers", "experiment_networks",
            replace=[("make_layer(64, 32, identity)", "make_layer(64, 32, relu)")], fails=["test_experiment_networks"]),
    Variant("no sigmoid at the end of the four-layer network", "experiment_networks",
            replace=[("make_layer(16, 1, sigmoid)", "make_layer(16, 1, relu)")], fails=["test_experiment_networks"]),
    Variant("the one-layer network without its sigmoid", "experiment_networks",
            replace=[("[make_layer(64, 1, sigmoid)]", "[make_layer(64, 1, identity)]")],
            fails=["test_experiment_networks"]),
    Variant("four layers 64-32-16-1: the 64 -> 64 layer left out", "experiment_networks",
            replace=[("[make_layer(64, 64, relu), make_layer(64, 32, relu)", "[make_layer(64, 32, relu)")],
            fails=["test_experiment_networks"]),
    Variant("no seed: other networks at every call", "experiment_networks",
            replace=[("    seed_everything(seed)\n", "")], fails=["test_experiment_networks"]),
    Variant("weights drawn by hand without the He scale", "experiment_networks", code='''
def experiment_networks(seed):
    seed_everything(seed)

    def layer(d_in, d_out, activation):
        return torch.randn(d_in, d_out, dtype=torch.float64), torch.zeros(d_out, dtype=torch.float64), activation

    return {"one layer 64-1": [layer(64, 1, sigmoid)],
            "two linear layers 64-32-1": [layer(64, 32, identity), layer(32, 1, sigmoid)],
            "64-32-1 with ReLU": [layer(64, 32, relu), layer(32, 1, sigmoid)],
            "four layers 64-64-32-16-1": [layer(64, 64, relu), layer(64, 32, relu), layer(32, 16, relu),
                                          layer(16, 1, sigmoid)]}
''', fails=["test_experiment_networks"]),
    Variant("a layer shared by the ReLU network and the four-layer network", "experiment_networks", code='''
def experiment_networks(seed):
    seed_everything(seed)
    first = make_layer(64, 32, relu)
    return {"one layer 64-1": [make_layer(64, 1, sigmoid)],
            "two linear layers 64-32-1": [make_layer(64, 32, identity), make_layer(32, 1, sigmoid)],
            "64-32-1 with ReLU": [first, make_layer(32, 1, sigmoid)],
            "four layers 64-64-32-16-1": [make_layer(64, 64, relu), first, make_layer(32, 16, relu),
                                          make_layer(16, 1, sigmoid)]}
''', fails=["test_experiment_networks"]),
    # train_epoch
    Variant("gradients never cleared", "train_epoch", replace=[("\n        clear_gradients(params)", "")],
            fails=["test_train_epoch"]),
    Variant("last, incomplete minibatch also used", "train_epoch",
            replace=[("range(len(x) // batch_size)", "range(-(-len(x) // batch_size))")], fails=["test_train_epoch"]),
    Variant("no shuffling: minibatches in data order", "train_epoch",
            replace=[("order = torch.randperm(len(x))", "order = torch.arange(len(x))")], fails=["test_train_epoch"]),
    Variant("the same shuffle in every epoch", "train_epoch",
            replace=[("order = torch.randperm(len(x))",
                      "order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))")],
            fails=["test_train_epoch"]),
    Variant("minibatches drawn with replacement", "train_epoch",
            replace=[("batch = order[step * batch_size:(step + 1) * batch_size]",
                      "batch = torch.randint(len(x), (batch_size,))")], fails=["test_train_epoch"]),
    Variant("loss summed over the minibatch (update batch_size times too large)", "train_epoch",
            replace=[("loss.backward()", "(loss * batch_size).backward()")], fails=["test_train_epoch"]),
    Variant("one update per epoch with the accumulated gradients", "train_epoch", code='''
def train_epoch(params, x, y, learning_rate, batch_size):
    order = torch.randperm(len(x))
    for step in range(len(x) // batch_size):
        batch = order[step * batch_size:(step + 1) * batch_size]
        bce_loss_stable(y[batch], network(x[batch], params)).backward()
    with torch.no_grad():
        for w, b, _ in params:
            w -= learning_rate * w.grad
            b -= learning_rate * b.grad
    clear_gradients(params)
''', fails=["test_train_epoch"]),
    # fit
    Variant("validation curves computed on the training data", "fit",
            replace=[('("validation", x_val, y_val)', '("validation", x_train, y_train)')], fails=["test_fit"]),
    Variant("learning rate and batch size swapped in the call", "fit",
            replace=[("train_epoch(params, x_train, y_train, learning_rate, batch_size)",
                      "train_epoch(params, x_train, y_train, batch_size, learning_rate)")], fails=["test_fit"]),
    Variant("evaluates before training in each epoch (curves one epoch late)", "fit", code='''
def fit(params, x_train, y_train, x_val, y_val, epochs, learning_rate, batch_size):
    history = {"train loss": [], "validation loss": [], "train accuracy": [], "validation accuracy": []}
    for _ in tqdm(range(epochs)):
        for split, x, y in [("train", x_train, y_train), ("validation", x_val, y_val)]:
            loss, accuracy = evaluate(params, x, y)
            history[f"{split} loss"].append(loss)
            history[f"{split} accuracy"].append(accuracy)
        train_epoch(params, x_train, y_train, learning_rate, batch_size)
    return history
''', fails=["test_fit"]),
    # train_digits
    Variant("learning rate far too small", "train_digits", replace=[("0.2, 16", "0.001, 16")],
            fails=["test_trained_network"]),
    Variant("full-batch training: one update per epoch", "train_digits", replace=[("0.2, 16", "0.2, 899")],
            fails=["test_trained_network"]),
    Variant("a smaller learning rate with batches of 32: 0.93 after 10 epochs, 0.96 after the task's 30",
            "train_digits", replace=[("0.2, 16", "0.05, 32")]),
    Variant("a smaller learning rate with batches of 16: 0.94 after 10 epochs, 0.96 after the task's 30",
            "train_digits", replace=[("0.2, 16", "0.03, 16")]),

    # correct alternatives
    Variant("sigmoid via tanh: (1 + tanh(x / 2)) / 2", "sigmoid", code='''
def sigmoid(x):
    return 0.5 * (1 + torch.tanh(x / 2))
'''),
    Variant("sigmoid with the input clipped to [-80, 80]", "sigmoid", code='''
def sigmoid(x):
    return 1 / (1 + torch.exp(-torch.clamp(x, -80, 80)))
'''),
    Variant("relu as x * (x > 0)", "relu", replace=[("torch.clamp(x, min=0)", "x * (x > 0)")]),
    Variant("relu with torch.maximum", "relu", replace=[("torch.clamp(x, min=0)", "torch.maximum(x, torch.zeros_like(x))")]),
    Variant("BCE with torch.xlogy", "bce_loss", code='''
def bce_loss(y, y_hat):
    return -(torch.xlogy(y, y_hat) + torch.xlogy(1 - y, 1 - y_hat)).mean()
'''),
    Variant("stable BCE with eps added inside the logarithms", "bce_loss_stable", code='''
def bce_loss_stable(y, y_hat, eps=1e-7):
    return -(y * torch.log(y_hat + eps) + (1 - y) * torch.log(1 - y_hat + eps)).mean()
'''),
    Variant("stable BCE clipped at 1e-12 with xlogy", "bce_loss_stable", code='''
def bce_loss_stable(y, y_hat, eps=1e-12):
    p = y_hat.clamp(eps, 1 - eps)
    return -(torch.xlogy(y, p) + torch.xlogy(1 - y, 1 - p)).mean()
'''),
    Variant("BCE with logits through softplus", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    return (torch.nn.functional.softplus(logits) - y * logits).mean()
'''),
    Variant("BCE with logits as max(z, 0) - z y + log1p(exp(-|z|))", "bce_with_logits", code='''
def bce_with_logits(y, logits):
    return (torch.clamp(logits, min=0) - logits * y + torch.log1p(torch.exp(-torch.abs(logits)))).mean()
'''),
    Variant("bce_logits_gradient with torch.sigmoid, divided by y.numel()", "bce_logits_gradient", code='''
def bce_logits_gradient(y, logits):
    return (torch.sigmoid(logits) - y).div(y.numel())
'''),
    Variant("bce_logits_gradient left unsimplified: y (s - 1) + (1 - y) s", "bce_logits_gradient", code='''
import math


def bce_logits_gradient(y, logits):
    s = sigmoid(logits)
    return (y * (s - 1) + (1 - y) * s) / math.prod(logits.shape)
'''),
    Variant("model1 with torch.mv", "model1", replace=[("sigmoid(x @ w + b)", "sigmoid(torch.mv(x, w) + b)")]),
    Variant("input gradient as torch.outer of the model's error and w", "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    return torch.outer((model1(x, w, b) - y) / len(y), w)
'''),
    Variant("input gradient sample by sample in a loop", "model1_input_gradient", code='''
def model1_input_gradient(x, w, b, y):
    rows = []
    for x_i, y_i in zip(x, y):
        rows.append((sigmoid(x_i @ w + b) - y_i) * w / x.shape[0])
    return torch.stack(rows)
'''),
    Variant("network squeezing with squeeze(1)", "network", code='''
def network(x, params):
    out = x
    for weight, bias, act in params:
        out = act(torch.matmul(out, weight) + bias)
    return out.squeeze(1)
'''),
    Variant("network with functools.reduce and flatten", "network", code='''
from functools import reduce


def network(x, params):
    out = reduce(lambda h, layer: layer[2](h @ layer[0] + layer[1]), params, x)
    return out.flatten() if out.shape[-1] == 1 else out
'''),
    Variant("He uniform: U(-sqrt(6 / d_in), sqrt(6 / d_in))", "make_layer", code='''
def make_layer(d_in, d_out, activation):
    bound = (6.0 / d_in) ** 0.5
    w = (2 * torch.rand(d_in, d_out, dtype=torch.float64) - 1) * bound
    return w, torch.zeros(d_out, dtype=torch.float64), activation
'''),
    Variant("kaiming_normal_ on (d_out, d_in), transposed", "make_layer", code='''
def make_layer(d_in, d_out, activation):
    w = torch.empty(d_out, d_in, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu")
    return w.T.contiguous(), torch.zeros(d_out, dtype=torch.float64), activation
'''),
    Variant("evaluate with detach and a float32 accuracy", "evaluate", code='''
def evaluate(params, x, y):
    y_hat = network(x, params).detach()
    return float(bce_loss_stable(y, y_hat)), float(((y_hat > 0.5) == (y > 0.5)).float().mean())
'''),
    Variant("experiment_networks built with a loop over the layer sizes", "experiment_networks", code='''
def experiment_networks(seed):
    seed_everything(seed)
    plans = {"one layer 64-1": ([64, 1], relu), "two linear layers 64-32-1": ([64, 32, 1], identity),
             "64-32-1 with ReLU": ([64, 32, 1], relu), "four layers 64-64-32-16-1": ([64, 64, 32, 16, 1], relu)}
    networks = {}
    for name, (sizes, hidden) in plans.items():
        layers = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            layers.append(make_layer(d_in, d_out, sigmoid if d_out == sizes[-1] else hidden))
        networks[name] = layers
    return networks
'''),
    Variant("experiment_networks with torch.manual_seed, hand-drawn He weights and library activations",
            "experiment_networks", code='''
import math


def experiment_networks(seed):
    torch.manual_seed(seed)

    def he(d_in, d_out, activation):
        w = torch.normal(0.0, math.sqrt(2 / d_in), size=(d_in, d_out), dtype=torch.float64)
        return [w, torch.zeros(d_out, dtype=torch.float64), activation]

    return dict([("four layers 64-64-32-16-1", [he(64, 64, torch.relu), he(64, 32, torch.relu), he(32, 16, torch.relu),
                                                he(16, 1, torch.sigmoid)]),
                 ("64-32-1 with ReLU", [he(64, 32, torch.nn.functional.relu), he(32, 1, torch.sigmoid)]),
                 ("two linear layers 64-32-1", [he(64, 32, lambda z: z), he(32, 1, torch.special.expit)]),
                 ("one layer 64-1", [he(64, 1, torch.sigmoid)])])
'''),
    Variant("train_epoch with NumPy shuffling", "train_epoch",
            replace=[("order = torch.randperm(len(x))", "order = np.random.permutation(len(x))")]),
    Variant("train_epoch zeroing gradients before backward, updates with sub_", "train_epoch", code='''
def train_epoch(params, x, y, learning_rate, batch_size):
    order = torch.randperm(x.shape[0])
    tensors = [t for w, b, _ in params for t in (w, b)]
    for start in range(0, x.shape[0] - batch_size + 1, batch_size):
        for t in tensors:
            if t.grad is not None:
                t.grad.zero_()
        idx = order[start:start + batch_size]
        bce_loss_stable(y[idx], network(x[idx], params)).backward()
        with torch.no_grad():
            for t in tensors:
                t.sub_(learning_rate * t.grad)
'''),
    Variant("train_epoch with torch.autograd.grad and .data updates", "train_epoch", code='''
def train_epoch(params, x, y, learning_rate, batch_size):
    tensors = [t for w, b, _ in params for t in (w, b)]
    batches = torch.randperm(len(x))[: len(x) // batch_size * batch_size].reshape(-1, batch_size)
    for idx in batches:
        loss = bce_loss_stable(y[idx], network(x[idx], params))
        for t, g in zip(tensors, torch.autograd.grad(loss, tensors)):
            t.data -= learning_rate * g
'''),
    Variant("fit with trange and separate evaluate calls", "fit", code='''
from tqdm.auto import trange


def fit(params, x_train, y_train, x_val, y_val, epochs, learning_rate, batch_size):
    keys = ["train loss", "train accuracy", "validation loss", "validation accuracy"]
    history = {key: [] for key in keys}
    for _ in trange(epochs):
        train_epoch(params, x_train, y_train, learning_rate, batch_size)
        values = evaluate(params, x_train, y_train) + evaluate(params, x_val, y_val)
        for key, value in zip(keys, values):
            history[key].append(float(value))
    return history
'''),
    Variant("fit with a manually updated progress bar and a summary line", "fit", code='''
def fit(params, x_train, y_train, x_val, y_val, epochs, learning_rate, batch_size):
    history = {}
    with tqdm(total=epochs) as bar:
        for epoch in range(epochs):
            train_epoch(params, x_train, y_train, learning_rate, batch_size)
            train_loss, train_acc = evaluate(params, x_train, y_train)
            val_loss, val_acc = evaluate(params, x_val, y_val)
            history.setdefault("train loss", []).append(train_loss)
            history.setdefault("validation loss", []).append(val_loss)
            history.setdefault("train accuracy", []).append(train_acc)
            history.setdefault("validation accuracy", []).append(val_acc)
            bar.set_postfix(val_acc=f"{val_acc:.3f}")
            bar.update()
    return history
'''),
    Variant("smaller learning rate with smaller batches", "train_digits", replace=[("0.2, 16", "0.05, 8")]),
    Variant("larger learning rate with batches of 32", "train_digits", replace=[("0.2, 16", "0.5, 32")]),
]
