"""The numbers the notebooks' text states about their own runs, and where each run prints them.

Each entry pairs a pattern over an assignment's markdown (its groups are the stated numbers) with a pattern
over what the source notebook prints when run (its groups are the measured ones). Text and output are read
with runs of whitespace as one space. A stated number must equal the printed one to the digits it shows
(0.51 stands for anything in [0.505, 0.515)), unless ``tolerance`` says how far off "about" may be.

``mode`` is the run that prints the number: "grading" for numbers that do not depend on the shortened grading
runs (the run that the source test makes anyway), "full" for what only the student's full run gives (the
figures of training runs). ``how="span"``: the text states the lowest and highest of all printed matches;
``how="order"``: the text states powers of ten ("about $10^{-31}$"), the printed numbers must be of that order.
``scale`` converts what is printed into the unit of the text (100 for a fraction stated in %).

Numbers a task sets (epochs, batch sizes, thresholds) and worked examples in the text's own mathematics are
not measurements and are not listed. Timings vary with the machine: the text gives them as ranges, and the
benchmarks measure them.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Stated:
    text: str
    printed: str
    mode: str = "grading"
    how: str = "each"
    scale: float = 1.0
    tolerance: float | None = None


NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"


def _n(pattern: str) -> str:
    """A pattern in which ``#`` stands for a captured number and ``#name`` for one captured as ``name``.

    Named numbers pair up by name (text and output may list them in different orders), unnamed ones by position.
    """
    return re.sub(r"#(\w*)", lambda m: f"(?P<{m.group(1)}>{NUMBER})" if m.group(1) else f"({NUMBER})", pattern)


def _ratio(scheme: str) -> str:
    """a2's printed line for one activation and initialization: the variance ratio from layer 1 to 20."""
    return _n(rf"{scheme} : Var\(a\) at layer 1 \S+ at layer 20 \S+ ratio #")


