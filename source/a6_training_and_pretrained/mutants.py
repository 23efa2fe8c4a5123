"""Realistic mistakes and correct alternatives for assignment 6 (instructor only, never released).

``dlcourse prove a6_training_and_pretrained`` grades each one and checks that bugs lose points exactly in
their ``fails`` cells and that alternatives keep full marks.
"""

from dlcourse.mutation import Variant

VARIANTS = [
    # (a) make_loader
    Variant("features stay float64 (torch.as_tensor keeps NumPy's dtype)", "make_loader",
            replace=[("torch.as_tensor(np.asarray(x), dtype=torch.float32)", "torch.as_tensor(np.asarray(x))")],
            fails=["test_make_loader"]),
    Variant("drop_last=True loses the smaller last batch", "make_loader",
            replace=[("shuffle=shuffle, generator=generator)",
                      "shuffle=shuffle, generator=generator, drop_last=True)")],
            fails=["test_make_loader"]),
    Variant("shuffles with the global generator: the seed is ignored", "make_loader",
            replace=[("generator = torch.Generator().manual_seed(seed) if shuffle else None", "generator = None")],
            fails=["test_make_loader"]),
    # (a) correct alternatives
    Variant("a RandomSampler with a seeded generator", "make_loader", code='''
from torch.utils.data import RandomSampler


def make_loader(x, y, batch_size, shuffle=False, seed=0):
    dataset = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y).long())
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)
'''),
    # (b) deep_mlp
    Variant("a ReLU after the last layer too", "deep_mlp",
            replace=[("nn.Linear(64, 10))", "nn.Linear(64, 10), nn.ReLU())")], fails=["test_deep_mlp"]),
    Variant("a softmax at the end (the loss applies it again)", "deep_mlp",
            replace=[("nn.Linear(64, 10))", "nn.Linear(64, 10), nn.Softmax(dim=1))")], fails=["test_deep_mlp"]),
    Variant("one ReLU left out: two linear layers in a row", "deep_mlp",
            replace=[("nn.Linear(256, 128), nn.ReLU(),", "nn.Linear(256, 128),")], fails=["test_deep_mlp"]),
    Variant("hidden sizes 256-64-128", "deep_mlp",
            replace=[("nn.Linear(256, 128), nn.ReLU(),\n                         nn.Linear(128, 64), nn.ReLU(),\n"
                      "                         nn.Linear(64, 10)",
                      "nn.Linear(256, 64), nn.ReLU(),\n                         nn.Linear(64, 128), nn.ReLU(),\n"
                      "                         nn.Linear(128, 10)")], fails=["test_deep_mlp"]),
    Variant("one model built once and returned on every call", "deep_mlp", code='''
_model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                       nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def deep_mlp():
    return _model
''', fails=["test_deep_mlp"]),
    # (b) deep_mlp: correct alternatives
    Variant("an nn.Module subclass with its own forward", "deep_mlp", code='''
class DeepMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 256), nn.Linear(256, 128)
        self.fc3, self.out = nn.Linear(128, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x.flatten(1)))
        x = torch.relu(self.fc2(x))
        return self.out(torch.relu(self.fc3(x)))


def deep_mlp():
    return DeepMLP()
'''),
    Variant("nn.Sequential from a loop over the sizes, without Flatten", "deep_mlp", code='''
def deep_mlp():
    sizes = [784, 256, 128, 64, 10]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
'''),
    # (b) train_one_epoch
    Variant("gradients never reset: they accumulate over the batches", "train_one_epoch",
            replace=[("        optimizer.zero_grad()\n", "")],
            fails=["test_train_one_epoch"]),
    Variant("no model.train(): a model left in eval mode trains without dropout", "train_one_epoch",
            replace=[("    model.train()\n", "")],
            fails=["test_train_one_epoch"]),
    Variant("mean of the batch means (the smaller last batch counts as much as a full one)", "train_one_epoch",
            replace=[("total += loss.item() * len(yb)", "total += loss.item()"), ("count += len(yb)", "count += 1")],
            fails=["test_train_one_epoch"]),
    Variant("no optimizer.step()", "train_one_epoch",
            replace=[("        optimizer.step()\n", "")],
            fails=["test_train_one_epoch"]),
    # (b) correct alternatives
    Variant("detached loss tensors summed, divided by len(loader.dataset)", "train_one_epoch", code='''
def train_one_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = torch.zeros(())
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.detach() * xb.shape[0]
    return float(total / len(loader.dataset))
'''),
    # (b) evaluate
    Variant("no model.eval(): dropout stays on while evaluating", "evaluate",
            replace=[("    model.eval()\n", "")],
            fails=["test_evaluate"]),
    Variant("no torch.no_grad(): the graph is recorded for nothing", "evaluate", code='''
def evaluate(model, loader, loss_fn):
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for xb, yb in loader:
        logits = model(xb)
        total_loss += loss_fn(logits, yb).item() * len(yb)
        correct += (logits.argmax(dim=1) == yb).sum().item()
        count += len(yb)
    return total_loss / count, correct / count
''', fails=["test_evaluate"]),
    Variant("accuracy as a count of correct samples", "evaluate",
            replace=[("return total_loss / count, correct / count", "return total_loss / count, correct")],
            fails=["test_evaluate"]),
    # (b) correct alternatives
    Variant("all logits concatenated, one loss call, @torch.no_grad() decorator", "evaluate", code='''
@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.eval()
    outputs, labels = [], []
    for xb, yb in loader:
        outputs.append(model(xb))
        labels.append(yb)
    logits, labels = torch.cat(outputs), torch.cat(labels)
    return loss_fn(logits, labels).item(), (logits.argmax(dim=1) == labels).float().mean().item()
'''),
    # (b) settings
    Variant("the original plain SGD at 0.01: far too slow on 4,000 images", "settings",
            replace=[("dict(lr=0.05, momentum=0.9, batch_size=64, epochs=20)",
                      "dict(lr=0.01, momentum=0.0, batch_size=64, epochs=20)")],
            fails=["test_settings"]),
    Variant("plain SGD at 0.1 with batches of 32", "settings",
            replace=[("dict(lr=0.05, momentum=0.9, batch_size=64, epochs=20)",
                      "dict(lr=0.1, momentum=0.0, batch_size=32, epochs=20)")]),
    Variant("momentum 0.9 at lr 0.02 with batches of 128: too few steps in 3 epochs", "settings",
            replace=[("dict(lr=0.05, momentum=0.9, batch_size=64, epochs=20)",
                      "dict(lr=0.02, momentum=0.9, batch_size=128, epochs=30)")],
            fails=["test_settings"]),
    Variant("momentum 0.5 at lr 0.1 with batches of 32, 15 epochs", "settings",
            replace=[("dict(lr=0.05, momentum=0.9, batch_size=64, epochs=20)",
                      "dict(lr=0.1, momentum=0.5, batch_size=32, epochs=15)")]),
    # (c) MyImages and imagenet_transform
    Variant("resizes the shorter side to 224: no margin left for the crop", "my_images",
            replace=[("transforms.Resize(256),", "transforms.Resize(224),")],
            fails=["test_imagenet_transform"]),
    Variant("photos not converted to RGB (greyscale and RGBA photos pass through)", "my_images",
            replace=[("Image.open(self.paths[index]).convert(\"RGB\")", "Image.open(self.paths[index])")],
            fails=["test_my_images_dataset"]),
    Variant("suffixes compared case-sensitively: .PNG and .JPG photos are missed", "my_images",
            replace=[("p.suffix.lower() in", "p.suffix in")],
            fails=["test_my_images_dataset"]),
    Variant("always the ImageNet transform, whatever transform is given", "my_images",
            replace=[("return self.transform(Image.open", "return imagenet_transform(Image.open")],
            fails=["test_my_images_dataset"]),
    # (c) correct alternatives
    Variant("tensor pipeline (ToTensor first, antialiased tensor resize), glob and string paths", "my_images", code='''
imagenet_transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Resize(256, antialias=True),
    transforms.CenterCrop(224),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class MyImages(Dataset):
    def __init__(self, folder, transform=imagenet_transform):
        self.paths = sorted(str(p) for p in Path(folder).glob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
        return self.transform(image)
'''),
    Variant("a hand-written transform with PIL and NumPy, os.listdir", "my_images", code='''
import os


def imagenet_transform(image):
    width, height = image.size
    scale = 256 / min(width, height)
    image = image.resize((max(256, int(width * scale)), max(256, int(height * scale))), Image.BILINEAR)
    width, height = image.size
    left, top = round((width - 224) / 2), round((height - 224) / 2)
    array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    array = (array - mean) / np.array([0.229, 0.224, 0.225], dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


class MyImages(Dataset):
    def __init__(self, folder, transform=imagenet_transform):
        suffixes = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
        names = [n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in suffixes]
        self.paths = [Path(folder) / n for n in sorted(names)]
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return self.transform(Image.open(self.paths[index]).convert("RGB"))
'''),
    # (c) predict
    Variant("no model.eval(): dropout and batch statistics change the predictions", "predict",
            replace=[("    model.eval()\n", "")],
            fails=["test_predict"]),
    Variant("no torch.no_grad()", "predict",
            replace=[("    with torch.no_grad():\n        for images in loader:\n"
                      "            probabilities = F.softmax(model(images), dim=1)\n"
                      "            predictions.append(probabilities.argmax(dim=1))",
                      "    for images in loader:\n        probabilities = F.softmax(model(images), dim=1)\n"
                      "        predictions.append(probabilities.argmax(dim=1))")],
            fails=["test_predict"]),
    Variant("softmax over the batch instead of over the classes", "predict",
            replace=[("F.softmax(model(images), dim=1)", "F.softmax(model(images), dim=0)")],
            fails=["test_predict"]),
    # (c) correct alternatives
    Variant("inference_mode and argmax of the logits (softmax does not change it)", "predict", code='''
def predict(model, loader):
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(images).argmax(1) for images in loader]).clone()
'''),
    # (c) predict_topk
    Variant("top-k of the logits instead of the probabilities", "predict_topk",
            replace=[("probabilities.append(F.softmax(model(images), dim=1))", "probabilities.append(model(images))")],
            fails=["test_predict_topk"]),
    Variant("no model.eval(): dropout changes the probabilities", "predict_topk",
            replace=[("    model.eval()\n", "")],
            fails=["test_predict_topk"]),
    Variant("softmax over the k largest logits only (renormalised)", "predict_topk", code='''
def predict_topk(model, loader, k):
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(images) for images in loader])
    values, indices = logits.topk(k, dim=1)
    return F.softmax(values, dim=1), indices
''', fails=["test_predict_topk"]),
    # (c) correct alternatives
    Variant("NumPy argsort on the probabilities", "predict_topk", code='''
def predict_topk(model, loader, k):
    model.eval()
    with torch.no_grad():
        probabilities = torch.cat([F.softmax(model(images), dim=1) for images in loader]).numpy()
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return torch.from_numpy(np.take_along_axis(probabilities, order, axis=1)), torch.from_numpy(order)
'''),
    # (c) top_labels
    Variant("class indices taken as 1-based", "top_labels",
            replace=[("categories[int(i)]", "categories[int(i) - 1]")],
            fails=["test_top_labels"]),
    Variant("probabilities left as tensors", "top_labels",
            replace=[("(categories[int(i)], float(p))", "(categories[int(i)], p)")],
            fails=["test_top_labels"]),
    Variant("loops over .tolist()", "top_labels", code='''
def top_labels(probabilities, indices, categories):
    result = []
    for row_p, row_i in zip(probabilities.tolist(), indices.tolist()):
        result.append([(categories[i], p) for p, i in zip(row_p, row_i)])
    return result


categories = imagenet_categories()
'''),
]
