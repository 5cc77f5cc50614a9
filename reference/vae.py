"""Reference answers to the code items of Questions 4 and 5 (contract section 3).

Each function is inlined into the solution notebook; ``grade.py release``
replaces every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region with a
``NotImplementedError`` stub to make the student template.
"""
import torch
from torch import nn

from reference.scaffold import CVAE, VAE, Encoder, MNISTArgs, append_class_to_data, get_mnist_data


def reconstruct(vae, x):
    """Encode ``x`` (B, 784), draw ``z ~ N(mu, exp(logvar))`` by reparameterization, decode.

    Returns ``(mu, logvar, x_hat)``: float32 ``(B, latent)``, ``(B, latent)``, ``(B, 784)``;
    gradients flow from ``x_hat`` to ``mu`` and ``logvar``.
    """
    ### BEGIN SOLUTION
    mu, logvar = vae.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return mu, logvar, vae.decoder(z)
    ### END SOLUTION


def kl_divergence(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over dimensions, averaged over rows.

    ``mu``, ``logvar``: float32 ``(B, D)``. Returns a 0-dim float32 tensor.
    """
    ### BEGIN SOLUTION
    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)).mean()
    ### END SOLUTION


def binary_cross_entropy(x_hat, x):
    """Bernoulli log-likelihood of ``x`` under ``x_hat``, summed over pixels, averaged over rows.

    ``x_hat`` in (0, 1) and ``x`` in {0, 1}: float32 ``(B, 784)``. Returns a
    0-dim float32 tensor, a value <= 0 (the name follows the original homework).
    """
    ### BEGIN SOLUTION
    return (x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=1).mean()
    ### END SOLUTION


def elbo(vae, x):
    """The loss to minimise: ``kl_divergence - binary_cross_entropy`` on one ``reconstruct``."""
    ### BEGIN SOLUTION
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)
    ### END SOLUTION


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
    """Train a VAE on ``get_mnist_data()`` with ``MNISTArgs(**kwargs)``; return the model."""
    args = MNISTArgs(**kwargs)
    ### BEGIN SOLUTION
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    return _fit(_mlp_vae(VAE, args, 0), elbo, (X,), args)
    ### END SOLUTION


def creconstruct(cvae, x, y):
    """As ``reconstruct``, with the one-hot class ``y`` appended to the encoder's and decoder's input."""
    ### BEGIN SOLUTION
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))
    ### END SOLUTION


def celbo(cvae, x, y):
    """The conditional loss to minimise: ``kl_divergence - binary_cross_entropy`` on one ``creconstruct``."""
    ### BEGIN SOLUTION
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)
    ### END SOLUTION


def train_mnist_cvae(**kwargs):
    """Train a CVAE on ``get_mnist_data()`` images and labels with ``MNISTArgs(**kwargs)``."""
    args = MNISTArgs(**kwargs)
    ### BEGIN SOLUTION
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    return _fit(_mlp_vae(CVAE, args, 10), celbo, (X, Y), args)
    ### END SOLUTION
