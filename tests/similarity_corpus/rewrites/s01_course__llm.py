"""LLM-style rewrite of s01_course (same logic, bit-identical weights): type hints, new docstrings,
explicit layers added one by one instead of nn.Sequential(...), one shared training loop, a while over
epochs, every name the author chose changed."""
from typing import Callable, Tuple

Tensor = torch.Tensor


def reconstruct(vae: nn.Module, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Encode ``x``, draw one latent sample with the reparameterisation trick, and decode it.

    Args:
        vae: the model holding ``encoder`` and ``decoder``.
        x: a batch of flattened images.

    Returns:
        The posterior mean, its log-variance and the reconstruction.
    """
    posterior_mean, posterior_log_var = vae.encoder(x)
    sigma = (posterior_log_var * 0.5).exp()
    latent = torch.randn_like(sigma) * sigma + posterior_mean
    decoded = vae.decoder(latent)
    return posterior_mean, posterior_log_var, decoded


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form KL divergence to the standard normal prior, averaged over the batch."""
    per_example = (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1) * 0.5
    return torch.mean(per_example)


def binary_cross_entropy(x_hat: Tensor, x: Tensor) -> Tensor:
    """Bernoulli log-likelihood of ``x`` under ``x_hat``, summed over pixels and averaged over the batch."""
    log_likelihood = torch.log(x_hat) * x + torch.log(1 - x_hat) * (1 - x)
    return torch.mean(torch.sum(log_likelihood, dim=1))


def elbo(vae: nn.Module, x: Tensor) -> Tensor:
    """The negative evidence lower bound (a loss to minimise)."""
    posterior_mean, posterior_log_var, decoded = reconstruct(vae, x)
    return kl_divergence(posterior_mean, posterior_log_var) - binary_cross_entropy(decoded, x)


def creconstruct(cvae: nn.Module, x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Conditional version of :func:`reconstruct`: the one-hot class is appended to both inputs."""
    posterior_mean, posterior_log_var = cvae.encoder(append_class_to_data(x, y))
    sigma = (posterior_log_var * 0.5).exp()
    latent = torch.randn_like(sigma) * sigma + posterior_mean
    decoded = cvae.decoder(append_class_to_data(latent, y))
    return posterior_mean, posterior_log_var, decoded


def celbo(cvae: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Conditional negative ELBO."""
    posterior_mean, posterior_log_var, decoded = creconstruct(cvae, x, y)
    return kl_divergence(posterior_mean, posterior_log_var) - binary_cross_entropy(decoded, x)


def assemble_network(wrapper: type, config: MNISTArgs, condition_width: int = 0) -> nn.Module:
    """Create the encoder and decoder with explicitly named layers."""
    body = nn.Sequential()
    body.add_module("input_layer", nn.Linear(config.input_dim + condition_width, config.hidden_dim))
    body.add_module("input_activation", nn.Tanh())
    encoder_module = Encoder(body, config.hidden_dim, config.latent_dim)
    generator = nn.Sequential()
    generator.add_module("hidden_layer", nn.Linear(config.latent_dim + condition_width, config.hidden_dim))
    generator.add_module("hidden_activation", nn.Tanh())
    generator.add_module("output_layer", nn.Linear(config.hidden_dim, config.input_dim))
    generator.add_module("output_activation", nn.Sigmoid())
    return wrapper(encoder_module, generator)


def optimise(network: nn.Module, config: MNISTArgs, objective: Callable, *tensors: Tensor) -> nn.Module:
    """Shared optimisation loop: Adam over shuffled minibatches for ``config.epochs`` epochs."""
    adam = torch.optim.Adam(network.parameters(), lr=config.lr)
    current_epoch = 0
    while current_epoch < config.epochs:
        permutation = torch.randperm(tensors[0].shape[0])
        for start in range(0, tensors[0].shape[0], config.batch_size):
            selection = permutation[start:start + config.batch_size]
            batch_loss = objective(network, *[t[selection] for t in tensors])
            adam.zero_grad(set_to_none=True)
            batch_loss.backward()
            adam.step()
        current_epoch += 1
    return network


def train_mnist_vae(**kwargs) -> nn.Module:
    """Train the VAE on binarized MNIST."""
    config = MNISTArgs(**kwargs)
    if config.seed > 0:
        torch.manual_seed(config.seed)
    images, _ = get_mnist_data()
    return optimise(assemble_network(VAE, config), config, elbo, images)


def train_mnist_cvae(**kwargs) -> nn.Module:
    """Train the conditional VAE on binarized MNIST."""
    config = MNISTArgs(**kwargs)
    if config.seed > 0:
        torch.manual_seed(config.seed)
    images, digits = get_mnist_data()
    return optimise(assemble_network(CVAE, config, condition_width=10), config, celbo, images, digits)
