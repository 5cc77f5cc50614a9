"""Question 3: how a small neural network transforms two interleaved sinusoids.

A port of the original's Flux code: dense layers start with Glorot-uniform
weights and zero biases, training uses RMSProp(1e-2) with rho 0.9, and the loss
is the mean binary cross-entropy of a sigmoid output. Points are float32
``(N, 2)``; labels float32 ``(N,)`` in {0, 1}.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

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
    """Mean binary cross-entropy, RMSProp(lr, alpha=0.9 as Flux's rho); calls ``on_epoch(epoch, net)``.

    Trains with one thread (torch's thread count restored after): these networks are so small that
    more threads only wait on each other (on a busy 2-core machine one step took 77 ms with torch's
    default thread count and 4.5 ms with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
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
    finally:
        torch.set_num_threads(threads)


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
