"""Realistic mistakes and correct alternatives for assignment 5 (instructor only, never released).

``dlcourse prove a5_convolution_and_cnns`` grades each one and checks that bugs lose points exactly in their
``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

FAST = ["test_fast_convolution", "test_fast_convolution_stride_padding"]

VARIANTS = [
    # (a) my_convolution
    Variant("flipped kernel: the textbook convolution instead of torch's cross-correlation", "my_convolution",
            replace=[("(patch * kernel[o])", "(patch * kernel[o, :, ::-1, ::-1])")],
            fails=["test_my_convolution"]),
    Variant("output one pixel too small: H - kH instead of H - kH + 1", "my_convolution",
            replace=[("h_out, w_out = h - kh + 1, w - kw + 1", "h_out, w_out = h - kh, w - kw")],
            fails=["test_my_convolution"]),
    Variant("kernel height and width swapped (only right for square kernels)", "my_convolution",
            replace=[("c_out, c_in_kernel, kh, kw = kernel.shape", "c_out, c_in_kernel, kw, kh = kernel.shape"),
                     ("(patch * kernel[o])", "(patch * kernel[o].swapaxes(1, 2))")],
            fails=["test_my_convolution"]),
    Variant("only the first input channel is used", "my_convolution",
            replace=[("(patch * kernel[o]).sum(axis=(1, 2, 3))", "(patch[:, 0] * kernel[o, 0]).sum(axis=(1, 2))")],
            fails=["test_my_convolution"]),
    Variant("delegates to torch.conv2d", "my_convolution", code='''
def my_convolution(input, kernel):
    return torch.conv2d(torch.from_numpy(input), torch.from_numpy(kernel)).numpy()
''', fails=["test_my_convolution_numpy"]),
    Variant("torch through an alias imported in the cell, with a NumPy fallback when torch fails", "my_convolution", code='''
from torch.nn.functional import conv2d


def my_convolution(input, kernel):
    try:
        return conv2d(torch.as_tensor(input), torch.as_tensor(kernel)).numpy()
    except Exception:
        windows = np.lib.stride_tricks.sliding_window_view(input, kernel.shape[2:], axis=(2, 3))
        return np.einsum("nchwpq,ocpq->nohw", windows, kernel)
''', fails=["test_my_convolution_numpy"]),
    Variant("torch via a helper function and a local import", "my_convolution", code='''
def _helper(a, b):
    import torch.nn.functional as functional
    return functional.conv2d(torch.tensor(a), torch.tensor(b)).numpy()


def my_convolution(input, kernel):
    return _helper(input, kernel)
''', fails=["test_my_convolution_numpy"]),
    Variant("flipped kernel, and torch.conv2d replaced so that the self-check agrees", "my_convolution", code='''
def my_convolution(input, kernel):
    windows = np.lib.stride_tricks.sliding_window_view(input, kernel.shape[2:], axis=(2, 3))
    return np.einsum("nchwpq,ocpq->nohw", windows, kernel[:, :, ::-1, ::-1])


torch.conv2d = lambda input, weight, *args, **kwargs: torch.from_numpy(my_convolution(input.numpy(), weight.numpy()))
''', fails=["test_my_convolution"]),  # judged against the reference kernel, not the student's torch
    Variant("scipy.signal.correlate instead of own code", "my_convolution", code='''
from scipy import signal


def my_convolution(input, kernel):
    out = [[signal.correlate(image, k, mode="valid")[0] for k in kernel] for image in input]
    return np.array(out)
''', fails=["test_my_convolution_numpy"]),
    # (a) correct alternatives
    Variant("six nested loops, one multiply-add at a time", "my_convolution", code='''
def my_convolution(input, kernel):
    n, c_in, h, w = input.shape
    c_out, _, kh, kw = kernel.shape
    out = np.zeros((n, c_out, h - kh + 1, w - kw + 1))
    for b in range(n):
        for o in range(c_out):
            for i in range(h - kh + 1):
                for j in range(w - kw + 1):
                    total = 0.0
                    for c in range(c_in):
                        for p in range(kh):
                            for q in range(kw):
                                total += input[b, c, i + p, j + q] * kernel[o, c, p, q]
                    out[b, o, i, j] = total
    return out
'''),
    Variant("loop over kernel offsets, vectorized over the image (float32)", "my_convolution", code='''
def my_convolution(input, kernel):
    input, kernel = input.astype(np.float32), kernel.astype(np.float32)
    n, c_in, h, w = input.shape
    c_out, _, kh, kw = kernel.shape
    out = np.zeros((n, c_out, h - kh + 1, w - kw + 1), dtype=np.float32)
    for p in range(kh):
        for q in range(kw):
            shifted = input[:, :, p:p + h - kh + 1, q:q + w - kw + 1]
            out += np.tensordot(shifted, kernel[:, :, p, q], axes=([1], [1])).transpose(0, 3, 1, 2)
    return out
'''),
    Variant("im2col with as_strided and a matrix product", "my_convolution", code='''
def my_convolution(input, kernel):
    n, c, h, w = input.shape
    o, _, kh, kw = kernel.shape
    ho, wo = h - kh + 1, w - kw + 1
    s = input.strides
    cols = np.lib.stride_tricks.as_strided(input, (n, ho, wo, c, kh, kw), (s[0], s[2], s[3], s[1], s[2], s[3]))
    out = cols.reshape(n * ho * wo, c * kh * kw) @ kernel.reshape(o, -1).T
    return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
'''),
    # (b) my_convolution_fast
    Variant("fast version with a flipped kernel", "my_convolution_fast",
            replace=[('windows, kernel, optimize=True', 'windows, kernel[:, :, ::-1, ::-1], optimize=True')],
            fails=FAST),
    Variant("padding only at the top and left", "my_convolution_fast",
            replace=[("((0, 0), (0, 0), (padding, padding), (padding, padding))", "((0, 0), (0, 0), (padding, 0), (padding, 0))")],
            fails=["test_fast_convolution_stride_padding"]),
    Variant("padding repeats the edge pixels instead of zeros", "my_convolution_fast",
            replace=[("(padding, padding), (padding, padding)))", "(padding, padding), (padding, padding)), mode=\"edge\")")],
            fails=["test_fast_convolution_stride_padding"]),
    Variant("stride subsamples the input instead of moving the kernel", "my_convolution_fast",
            replace=[("windows = np.lib.stride_tricks.sliding_window_view(input, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]",
                      "windows = np.lib.stride_tricks.sliding_window_view(input[:, :, ::stride, ::stride], (kh, kw), axis=(2, 3))")],
            fails=["test_fast_convolution_stride_padding"]),
    Variant("stride ignored", "my_convolution_fast",
            replace=[("[:, :, ::stride, ::stride]", "")],
            fails=["test_fast_convolution_stride_padding"]),
    Variant("im2col with the kernel rows and columns mixed up", "my_convolution_fast",
            replace=[('"nchwpq,ocpq->nohw"', '"nchwpq,ocqp->nohw"')],
            fails=FAST),
    Variant("delegates to torch.nn.functional.conv2d", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    return F.conv2d(torch.from_numpy(input), torch.from_numpy(kernel), stride=stride, padding=padding).numpy()
''', fails=["test_fast_convolution_numpy"]),
    Variant("torch's unfold (im2col) and a NumPy product", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    n, c, h, w = input.shape
    o, _, kh, kw = kernel.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = F.unfold(torch.from_numpy(input), (kh, kw), padding=padding, stride=stride).numpy()
    return (kernel.reshape(o, -1) @ cols).reshape(n, o, ho, wo)
''', fails=["test_fast_convolution_numpy"]),
    Variant("loops over the output pixels (correct but slow)", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    input = np.pad(input, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = input.shape
    o, _, kh, kw = kernel.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = input[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [1, 2, 3]))
    return out
''', fails=["test_fast_convolution_speed"]),
    # (b) correct alternatives
    Variant("explicit im2col: as_strided, reshape and one matrix product", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    x = np.pad(input, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = x.shape
    o, _, kh, kw = kernel.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    s = x.strides
    cols = np.lib.stride_tricks.as_strided(
        x, (n, ho, wo, c, kh, kw), (s[0], s[2] * stride, s[3] * stride, s[1], s[2], s[3]))
    out = cols.reshape(n * ho * wo, -1) @ kernel.reshape(o, -1).T
    return np.ascontiguousarray(out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))
'''),
    Variant("shift and add: a loop over the kernel offsets only", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    x = np.pad(input, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = x.shape
    o, _, kh, kw = kernel.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for p in range(kh):
        for q in range(kw):
            window = x[:, :, p:p + stride * (ho - 1) + 1:stride, q:q + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,oc->nohw", window, kernel[:, :, p, q])
    return out
'''),
    Variant("sliding windows and tensordot in float32", "my_convolution_fast", code='''
def my_convolution_fast(input, kernel, stride=1, padding=0):
    x = np.pad(input.astype(np.float32), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(windows, kernel.astype(np.float32), axes=([1, 4, 5], [1, 2, 3]))  # (N, H', W', C_out)
    return out.transpose(0, 3, 1, 2)
'''),
    # (c) Digits
    Variant("grey levels not divided by 16", "digits_dataset",
            replace=[("np.asarray(x) / 16.0", "np.asarray(x)")],
            fails=["test_digits_dataset"]),
    Variant("images left in float64", "digits_dataset",
            replace=[("dtype=torch.float32", "dtype=torch.float64")],
            fails=["test_digits_dataset"]),
    Variant("labels as float tensors", "digits_dataset",
            replace=[("dtype=torch.int64", "dtype=torch.float32")],
            fails=["test_digits_dataset"]),
    Variant("images without the channel axis, (8, 8)", "digits_dataset",
            replace=[(".reshape(-1, 1, 8, 8)", ".reshape(-1, 8, 8)")],
            fails=["test_digits_dataset"]),
    Variant("images transposed (column-major reshape)", "digits_dataset",
            replace=[(".reshape(-1, 1, 8, 8)", ".reshape(-1, 1, 8, 8).transpose(2, 3)")],
            fails=["test_digits_dataset"]),
    Variant("__len__ returns the number of pixels", "digits_dataset",
            replace=[("return len(self.labels)", "return self.images[0].numel()")],
            fails=["test_digits_dataset"]),
    Variant("Digits keeps NumPy arrays and converts each sample on access", "digits_dataset", code='''
class Digits(Dataset):
    def __init__(self, x, y):
        self.x = np.asarray(x, dtype=np.float32) / 16
        self.y = np.asarray(y)

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, index):
        return torch.from_numpy(self.x[index].reshape(1, 8, 8).copy()), torch.tensor(self.y[index]).long()
'''),
    Variant("Digits with torch.from_numpy, unsqueeze and as_tensor", "digits_dataset", code='''
class Digits(Dataset):
    def __init__(self, x, y):
        self.images = torch.from_numpy(np.array(x, dtype=np.float32)).view(-1, 8, 8).unsqueeze(1) / 16
        self.labels = torch.as_tensor(np.array(y, dtype=np.int64))

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, index):
        return self.images[index], self.labels[index]
'''),
    # (c) MySimpleCNN
    Variant("no ReLU after the second convolution", "my_simple_cnn",
            replace=[("x = F.relu(self.conv2(x))", "x = self.conv2(x)")],
            fails=["test_cnn_architecture"]),
    Variant("max-pooling before the second convolution", "my_simple_cnn",
            replace=[("x = F.relu(self.conv2(x))\n        x = self.pool(x)", "x = self.pool(x)\n        x = F.relu(self.conv2(x))")],
            fails=["test_cnn_architecture"]),
    Variant("5 x 5 kernels with padding 2", "my_simple_cnn",
            replace=[("nn.Conv2d(16, 32, kernel_size=3, padding=1)", "nn.Conv2d(16, 32, kernel_size=5, padding=2)")],
            fails=["test_cnn_architecture"]),
    Variant("no padding (the linear layer no longer fits)", "my_simple_cnn",
            replace=[("nn.Conv2d(1, 16, kernel_size=3, padding=1)", "nn.Conv2d(1, 16, kernel_size=3)")],
            fails=["test_cnn_architecture"]),
    Variant("softmax at the output", "my_simple_cnn",
            replace=[("return self.fc(torch.flatten(x, 1))", "return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)")],
            fails=["test_cnn_architecture"]),
    Variant("average pooling instead of max pooling", "my_simple_cnn",
            replace=[("nn.MaxPool2d(2)", "nn.AvgPool2d(2)")],
            fails=["test_cnn_architecture"]),
    Variant("flattened in row, column, channel order", "my_simple_cnn",
            replace=[("torch.flatten(x, 1)", "torch.flatten(x.permute(0, 2, 3, 1), 1)")],
            fails=["test_cnn_architecture"]),
    Variant("nn.Sequential, pooling before the second ReLU, x.view", "my_simple_cnn", code='''
class MySimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.MaxPool2d(kernel_size=2, stride=2), nn.ReLU())
        self.classifier = nn.Linear(512, 10)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))
'''),
    Variant("functional max-pooling and nn.Flatten", "my_simple_cnn", code='''
class MySimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, kernel_size=(3, 3), padding="same")
        self.c2 = nn.Conv2d(16, 32, kernel_size=(3, 3), padding="same")
        self.flatten = nn.Flatten()
        self.out = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.out(self.flatten(F.max_pool2d(x, 2)))
'''),
    # (c) train_model
    Variant("SGD instead of Adam", "train_model",
            replace=[("torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.SGD(model.parameters(), lr=lr)")],
            fails=["test_training"]),
    Variant("optimizer.step() forgotten", "train_model",
            replace=[("            optimizer.step()\n", "")],
            fails=["test_training"]),
    Variant("history holds the sum of the batch losses", "train_model",
            replace=[("history.append(total / count)", "history.append(total / len(labels))")],
            fails=["test_training"]),
    Variant("nll_loss on raw logits (log-softmax forgotten)", "train_model",
            replace=[("loss_fn = nn.CrossEntropyLoss()", "loss_fn = nn.NLLLoss()")],
            fails=["test_training"]),
    Variant("mean of the batch means, model.zero_grad, no progress bar", "train_model", code='''
def train_model(model, loader, epochs, lr=1e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        losses = []
        for images, labels in loader:
            model.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    return history
'''),
    Variant("tqdm over batches, zero_grad after the step, losses as tensors", "train_model", code='''
def train_model(model, loader, epochs, lr=1e-3):
    criterion = nn.CrossEntropyLoss(reduction="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    optimizer.zero_grad()
    history = []
    for epoch in range(epochs):
        total = torch.zeros(())
        for images, labels in tqdm(loader, desc=f"epoch {epoch + 1}", leave=False):
            loss = criterion(model(images), labels)
            (loss / len(labels)).backward()
            optimizer.step()
            optimizer.zero_grad()
            total += loss.detach()
        history.append(total / len(loader.dataset))
    return history
'''),
]
