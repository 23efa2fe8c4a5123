import pytest
import torch
from PIL import Image
from torchvision import transforms

from dlcourse import data, pretrained


def top1(classifier: pretrained.Classifier, folder, names, transform=None):
    transform = transform or classifier.transform()
    batch = torch.stack([transform(Image.open(folder / name).convert("RGB")) for name in names])
    with torch.no_grad():
        probabilities = classifier.model(batch).softmax(dim=1)
    return probabilities.max(dim=1)


def test_offline_loading_explains_each_missing_model(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty weights cache
    classifiers, unavailable = pretrained.load_classifiers(allow_download=False, verbose=False)
    assert list(classifiers) == list(pretrained.OFFLINE_MODELS)
    assert set(unavailable) == set(pretrained.TORCHVISION_MODELS)
    assert all("downloads are off" in reason for reason in unavailable.values())


def test_torchvision_preprocessing_comes_from_the_weights_metadata():
    for name in pretrained.TORCHVISION_MODELS:
        assert pretrained.torchvision_preprocessing(name) == {
            "resize": 256, "crop": 224, "mean": pytest.approx([0.485, 0.456, 0.406]),
            "std": pytest.approx([0.229, 0.224, 0.225])}


def test_published_accuracies_are_known_without_loading_a_model():
    accuracies = {name: pretrained.published_top1(name)
                  for name in pretrained.TORCHVISION_MODELS + pretrained.OFFLINE_MODELS}
    assert accuracies["alexnet"] == pytest.approx(56.522) and accuracies["resnet18"] == pytest.approx(69.758)
    assert accuracies["efficientnet_lite0"] < accuracies["efficientnet_lite1"] < accuracies["efficientnet_lite2"]
    assert all(50 < accuracy < 80 for accuracy in accuracies.values())


def test_efficientnet_lite_models_differ_in_size_and_resolution():
    sizes = {}
    for version, expected_size in zip(pretrained.LITE_VERSIONS, (224, 240, 260), strict=True):
        classifier = pretrained.load_efficientnet_lite(version)
        assert classifier.name == f"efficientnet_lite{version}" and not classifier.model.training
        # trained in TensorFlow on pixels scaled to [-1, 1] at its own resolution, centre crop of size / (size + 32)
        assert classifier.preprocessing == {"resize": expected_size + 32, "crop": expected_size,
                                            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
        sizes[version] = sum(p.numel() for p in classifier.model.parameters())
    assert sizes[0] < sizes[1] < sizes[2]
    with pytest.raises(ValueError, match="Lite3"):
        pretrained.load_efficientnet_lite(3)


@pytest.mark.notebook
def test_offline_efficientnet_recognises_the_sample_photos(tmp_path):
    categories = pretrained.imagenet_categories()
    assert len(categories) == 1000
    folder = tmp_path / "photos"
    data.fill_with_sample_photos(folder)
    for version in pretrained.LITE_VERSIONS:
        probability, top = top1(pretrained.load_efficientnet_lite(version), folder, ("coffee.png", "chelsea.png"))
        assert categories[top[0]] == "espresso" and probability[0] > 0.5, version
        assert categories[top[1]] in {"Egyptian cat", "tabby", "tiger cat"}, version


@pytest.mark.notebook
def test_lite0_needs_its_own_preprocessing_to_see_the_daisy(tmp_path):
    categories = pretrained.imagenet_categories()
    folder = tmp_path / "photos"
    data.fill_with_sample_photos(folder)
    lite0 = pretrained.load_efficientnet_lite(0)
    _, own = top1(lite0, folder, ["flower.jpg"])
    assert categories[own[0]] == "daisy"
    imagenet = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                   transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    _, wrong = top1(lite0, folder, ["flower.jpg"], imagenet)
    assert categories[wrong[0]] == "chambered nautilus"


class _TinyNet(torch.nn.Module):
    """A stem, a list of two blocks (one depthwise and strided), a shared activation used twice, a head."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act = torch.nn.ReLU()
        self.blocks = torch.nn.ModuleList([
            torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, stride=2), torch.nn.BatchNorm2d(8)),
            torch.nn.Sequential(torch.nn.Conv2d(8, 4, 1), torch.nn.ReLU6())])
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        x = self.act(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return self.fc(torch.flatten(self.act(self.pool(x)), 1))


def test_layer_summary_lists_each_stage_in_the_order_it_runs():
    net = _TinyNet().train()
    rows = pretrained.layer_summary(net, 16)
    assert [row["name"] for row in rows] == ["stem", "act", "blocks.0", "blocks.1", "pool", "act", "fc"]
    assert [row["output"] for row in rows] == [(8, 8, 8), (8, 8, 8), (8, 4, 4), (4, 4, 4), (4, 1, 1), (4, 1, 1), (5,)]
    assert rows[0]["layers"] == ["conv 3x3 3->8 stride 2"]
    assert rows[2]["layers"] == ["depthwise conv 3x3 (8) stride 2", "batch norm"]
    assert rows[3]["layers"] == ["conv 1x1 8->4", "ReLU6"] and rows[4]["layers"] == ["global average pooling"]
    assert rows[-1]["layers"] == ["linear 4->5"]
    assert sum(row["parameters"] for row in rows) == sum(p.numel() for p in net.parameters())
    assert net.training and not any(module._forward_hooks for module in net.modules())  # left as it was


def test_layer_summary_of_efficientnet_lite0():
    model = pretrained.load_efficientnet_lite(0).model
    rows = pretrained.layer_summary(model, 224)
    assert rows[0]["layers"] == ["conv 3x3 3->32 stride 2"] and rows[0]["output"] == (32, 112, 112)
    assert rows[-1]["layers"] == ["linear 1280->1000"] and rows[-1]["output"] == (1000,)
    assert sum(row["name"].startswith("_blocks") for row in rows) == 16
    assert sum(layer.startswith("depthwise") for row in rows for layer in row["layers"]) == 16
    assert sum(row["parameters"] for row in rows) == sum(p.numel() for p in model.parameters())
