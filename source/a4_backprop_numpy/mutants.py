"""Realistic mistakes and correct alternatives for assignment 4 (instructor only, never released).

``dlcourse prove a4_backprop_numpy`` grades each one and checks that bugs lose points exactly in their
``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

VARIANTS = [
    # (a) relu
    Variant("relu_forward with np.max (a reduction) instead of np.maximum", "relu",
            replace=[("return np.maximum(Z, 0)", "return np.max(Z, 0)")],
            fails=["test_relu"]),
    Variant("relu through torch instead of NumPy", "relu",
            replace=[("return np.maximum(Z, 0)",
                      "import torch\n    return torch.relu(torch.from_numpy(Z)).numpy()")],
            fails=["test_relu"]),
    # (a) fully connected
    Variant("fc_forward forgets the bias", "fc",
            replace=[("return X @ W + b", "return X @ W")],
            fails=["test_fc_forward"]),
    Variant("db without keepdims: shape (n_out,) instead of (1, n_out)", "fc",
            replace=[("db = dZ.sum(axis=0, keepdims=True)", "db = dZ.sum(axis=0)")],
            fails=["test_fc_backward"]),
    Variant("dX with W instead of W^T", "fc",
            replace=[("dX = dZ @ W.T", "dX = dZ @ W")],
            fails=["test_fc_backward"]),
    # (a) softmax
    Variant("softmax without subtracting the maximum", "softmax",
            replace=[("E = np.exp(S - S.max(axis=1, keepdims=True))", "E = np.exp(S)")],
            fails=["test_softmax"]),
    Variant("softmax subtracts the global maximum, not each row's", "softmax",
            replace=[("E = np.exp(S - S.max(axis=1, keepdims=True))", "E = np.exp(S - S.max())")],
            fails=["test_softmax"]),
    # (a) softmax Jacobian
    Variant("softmax Jacobian with the inner product s.s instead of the outer product", "softmax_jacobian",
            replace=[("return np.diag(sigma) - np.outer(sigma, sigma)", "return np.diag(sigma) - sigma @ sigma")],
            fails=["test_softmax_jacobian"]),
    # (a) cross-entropy
    Variant("cross-entropy summed over the batch instead of averaged", "cross_entropy",
            replace=[("return -np.sum(Y * np.log(Y_hat)) / len(Y)", "return -np.sum(Y * np.log(Y_hat))")],
            fails=["test_cross_entropy"]),
    Variant("cross-entropy as np.mean over all m*k entries", "cross_entropy",
            replace=[("return -np.sum(Y * np.log(Y_hat)) / len(Y)", "return -np.mean(Y * np.log(Y_hat))")],
            fails=["test_cross_entropy"]),
    Variant("cross-entropy with an epsilon inside the log, log(Y_hat + 1e-7)", "cross_entropy",
            replace=[("return -np.sum(Y * np.log(Y_hat)) / len(Y)",
                      "return -np.sum(Y * np.log(Y_hat + 1e-7)) / len(Y)")],
            fails=["test_cross_entropy"]),
    Variant("cross-entropy with the probabilities clipped to [1e-7, 1]", "cross_entropy",
            replace=[("return -np.sum(Y * np.log(Y_hat)) / len(Y)",
                      "return -np.sum(Y * np.log(np.clip(Y_hat, 1e-7, 1.0))) / len(Y)")],
            fails=["test_cross_entropy"]),
    Variant("cross_entropy_grad without the 1/m", "cross_entropy",
            replace=[("return -Y / (len(Y) * Y_hat)", "return -Y / Y_hat")],
            fails=["test_cross_entropy_grad"]),
    # (a) softmax + cross-entropy
    Variant("softmax_cross_entropy_grad without the 1/m", "softmax_cross_entropy_grad",
            replace=[("return (softmax(S) - Y) / len(S)", "return softmax(S) - Y")],
            fails=["test_softmax_cross_entropy_grad"]),
    # (b) numerical gradient
    Variant("one-sided (forward) difference", "numerical_gradient",
            replace=[("x[index] = saved - h", "x[index] = saved"),
                     ("grad[index] = (f_plus - f_minus) / (2 * h)", "grad[index] = (f_plus - f_minus) / h")],
            fails=["test_numerical_gradient"]),
    Variant("coordinate left at x - h (never restored)", "numerical_gradient",
            replace=[("        x[index] = saved\n", "")],
            fails=["test_numerical_gradient"]),
    Variant("the step h is ignored (always 1e-5)", "numerical_gradient",
            replace=[("    x = np.array(x, copy=True)", "    h = 1e-5\n    x = np.array(x, copy=True)")],
            fails=["test_numerical_gradient"]),
    # (c) initialization
    # (b2) layer objects
    Variant("Linear.backward adds each call's gradients to the stored ones (accumulates like torch's .grad)",
            "layers", replace=[("dX, self.dW, self.db = fc_backward(dY, self.X, self.W)",
                                "dX, dW, db = fc_backward(dY, self.X, self.W)\n"
                                "        self.dW = self.dW + dW\n        self.db = self.db + db")],
            fails=["test_layers"]),
    Variant("Linear.step goes uphill: W + learning_rate * dW", "layers",
            replace=[("self.W = self.W - learning_rate * self.dW", "self.W = self.W + learning_rate * self.dW"),
                     ("self.b = self.b - learning_rate * self.db", "self.b = self.b + learning_rate * self.db")],
            fails=["test_layers"]),
    Variant("Linear.step updates W but forgets b", "layers",
            replace=[("        self.b = self.b - learning_rate * self.db\n", "")],
            fails=["test_layers"]),
    Variant("ReLU.backward masks with its output >= 0, which is always true", "layers",
            replace=[("self.Z = Z\n        return relu_forward(Z)", "self.out = relu_forward(Z)\n        return self.out"),
                     ("return relu_backward(dY, self.Z)", "return dY * (self.out >= 0)")],
            fails=["test_layers"]),
    Variant("Sigmoid.backward applies the sigmoid to its output again", "layers",
            replace=[("return dY * self.Y * (1.0 - self.Y)",
                      "s = 1.0 / (1.0 + np.exp(-self.Y))\n        return dY * s * (1.0 - s)")],
            fails=["test_layers"]),
    Variant("Sigmoid.backward returns the local derivative without the upstream gradient", "layers",
            replace=[("return dY * self.Y * (1.0 - self.Y)", "return self.Y * (1.0 - self.Y)")],
            fails=["test_layers"]),
    Variant("Sigmoid.forward through torch.sigmoid", "layers",
            replace=[("self.Y = 1.0 / (1.0 + np.exp(-Z))",
                      "import torch\n        self.Y = torch.sigmoid(torch.from_numpy(Z)).numpy()")],
            fails=["test_layers"]),
    Variant("variance 1/n_out instead of 1/max(n_in, n_out)", "init_network",
            replace=[("np.sqrt(1.0 / max(n_in, n_out))", "np.sqrt(1.0 / n_out)")],
            fails=["test_init_network"]),
    Variant("variance 1/n_in instead of 1/max(n_in, n_out)", "init_network",
            replace=[("np.sqrt(1.0 / max(n_in, n_out))", "np.sqrt(1.0 / n_in)")],
            fails=["test_init_network"]),
    Variant("1/max(n_in, n_out) used as the standard deviation", "init_network",
            replace=[("np.sqrt(1.0 / max(n_in, n_out))", "1.0 / max(n_in, n_out)")],
            fails=["test_init_network"]),
    # (c) forward pass
    Variant("sigmoid applied to the output layer before the softmax", "feed_forward_sample",
            replace=[("for W, b in zip(weights[:-1], biases[:-1]):", "for W, b in zip(weights, biases):"),
                     ("y_hat = stable_softmax(h @ weights[-1] + biases[-1])", "y_hat = stable_softmax(h)")],
            fails=["test_feed_forward_sample"]),
    Variant("the guess is the class index, not a one-hot vector", "feed_forward_sample",
            replace=[("return -np.log(y_hat[y]), guess", "return -np.log(y_hat[y]), np.argmax(y_hat)")],
            fails=["test_feed_forward_sample"]),
    Variant("accuracy in percent", "feed_forward_dataset",
            replace=[("return float(np.mean(losses)), correct / len(x)",
                      "return float(np.mean(losses)), 100 * correct / len(x)")],
            fails=["test_feed_forward_dataset"]),
    # (c) per-sample backprop
    Variant("weights updated during the backward pass, before delta is propagated", "train_one_sample",
            replace=[("        grads_w[layer] = np.outer(activations[layer], delta)\n        grads_b[layer] = delta\n",
                      "        weights[layer] -= learning_rate * np.outer(activations[layer], delta)\n"
                      "        biases[layer] -= learning_rate * delta\n"),
                     ("    for layer in range(len(weights)):\n"
                      "        weights[layer] -= learning_rate * grads_w[layer]\n"
                      "        biases[layer] -= learning_rate * grads_b[layer]\n", "")],
            fails=["test_train_one_sample"]),
    Variant("sigmoid derivative left out of the backward pass", "train_one_sample",
            replace=[("delta = (weights[layer] @ delta) * a * (1 - a)", "delta = weights[layer] @ delta")],
            fails=["test_train_one_sample"]),
    Variant("gradient ascent: the step goes uphill", "train_one_sample",
            replace=[("weights[layer] -= learning_rate", "weights[layer] += learning_rate"),
                     ("biases[layer] -= learning_rate", "biases[layer] += learning_rate")],
            fails=["test_train_one_sample", "test_training"]),
    # (d) MLP
    Variant("one_hot sets whole columns", "mlp",
            replace=[("encoded[np.arange(len(y)), y] = 1.0", "encoded[:, y] = 1.0")],
            fails=["test_mlp_one_hot"]),
    Variant("fix_seed uses seed 0 for every layer", "mlp",
            replace=[("np.random.default_rng(i).uniform", "np.random.default_rng(0).uniform")],
            fails=["test_mlp_init"]),
    Variant("init_layers transposed: (n, batch_size)", "mlp",
            replace=[("return [np.zeros((batch_size, n)) for n in layer_sizes]",
                      "return [np.zeros((n, batch_size)) for n in layer_sizes]")],
            fails=["test_mlp_init"]),
    Variant("sigmoid_prime applies the sigmoid again to the activation", "mlp",
            replace=[("return h * (1 - h)", "return sigmoid(h) * (1 - sigmoid(h))")],
            fails=["test_mlp_sigmoid_prime"]),
    Variant("feed_forward applies the sigmoid to the output layer too", "mlp",
            replace=[("self.layers[-1] = stable_softmax(self.layers[-2] @ self.weights[-1])",
                      "self.layers[-1] = stable_softmax(sigmoid(self.layers[-2] @ self.weights[-1]))")],
            fails=["test_mlp_feed_forward"]),
    Variant("back_prop updates a layer before propagating delta through it", "mlp",
            replace=[("            if i > 0:\n"
                      "                delta = (delta @ self.weights[i].T) * self.sigmoid_prime(self.layers[i])\n"
                      "            self.weights[i] -= lr * grad\n",
                      "            self.weights[i] -= lr * grad\n            if i > 0:\n"
                      "                delta = (delta @ self.weights[i].T) * self.sigmoid_prime(self.layers[i])\n")],
            fails=["test_mlp_back_prop"]),
    Variant("back_prop without the 1/m of the mean loss", "mlp",
            replace=[("delta = (self.layers[-1] - batch_y) / len(batch_y)", "delta = self.layers[-1] - batch_y")],
            fails=["test_mlp_back_prop"]),
    Variant("train drops the last, smaller minibatch", "mlp",
            replace=[("for begin in range(0, n, batch_size):",
                      "for begin in range(0, n - batch_size + 1, batch_size):")],
            fails=["test_mlp_train"]),
    Variant("train never shuffles: minibatches in the stored order", "mlp",
            replace=[("order = np.random.permutation(n)", "order = np.arange(n)")],
            fails=["test_mlp_train"]),
    Variant("train steps on the targets of the stored order, not of the shuffled batch", "mlp",
            replace=[("self.back_prop(self.y[batch], lr)", "self.back_prop(self.y[begin:begin + batch_size], lr)")],
            fails=["test_mlp_train"]),
    # (e) hyperparameters
    Variant("only two settings", "tuning",
            replace=[('    {"lr": 10.0, "batch_size": 64, "hidden_sizes": (32, 32)},\n'
                      '    {"lr": 1.0, "batch_size": 8, "hidden_sizes": (32, 32)},\n'
                      '    {"lr": 1.0, "batch_size": 64, "hidden_sizes": (128,)},\n', "")],
            fails=["test_tuning"]),
    Variant("the test error taken from the training set", "tuning",
            replace=[('"test_error": 1 - history["val_acc"][-1]', '"test_error": 1 - history["train_acc"][-1]')],
            fails=["test_tuning"]),
    Variant("the test accuracy reported as the test error", "tuning",
            replace=[('"test_error": 1 - history["val_acc"][-1]', '"test_error": history["val_acc"][-1]')],
            fails=["test_tuning"]),
    Variant("one network trained on through every setting", "tuning", code='''
TUNE_EPOCHS = scaled(10, 2)
N_TUNE = scaled(len(x_train), 1000)

settings = [{"lr": lr, "batch_size": 64, "hidden_sizes": (32, 32)} for lr in (0.1, 1.0, 3.0)]
net = MLP(x_train[:N_TUNE], y_train[:N_TUNE], x_test, y_test, hidden_sizes=(32, 32), fix_seed=True)
results = []
for setting in settings:
    history = net.train(batch_size=setting["batch_size"], epochs=TUNE_EPOCHS, lr=setting["lr"])
    results.append({"train_loss": history["train_loss"], "test_error": 1 - history["val_acc"][-1],
                    "weights": net.weights})
learning_curves({str(s): r["train_loss"] for s, r in zip(settings, results)})
''',
            fails=["test_tuning"]),
    # correct alternatives
    Variant("three settings with hidden sizes as lists, test error counted from feed_forward, a plot by hand",
            "tuning", code='''
TUNE_EPOCHS = scaled(10, 2)
N_TUNE = scaled(len(x_train), 1000)

settings = [dict(lr=lr, batch_size=b, hidden_sizes=h) for lr, b, h in [(0.5, 32, [64]), (2.0, 128, [32, 32]),
                                                                      (1.0, 64, [16, 16, 16])]]
results = []
for s in settings:
    model = MLP(x_train[:N_TUNE], y_train[:N_TUNE], x_test, y_test, hidden_sizes=tuple(s["hidden_sizes"]),
                fix_seed=True)
    model.train(s["batch_size"], TUNE_EPOCHS, s["lr"])
    wrong = np.argmax(model.feed_forward(x_test), axis=1) != y_test
    results.append(dict(train_loss=list(model.history["train_loss"]), test_error=float(np.mean(wrong)),
                        weights=[w.copy() for w in model.weights]))

fig, ax = plt.subplots()
for s, r in zip(settings, results):
    ax.plot(range(1, TUNE_EPOCHS + 1), r["train_loss"], label=str(s))
ax.legend()
for s, r in zip(settings, results):
    print(s, f"{r['train_loss'][-1]:.3f}", f"{r['test_error']:.1%}")
'''),
    Variant("train shuffles with np.random.shuffle of the indices", "mlp",
            replace=[("order = np.random.permutation(n)", "order = np.arange(n)\n            np.random.shuffle(order)")]),
    Variant("relu via masks: Z * (Z > 0) and np.where", "relu", code='''
def relu_forward(Z):
    return Z * (Z > 0)


def relu_backward(dY, Z):
    return np.where(Z > 0, dY, 0.0)
'''),
    Variant("fully connected layer with einsum and an explicit ones vector", "fc", code='''
def fc_forward(X, W, b):
    return np.einsum("ij,jk->ik", X, W) + np.ones((X.shape[0], 1)) @ b


def fc_backward(dZ, X, W):
    return np.einsum("ik,jk->ij", dZ, W), np.einsum("ij,ik->jk", X, dZ), np.ones((1, dZ.shape[0])) @ dZ
'''),
    Variant("softmax with a log-sum-exp", "softmax", code='''
def softmax(S):
    shifted = S - np.max(S, axis=1)[:, None]
    log_norm = np.log(np.sum(np.exp(shifted), axis=1))[:, None]
    return np.exp(shifted - log_norm)
'''),
    Variant("softmax Jacobian with two loops", "softmax_jacobian", code='''
def softmax_jacobian(s):
    k = len(s)
    J = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            J[i, j] = s[i] * ((i == j) - s[j])
    return J
'''),
    Variant("cross-entropy from the probability of each label", "cross_entropy", code='''
def cross_entropy(Y, Y_hat):
    labels = np.argmax(Y, axis=1)
    return -np.mean(np.log(Y_hat[np.arange(len(Y)), labels]))


def cross_entropy_grad(Y, Y_hat):
    m = Y.shape[0]
    return -(Y / Y_hat) / m
'''),
    Variant("softmax_cross_entropy_grad with its own stable softmax", "softmax_cross_entropy_grad", code='''
def softmax_cross_entropy_grad(S, Y):
    E = np.exp(S - S.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    return (P - Y) / S.shape[0]
'''),
    Variant("numerical gradient over a flat view", "numerical_gradient", code='''
def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    flat = x.reshape(-1)
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad.reshape(x.shape)
'''),
    Variant("layers written out without part (a)'s functions: gradients first, in-place steps, the sigmoid's "
            "input kept and the sigmoid recomputed by tanh", "layers", code='''
class Linear:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def forward(self, X):
        self.cache = X
        return X.dot(self.W) + self.b

    def backward(self, dY):
        self.dW = self.cache.T.dot(dY)
        self.db = np.sum(dY, axis=0)[None, :]
        return dY.dot(self.W.T)

    def step(self, learning_rate):
        self.W -= learning_rate * self.dW
        self.b -= learning_rate * self.db


class ReLU:
    def forward(self, Z):
        self.mask = Z > 0
        return np.where(self.mask, Z, 0.0)

    def backward(self, dY):
        return dY * self.mask

    def step(self, learning_rate):
        return None


class Sigmoid:
    @staticmethod
    def sigma(Z):
        return 0.5 * (1.0 + np.tanh(0.5 * Z))

    def forward(self, Z):
        self.Z = Z
        return self.sigma(Z)

    def backward(self, dY):
        s = self.sigma(self.Z)
        return dY * s * (1 - s)

    def step(self, learning_rate):
        pass
'''),
    Variant("layers sharing a base class whose step does nothing", "layers", code='''
class Layer:
    def step(self, learning_rate):
        pass


class Linear(Layer):
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, X):
        self.X = X
        return fc_forward(X, self.W, self.b)

    def backward(self, dY):
        dX, dW, db = fc_backward(dY, self.X, self.W)
        self.dW, self.db = dW, db
        return dX

    def step(self, learning_rate):
        for name in ("W", "b"):
            setattr(self, name, getattr(self, name) - learning_rate * getattr(self, "d" + name))


class ReLU(Layer):
    def forward(self, Z):
        self.Z = Z
        return relu_forward(Z)

    def backward(self, dY):
        return relu_backward(dY, self.Z)


class Sigmoid(Layer):
    def forward(self, Z):
        self.out = np.exp(-np.logaddexp(0.0, -Z))
        return self.out

    def backward(self, dY):
        return dY * self.out * (1.0 - self.out)
'''),
    Variant("init with standard_normal scaled by 1/sqrt(max)", "init_network",
            replace=[("rng.normal(0.0, np.sqrt(1.0 / max(n_in, n_out)), size=(n_in, n_out))",
                      "rng.standard_normal((n_in, n_out)) / np.sqrt(max(n_in, n_out))")]),
    Variant("init in float32", "init_network",
            replace=[("size=(n_in, n_out)))", "size=(n_in, n_out)).astype(np.float32))")]),
    Variant("forward pass written out layer by layer, loss by log-sum-exp", "feed_forward_sample", code='''
def feed_forward_sample(sample, y):
    h1 = sigmoid(sample @ weights[0] + biases[0])
    h2 = sigmoid(h1 @ weights[1] + biases[1])
    s = h2 @ weights[2] + biases[2]
    log_norm = s.max() + np.log(np.sum(np.exp(s - s.max())))
    guess = np.eye(len(s))[np.argmax(s)]
    return log_norm - s[y], guess
'''),
    Variant("feed_forward_dataset on the whole batch at once", "feed_forward_dataset", code='''
def feed_forward_dataset(x, y):
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        h = sigmoid(h @ W + b)
    p = stable_softmax(h @ weights[-1] + biases[-1])
    loss = -np.mean(np.log(p[np.arange(len(x)), y]))
    return loss, np.mean(np.argmax(p, axis=1) == y)


loss, accuracy = feed_forward_dataset(x_test, y_test)
'''),
    Variant("train_one_sample unrolled, gradients first, broadcasting outer products", "train_one_sample", code='''
def train_one_sample(sample, y, learning_rate=0.003):
    W1, W2, W3 = weights
    b1, b2, b3 = biases
    h1 = sigmoid(sample @ W1 + b1)
    h2 = sigmoid(h1 @ W2 + b2)
    p = stable_softmax(h2 @ W3 + b3)
    loss = -np.log(p[y])
    d3 = p - np.eye(len(p))[y]
    d2 = (W3 @ d3) * h2 * (1 - h2)
    d1 = (W2 @ d2) * h1 * (1 - h1)
    grads = [(sample[:, None] * d1[None, :], d1), (h1[:, None] * d2[None, :], d2), (h2[:, None] * d3[None, :], d3)]
    for i, (gw, gb) in enumerate(grads):
        weights[i] = weights[i] - learning_rate * gw
        biases[i] = biases[i] - learning_rate * gb
    return loss
'''),
    Variant("MLP written differently: eye one-hot, list-built layers, gradients before updates, slices",
            "mlp", code='''
class MLP:
    def __init__(self, x_train, y_train, x_val, y_val, hidden_sizes=(32, 32), num_classes=10, fix_seed=False):
        self.x, self.x_val = x_train, x_val
        self.y = self.one_hot(y_train, num_classes)
        self.y_val = self.one_hot(y_val, num_classes)
        self.layer_sizes = [x_train.shape[1], *hidden_sizes, num_classes]
        self.weights = self.init_weights(self.layer_sizes, fix_seed)
        self.layers = self.init_layers(1, self.layer_sizes)
        self.history = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": [], "epoch_time": []}

    @staticmethod
    def one_hot(y, num_classes=10):
        return np.eye(num_classes)[np.asarray(y)]

    @staticmethod
    def init_weights(layer_sizes, fix_seed=False):
        shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
        if fix_seed:
            return [np.random.default_rng(i).uniform(-1, 1, size=shape) for i, shape in enumerate(shapes)]
        return [np.random.uniform(-1, 1, size=shape) for shape in shapes]

    @staticmethod
    def init_layers(batch_size, layer_sizes):
        return [np.zeros((batch_size, size)) for size in layer_sizes]

    @staticmethod
    def sigmoid_prime(h):
        return h - h**2

    def feed_forward(self, batch):
        activations = [batch]
        for W in self.weights[:-1]:
            activations.append(sigmoid(activations[-1] @ W))
        activations.append(stable_softmax(activations[-1] @ self.weights[-1]))
        self.layers = activations
        return activations[-1]

    def evaluate(self, x, y_onehot):
        p = self.feed_forward(x)
        labels = y_onehot.argmax(axis=1)
        return -np.mean(np.log(p[np.arange(len(x)), labels])), np.mean(p.argmax(axis=1) == labels)

    def back_prop(self, batch_y, lr):
        m = batch_y.shape[0]
        delta = (self.layers[-1] - batch_y) / m
        grads = []
        for i in reversed(range(len(self.weights))):
            grads.append(self.layers[i].T @ delta)
            delta = (delta @ self.weights[i].T) * self.sigmoid_prime(self.layers[i])
        for W, g in zip(self.weights, reversed(grads)):
            W -= lr * g

    def train(self, batch_size, epochs, lr):
        for _ in tqdm(range(epochs)):
            tic = time.time()
            order = np.random.permutation(len(self.x))
            x, y = self.x[order], self.y[order]
            for start in range(0, len(x), batch_size):
                self.feed_forward(x[start:start + batch_size])
                self.back_prop(y[start:start + batch_size], lr)
            self.history["epoch_time"].append(time.time() - tic)
            loss, acc = self.evaluate(self.x, self.y)
            self.history["train_loss"].append(loss)
            self.history["train_acc"].append(acc)
            loss, acc = self.evaluate(self.x_val, self.y_val)
            self.history["val_loss"].append(loss)
            self.history["val_acc"].append(acc)
        return self.history
'''),
]
