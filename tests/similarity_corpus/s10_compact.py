"""Terse: one-line functions, a lambda-built sampler, a shared loop over a DataLoader with a generator."""
from torch.utils.data import DataLoader, TensorDataset

sample = lambda mu, logvar: mu + torch.randn_like(mu) * logvar.div(2).exp()


def reconstruct(vae, x):
    return (*(stats := vae.encoder(x)), vae.decoder(sample(*stats)))


def kl_divergence(mu, logvar):
    return (mu.square() + logvar.exp() - 1 - logvar).sum(1).mean().mul(0.5)


def binary_cross_entropy(x_hat, x):
    return (x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(1).mean()


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    return mu, logvar, cvae.decoder(append_class_to_data(sample(mu, logvar), y))


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def _net(a, h, l, c):
    return (Encoder(nn.Sequential(nn.Linear(a + c, h), nn.Tanh()), h, l),
            nn.Sequential(nn.Linear(l + c, h), nn.Tanh(), nn.Linear(h, a), nn.Sigmoid()))


def _run(model, loss, ds, a):
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    for _ in range(a.epochs):
        for b in DataLoader(ds, a.batch_size, shuffle=True):
            opt.zero_grad(); loss(model, *b).backward(); opt.step()
    return model


def train_mnist_vae(**kwargs):
    a = MNISTArgs(**kwargs)
    a.seed > 0 and torch.manual_seed(a.seed)
    return _run(VAE(*_net(a.input_dim, a.hidden_dim, a.latent_dim, 0)), elbo,
                TensorDataset(get_mnist_data()[0]), a)


def train_mnist_cvae(**kwargs):
    a = MNISTArgs(**kwargs)
    a.seed > 0 and torch.manual_seed(a.seed)
    return _run(CVAE(*_net(a.input_dim, a.hidden_dim, a.latent_dim, 10)), celbo,
                TensorDataset(*get_mnist_data()), a)
