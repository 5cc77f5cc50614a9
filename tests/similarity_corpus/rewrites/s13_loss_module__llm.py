"""LLM-style rewrite of s13_loss_module: the loss modules kept but renamed and documented, type hints,
the decoder built from an explicit list of layers, one shared training routine with a while loop,
every chosen name changed, the model factory turned into two functions."""
import math
from typing import Optional


class GaussianKL(nn.Module):
    """KL divergence between a diagonal Gaussian posterior and the unit Gaussian prior."""

    def forward(self, center: torch.Tensor, log_sigma2: torch.Tensor) -> torch.Tensor:
        return torch.mean((torch.exp(log_sigma2) + center ** 2 - 1 - log_sigma2).sum(dim=1) * 0.5)


class BernoulliLikelihood(nn.Module):
    """Per-image Bernoulli log-likelihood, averaged over the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.criterion = nn.BCELoss(reduction="none")

    def forward(self, probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -torch.mean(torch.sum(self.criterion(probs, targets), dim=1))


KL_TERM = GaussianKL()
LIKELIHOOD_TERM = BernoulliLikelihood()


def reconstruct(vae: nn.Module, x: torch.Tensor):
    """Encode, sample with the reparameterisation trick, decode."""
    center, log_sigma2 = vae.encoder(x)
    noise = torch.randn(*center.size())
    latent = center + (0.5 * log_sigma2).exp() * noise
    return center, log_sigma2, vae.decoder(latent)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Delegates to the KL module."""
    return KL_TERM(mu, logvar)


def binary_cross_entropy(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Delegates to the likelihood module."""
    return LIKELIHOOD_TERM(x_hat, x)


def elbo(vae: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Negative evidence lower bound."""
    center, log_sigma2, probs = reconstruct(vae, x)
    return KL_TERM(center, log_sigma2) - LIKELIHOOD_TERM(probs, x)


def creconstruct(cvae: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Conditional encode/sample/decode."""
    center, log_sigma2 = cvae.encoder(append_class_to_data(x, y))
    noise = torch.randn(*center.size())
    latent = center + (0.5 * log_sigma2).exp() * noise
    return center, log_sigma2, cvae.decoder(append_class_to_data(latent, y))


def celbo(cvae: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Conditional negative ELBO."""
    center, log_sigma2, probs = creconstruct(cvae, x, y)
    return KL_TERM(center, log_sigma2) - LIKELIHOOD_TERM(probs, x)


def encoder_for(hp: MNISTArgs, width: int) -> Encoder:
    """Encoder whose hidden layer reads ``width`` inputs."""
    return Encoder(nn.Sequential(nn.Linear(width, hp.hidden_dim), nn.Tanh()), hp.hidden_dim, hp.latent_dim)


def decoder_for(hp: MNISTArgs, width: int) -> nn.Sequential:
    """Decoder assembled from an explicit list of layers."""
    stack = []
    stack.append(nn.Linear(width, hp.hidden_dim))
    stack.append(nn.Tanh())
    stack.append(nn.Linear(hp.hidden_dim, hp.input_dim))
    stack.append(nn.Sigmoid())
    return nn.Sequential(*stack)


def run_training(model: nn.Module, hp: MNISTArgs, objective, xs: torch.Tensor,
                 ys: Optional[torch.Tensor] = None) -> nn.Module:
    """Shared minibatch loop for the VAE and the CVAE."""
    optimiser = torch.optim.Adam(model.parameters(), lr=hp.lr)
    batches_per_epoch = math.ceil(xs.shape[0] / hp.batch_size)
    epoch_index = 0
    while epoch_index < hp.epochs:
        order = torch.randperm(xs.shape[0])
        for b in range(batches_per_epoch):
            chosen = order[b * hp.batch_size:(b + 1) * hp.batch_size]
            optimiser.zero_grad()
            if ys is None:
                objective(model, xs[chosen]).backward()
            else:
                objective(model, xs[chosen], ys[chosen]).backward()
            optimiser.step()
        epoch_index += 1
    return model


def train_mnist_vae(**kwargs) -> nn.Module:
    """Train the VAE."""
    hp = MNISTArgs(**kwargs)
    if hp.seed > 0:
        torch.manual_seed(hp.seed)
    model = VAE(encoder_for(hp, hp.input_dim), decoder_for(hp, hp.latent_dim))
    return run_training(model, hp, elbo, get_mnist_data()[0])


def train_mnist_cvae(**kwargs) -> nn.Module:
    """Train the CVAE."""
    hp = MNISTArgs(**kwargs)
    if hp.seed > 0:
        torch.manual_seed(hp.seed)
    model = CVAE(encoder_for(hp, hp.input_dim + 10), decoder_for(hp, hp.latent_dim + 10))
    xs, ys = get_mnist_data()
    return run_training(model, hp, celbo, xs, ys)