STATED: dict[str, list[Stated]] = {
    "a1": [
        Stated(_n(r"For \$v_1, v_2\$ it is #"), _n(r"\|\|v1 - v2\|\|\^2 = tensor\(#")),
    ],
    "a2": [
        Stated(_n(r"\| \$z_4\$ \| [^|]* \| [^|]* \| \$#\$ \|"), _n(r"z4 \S+ \S+ #")),
        Stated(_n(r"\| \$w_1\$ \| [^|]* \| [^|]* \| \$#\$ \|"), _n(r"w1 \S+ input #")),
        Stated(_n(r"\| \$w_2\$ \| [^|]* \| [^|]* \| \$#\$ \|"), _n(r"w2 \S+ input #")),
        Stated(_n(r"\\partial e/\\partial x_1 = -w_1 f = #"), _n(r"x1 \S+ input #")),
        Stated(_n(r"\\partial e/\\partial x_2 = -w_2 f = #"), _n(r"x2 \S+ input #")),
        Stated(_n(r"vanishes for both activations \(printed ratios about \$10\^\{#tanh\}\$ and \$10\^\{#relu\}\$\)"),
               _n(r"tanh, sigma = 0.01 ?: .*? ratio #tanh .*?relu, sigma = 0.01 ?: .*? ratio #relu"),
               mode="full", how="order"),
        Stated(_n(r"ReLU explodes \(by half of that per layer, a ratio of about \$10\^\{#\}\$\)"),
               _ratio("relu, sigma = 1"), mode="full", how="order"),
        Stated(_n(r"tanh saturates at \$\\pm 1\$ \(the variance of \$a\$ stays near \$n\$, ratio about #"),
               _ratio("tanh, sigma = 1"), mode="full"),
        Stated(_n(r"halve the variance at every layer \(ratio about \$#\s*\\times 10\^\{-6\}"),
               _ratio("relu, lecun"), mode="full", scale=1e6,
               tolerance=0.5),
        Stated(_n(r"He keeps it level \(ratio about #"),
               _ratio("relu, he"), mode="full"),
        Stated(_n(r"over the 20 layers \(ratio about #\)"),
               _ratio("tanh, lecun"), mode="full"),
        Stated(_n(r"He holds it near a constant \(ratio about #ratio, settling near #last\)"),
               _n(r"tanh, he : Var\(a\) at layer 1 \S+ at layer 20 #last, ratio #ratio"), mode="full"),
    ],
    "a4": [
        Stated(_n(r"from about #% to at least 70%"), _n(r"untrained network: mean loss \S+ accuracy #%"), tolerance=2),
        Stated(_n(r"\*\*Batch size 8 is best\*\*: the lowest final training loss \(#loss\) and the lowest test error "
                  r"\(#error%"), _n(r"lr 1, batch 8, hidden \(32, 32\) #loss #error%"), mode="full"),
        Stated(_n(r"against #% for part \(d\)'s setting"), _n(r"lr 1, batch 64, hidden \(32, 32\) \S+ #%"),
               mode="full"),
        Stated(_n(r"\*\*One hidden layer of 128\*\* comes second \(#error%\): its training loss \(#loss\)"),
               _n(r"lr 1, batch 64, hidden \(128,\) #loss #error%"), mode="full"),
        Stated(_n(r"is still #loss after 10 epochs \(#error% test error"),
               _n(r"lr 0.1, batch 64, hidden \(32, 32\) #loss #error%"), mode="full"),
        Stated(_n(r"it ends at #loss, with #error% test error"),
               _n(r"lr 10, batch 64, hidden \(32, 32\) #loss #error%"), mode="full"),
    ],
    "a3": [
        Stated(_n(r"already for \$\\sigma\(#f32\)\$ in float32 and \$\\sigma\(#f64\)\$ in float64"),
               _n(r"torch.float32: sigmoid\(z\) rounds to exactly 1 from z = #f32 "
                  r"torch.float64: sigmoid\(z\) rounds to exactly 1 from z = #f64")),
        Stated(_n(r"here # to # over the five starts"), _n(r"validation loss \S+, accuracy #"), how="span"),
        Stated(_n(r"near the share of the larger class \(#\)"),
               _n(r"share of the larger class in the validation data: #")),
        Stated(_n(r"above \$\\log 2\$\*\*, # to # here"), _n(r"validation loss #,"), how="span"),
        Stated(_n(r"standard deviation of about 1 \(# to # here"), _n(r"logits: standard deviation #"), how="span"),
        Stated(_n(r"\(standard deviation # to #, a few"), _n(r"outputs: mean \S+ standard deviation #,"),
               how="span"),
        Stated(_n(r"by chance \(# at start 0\)"), _n(r"random start 0: .*? outputs: mean #,")),
        Stated(_n(r"With # training images"), _n(r"# training and \d+ test samples")),
        Stated(_n(r"\(#one and #two; #one_train and #two_train on the training set"),
               _n(r"one layer 64-1 train accuracy #one_train validation accuracy #one .*?two linear layers 64-32-1 "
                  r"train accuracy #two_train validation accuracy #two "), mode="full"),
        Stated(_n(r"nonlinear decision regions: #\."),
               _n(r"64-32-1 with ReLU train accuracy \S+ validation accuracy #"), mode="full"),
        Stated(_n(r"Four layers reach about the same accuracy \(#\)"),
               _n(r"four layers 64-64-32-16-1 train accuracy \S+ validation accuracy #"), mode="full"),
        Stated(_n(r"\(training accuracy #, well above"), _n(r"64-32-1 with ReLU train accuracy #"), mode="full"),
        Stated(_n(r"for the four-layer network from #low after epoch #epoch to #last,"),
               _n(r"four layers 64-64-32-16-1 .*? validation loss #last \(lowest #low after epoch #epoch\)"),
               mode="full"),
        Stated(_n(r"for the 64-32-1 network from #low after epoch #epoch to #last\)"),
               _n(r"64-32-1 with ReLU .*? validation loss #last \(lowest #low after epoch #epoch\)"), mode="full"),
        Stated(_n(r"\(validation accuracy #low instead of #good\)"),
               _n(r"learning rate 0.001 final accuracy: training \S+ validation #low;.*?learning rate 0.2 final "
                  r"accuracy: training \S+ validation #good;"), mode="full"),
        Stated(_n(r"Its training accuracy \(#\) is low too"), _n(r"learning rate 0.001 final accuracy: training #"),
               mode="full"),
        Stated(_n(r"whose training accuracy reaches #\."), _n(r"learning rate 0.2 final accuracy: training #"),
               mode="full"),
        Stated(_n(r"\(accuracy #val on the validation data and #train on the training data"),
               _n(r"learning rate 10.0 final accuracy: training #train, validation #val;"), mode="full"),
        Stated(_n(r"ends at #val on the validation data \(#train on the training data\)"),
               _n(r"batch size 2 final accuracy: training #train, validation #val;"), mode="full"),
        Stated(_n(r"its training accuracy is #large, below the #small of batch size 16"),
               _n(r"batch size 16 final accuracy: training #small,.*?batch size 256 final accuracy: training #large,"),
               mode="full"),
    ],
    "a5": [
        Stated(_n(r"classifies about #% of the 1,297 test digits"), _n(r"test accuracy after 100 epochs: #%"),
               mode="full"),
    ],
    "a6": [
        Stated(_n(r"\$W \\in \\mathbb\{R\}\^\{10 \\times 784\}\$: #\s*parameters"),
               _n(r"logistic regression: # parameters")),
        Stated(_n(r"espresso \(Lite0 #a%, Lite1 #b%, Lite2 #c%\)"),
               _n(r"coffee.png: efficientnet_lite0 espresso \(#a%\); efficientnet_lite1 espresso \(#b%\); "
                  r"efficientnet_lite2 espresso \(#c%\)")),
        Stated(_n(r"Egyptian cat \(#% to #%"), _n(r"efficientnet_lite\d Egyptian cat \(#%\)"), how="span"),
        Stated(_n(r"a palace \(#% to #%\)"), _n(r"efficientnet_lite\d palace \(#%\)"), how="span"),
        Stated(_n(r"a moped \(#% to #%"),
               _n(r"motorcycle_\w+\.png: efficientnet_lite0 moped \(#%\); efficientnet_lite1 moped \(#%\); "
                  r"efficientnet_lite2 moped \(#%\)"), how="span"),
        Stated(_n(r"missile for Lite0 and Lite2 \(#a%, #c%\)"),
               _n(r"rocket.png: efficientnet_lite0 missile \(#a%\); .*? efficientnet_lite2 missile \(#c%\)")),
        Stated(_n(r"daisy for Lite0 \(#a%\) but hen-of-the-woods for Lite1 and honeycomb \(#c%\)"),
               _n(r"flower.jpg: efficientnet_lite0 daisy \(#a%\); efficientnet_lite1 hen-of-the-woods \(\S+\); "
                  r"efficientnet_lite2 honeycomb \(#c%\)")),
        Stated(_n(r"academic gown \(Lite0, #a%\) or a military uniform \(Lite1, Lite2, #b% and #c%\)"),
               _n(r"grace_hopper.jpg: efficientnet_lite0 academic gown \(#a%\); efficientnet_lite1 military uniform "
                  r"\(#b%\); efficientnet_lite2 military uniform \(#c%\)")),
        Stated(_n(r"barbell, at most #%\)"), _n(r"astronaut.png: efficientnet_lite0 \S+ \(#%\)")),
        Stated(_n(r"the top-1 probabilities are low \(#% to #%\)"),
               _n(r"(?:hubble_deep_field\.jpg|immunohistochemistry\.png|retina\.jpg): efficientnet_lite0 [^(]*\(#%\); "
                  r"efficientnet_lite1 [^(]*\(#%\); efficientnet_lite2 [^(]*\(#%\)"),
               how="span"),
        Stated(_n(r"#a of its #b top classes change"), _n(r"#a of #b top classes change")),
        Stated(_n(r"chambered nautilus \(#%\)"), _n(r"flower.jpg: daisy \(\S+\) \| chambered nautilus \(#%\)")),
        Stated(_n(r"ping-pong ball \(#%\)"), _n(r"astronaut.png: bobsled \(\S+\) \| ping-pong ball \(#%\)")),
        Stated(_n(r"espresso #a% to #b%"), _n(r"coffee.png: espresso \(#a%\) \| espresso \(#b%\)")),
        Stated(_n(r"moped #a% to #b%"), _n(r"motorcycle_left.png: moped \(#a%\) \| moped \(#b%\)")),
        Stated(_n(r"mean top-1 probability #a% against #b%"), _n(r"mean top-1 probability #a% \| #b%")),
        Stated(_n(r"the parameters grow from #a to #b to #c million"),
               _n(r"efficientnet_lite0 \| #a \|.*?efficientnet_lite1 \| #b \|.*?efficientnet_lite2 \| #c \|"),
               scale=1e-6, tolerance=0.005),
        Stated(_n(r"rises only from #a% to #b% and #c%"),
               _n(r"efficientnet_lite0 #a%, efficientnet_lite1 #b%, efficientnet_lite2 #c%")),
        Stated(_n(r"The models agree on only #% to #% of the photos"),
               _n(r"efficientnet_lite0 \|[^|]*\|[^|]*\|[^|]*\| 100%, #%, #% efficientnet_lite1 \|[^|]*\|[^|]*\|[^|]*\| "
                  r"\S+ 100%, #%"),
               how="span"),
        Stated(_n(r"AlexNet has about 61 million parameters and #a% accuracy, VGG16 138 million and #b%, ResNet18 "
                  r"11.7 million and #c%, EfficientNet-Lite0 4.7 million and #d%"),
               _n(r"alexnet #a%, vgg16 #b%, resnet18 #c%, efficientnet_lite0 #d%")),
        Stated(_n(r"from 3 to 32 channels \(#\s*parameters\)"), _n(r"_conv_stem \| 32 x 112 x 112 \| #")),
        Stated(_n(r"\*\*#blocks stacked blocks\*\* \(MBConv, \"inverted residual\" blocks\) hold #share% of the "
                  r"#total\s*parameters"),
               _n(r"#total parameters in #blocks blocks .*? the blocks hold #share% of the parameters")),
        Stated(_n(r"and batch norms, #\. Far fewer"), _n(r"_blocks.12 \| 192 x 7 x 7 \| # \|")),
        Stated(_n(r"after every one of the #convolutions convolutions \(#norms batch norms;"),
               _n(r"#convolutions convolutions \(.*?\), #norms batch norms")),
        Stated(_n(r"as PyTorch stores them \(# lines"), _n(r"would list the same layers in # lines")),
        Stated(_n(r"without max-pooling \(# max-poolings\)"), _n(r"# max-poolings")),
        Stated(_n(r"1,000 logits \(#count parameters, #share%\)"), _n(r"the final linear layer #share% \(#count\)")),
        Stated(_n(r"the deep MLP ends at #mlp% validation accuracy, above the 90% goal, and logistic regression at "
                  r"#lr%\. Measured once on the 1,000 test digits, for these settings only, they reach #mlp_test% and "
                  r"#lr_test%"),
               _n(r"logistic regression: training loss \S+ validation loss \S+ validation accuracy #lr%.*?deep MLP: "
                  r"training loss \S+ validation loss \S+ validation accuracy #mlp%.*?logistic regression: test loss "
                  r"\S+ test accuracy #lr_test% deep MLP: test loss \S+ test accuracy #mlp_test%"), mode="full"),
        Stated(_n(r"its training loss falls to almost zero \(#mlp to three decimals after 20 epochs\), while logistic "
                  r"regression stays around #lr\."),
               _n(r"logistic regression: training loss #lr,.*?deep MLP: training loss #mlp,"), mode="full"),
        Stated(_n(r"with a lower validation loss \(#mlp against #lr\) and about \d points more accuracy"),
               _n(r"logistic regression: training loss \S+ validation loss #lr,.*?deep MLP: training loss \S+ "
                  r"validation loss #mlp,"), mode="full"),
        Stated(_n(r"the deep MLP is right #accuracy% of the time, but its mean confidence \(the top probability\) is "
                  r"#confidence%"),
               _n(r"deep MLP on 1000 test images: accuracy #accuracy%, mean confidence #confidence%"), mode="full"),
        Stated(_n(r"#count of the 1,000 get a confidence above 0.999, and #right% of those are right"),
               _n(r"confidence 0.999 to 1.000: #count images, #right% right"), mode="full"),
        Stated(_n(r"the #count images between 0.5 and 0.9 are right only #right% of the time \(the #low below 0.5"),
               _n(r"confidence 0.000 to 0.500: #low images, \S+ right confidence 0.500 to 0.900: #count images, "
                  r"#right% right"), mode="full"),
        Stated(_n(r"#confident of its #errors errors have a confidence above 90% and #sure above 99%"),
               _n(r"#errors wrong, #confident of them with a confidence above 90% and #sure above 99%"), mode="full"),
        Stated(_n(r"between 0.9 and 0.99 it is right #% of the time"),
               _n(r"confidence 0.900 to 0.990: \S+ images, #% right"), mode="full"),
        Stated(_n(r"its validation loss is lowest after epoch #epoch \(#low\), then rises and wobbles between #a and "
                  r"#b while"), _n(r"deep MLP: lowest #low after epoch #epoch, then #a to #b;"), mode="full"),
        Stated(_n(r"Its validation accuracy still creeps up meanwhile \(#then% to #end%\)"),
               _n(r"deep MLP: lowest .*? accuracy #then% then, #end% at the end"), mode="full"),
        Stated(_n(r"smaller, stable gap \(#train against #val; its validation loss is lowest after epoch #epoch, "
                  r"at #low,"),
               _n(r"logistic regression: training loss #train, validation loss #val,.*?logistic regression: "
                  r"lowest #low after epoch #epoch,"), mode="full"),
        Stated(_n(r"stop early at the minimum of the validation loss \(about epoch # here\)"),
               _n(r"deep MLP: lowest \S+ after epoch #,"), mode="full"),
    ],
}
