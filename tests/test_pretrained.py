import pytest
import torch
from PIL import Image
from torchvision import transforms

from dlcourse import data, pretrained


def test_offline_loading_explains_each_missing_model(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty weights cache
    classifiers, unavailable = pretrained.load_classifiers(allow_download=False, verbose=False)
    assert set(classifiers) == {pretrained.OFFLINE_MODEL}
    assert set(unavailable) == set(pretrained.TORCHVISION_MODELS)
    assert all("downloads are off" in reason for reason in unavailable.values())


@pytest.mark.notebook
def test_offline_efficientnet_recognises_the_sample_photos(tmp_path):
    classifier = pretrained.load_efficientnet_lite0()
    categories = pretrained.imagenet_categories()
    assert len(categories) == 1000 and not classifier.model.training
    preprocess = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    folder = tmp_path / "photos"
    data.fill_with_sample_photos(folder)
    names = ("coffee.png", "chelsea.png")
    batch = torch.stack([preprocess(Image.open(folder / name).convert("RGB")) for name in names])
    with torch.no_grad():
        probabilities = classifier.model(batch).softmax(dim=1)
    top = probabilities.argmax(dim=1)
    assert categories[top[0]] == "espresso" and probabilities[0, top[0]] > 0.5
    assert categories[top[1]] in {"Egyptian cat", "tabby", "tiger cat"}
