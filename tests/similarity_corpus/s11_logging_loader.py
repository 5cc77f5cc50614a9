"""Uses logging, a DataLoader with a seeded generator, summed F.binary_cross_entropy and tuple unpacking of batches."""
import logging
from torch.utils.data import DataLoader, TensorDataset

logger = logging.getLogger("a4")
N_CLASSES = 10


def _draw(mu, logvar):
    return torch.addcmul(mu, torch.exp(0.5 * logvar), torch.randn_like(mu))


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    return mu, logvar, vae.decoder(_draw(mu, logvar))


def kl_divergence(mu, logvar):
    n = len(mu)
    return torch.sum(mu.pow(2) + logvar.exp() - logvar - 1) / (2 * n)


def binary_cross_entropy(x_hat, x):
    return -F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    return mu, logvar, cvae.decoder(append_class_to_data(_draw(mu, logvar), y))


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    loader = DataLoader(TensorDataset(X), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(max(args.seed, 0)))
    vae = VAE(Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()),
                      args.hidden_dim, args.latent_dim),
              nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()))
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        running, seen = 0.0, 0
        for (xb,) in loader:
            loss = elbo(vae, xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item() * len(xb)
            seen += len(xb)
        logger.info("vae epoch %d loss %.2f", epoch, running / seen)
    return vae


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    loader = DataLoader(TensorDataset(X, Y), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(max(args.seed, 0)))
    cvae = CVAE(Encoder(nn.Sequential(nn.Linear(args.input_dim + N_CLASSES, args.hidden_dim), nn.Tanh()),
                        args.hidden_dim, args.latent_dim),
                nn.Sequential(nn.Linear(args.latent_dim + N_CLASSES, args.hidden_dim), nn.Tanh(),
                              nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()))
    optimizer = torch.optim.Adam(cvae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        running, seen = 0.0, 0
        for xb, yb in loader:
            loss = celbo(cvae, xb, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item() * len(xb)
            seen += len(xb)
        logger.info("cvae epoch %d loss %.2f", epoch, running / seen)
    return cvae
