"""LLM-style rewrite of s04_blog_tutorial: type hints and docstrings, the encoder's hidden layer as an
explicit nn.Module, the decoder from an OrderedDict, the two duplicated training loops merged into one
helper, a while over epochs, names changed, the progress line reworded."""
from collections import OrderedDict


class HiddenBlock(nn.Module):
    """A linear layer followed by tanh, written out explicitly."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.activation = nn.Tanh()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(inputs))


def draw_latent(center: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """Reparameterised sample: center + noise * standard deviation."""
    noise = torch.randn(center.shape)
    return torch.exp(log_variance).sqrt() * noise + center


def reconstruct(vae: nn.Module, x: torch.Tensor):
    """Return (mean, log-variance, reconstruction) for a batch."""
    center, log_variance = vae.encoder(x)
    code = draw_latent(center, log_variance)
    output = vae.decoder(code)
    return center, log_variance, output


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)), averaged over the batch."""
    n = mu.shape[0]
    summed = (1 + logvar - mu * mu - logvar.exp()).sum() * -0.5
    return summed / n


def binary_cross_entropy(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Average Bernoulli log-likelihood with a small epsilon for numerical stability."""
    tiny = 1e-8
    ll = (x_hat + tiny).log() * x + (1 - x_hat + tiny).log() * (1 - x)
    return ll.sum() / x.size(0)


def elbo(vae: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Negative ELBO."""
    center, log_variance, output = reconstruct(vae, x)
    divergence = kl_divergence(center, log_variance)
    likelihood = binary_cross_entropy(output, x)
    return divergence - likelihood


def creconstruct(cvae: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Conditional reconstruction."""
    center, log_variance = cvae.encoder(append_class_to_data(x, y))
    code = draw_latent(center, log_variance)
    output = cvae.decoder(append_class_to_data(code, y))
    return center, log_variance, output


def celbo(cvae: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Conditional negative ELBO."""
    center, log_variance, output = creconstruct(cvae, x, y)
    divergence = kl_divergence(center, log_variance)
    likelihood = binary_cross_entropy(output, x)
    return divergence - likelihood


def make_decoder(cfg: MNISTArgs, extra: int) -> nn.Sequential:
    """Decoder with named layers."""
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(cfg.latent_dim + extra, cfg.hidden_dim)),
        ("act1", nn.Tanh()),
        ("fc2", nn.Linear(cfg.hidden_dim, cfg.input_dim)),
        ("out", nn.Sigmoid()),
    ]))


def fit(net: nn.Module, cfg: MNISTArgs, loss_fn, inputs: torch.Tensor, labels=None) -> list:
    """One loop for both models; returns the per-epoch mean loss."""
    adam = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    losses = []
    steps = (len(inputs) + cfg.batch_size - 1) // cfg.batch_size
    epoch = 0
    while epoch < cfg.epochs:
        perm = torch.randperm(len(inputs))
        running = 0.0
        for step in range(steps):
            window = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            extra_args = () if labels is None else (labels[window],)
            value = loss_fn(net, inputs[window], *extra_args)
            adam.zero_grad()
            value.backward()
            adam.step()
            running += value.item()
        losses.append(running / steps)
        print(f"[epoch {epoch + 1} of {cfg.epochs}] mean loss {losses[-1]:.3f}")
        epoch += 1
    return losses


def train_mnist_vae(**kwargs) -> nn.Module:
    """Train a VAE."""
    cfg = MNISTArgs(**kwargs)
    if cfg.seed > 0:
        torch.manual_seed(cfg.seed)
    inputs, _ = get_mnist_data()
    net = VAE(Encoder(HiddenBlock(cfg.input_dim, cfg.hidden_dim), cfg.hidden_dim, cfg.latent_dim),
              make_decoder(cfg, 0))
    fit(net, cfg, elbo, inputs)
    return net


def train_mnist_cvae(**kwargs) -> nn.Module:
    """Train a CVAE."""
    cfg = MNISTArgs(**kwargs)
    if cfg.seed > 0:
        torch.manual_seed(cfg.seed)
    inputs, labels = get_mnist_data()
    net = CVAE(Encoder(HiddenBlock(cfg.input_dim + 10, cfg.hidden_dim), cfg.hidden_dim, cfg.latent_dim),
               make_decoder(cfg, 10))
    fit(net, cfg, celbo, inputs, labels)
    return net
