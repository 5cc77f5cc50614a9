"""A port of the original Julia/Flux notebook: Greek names, log-density helpers, train! with a callback."""
import math


def log_prior(z):
    return -0.5 * (z ** 2 + math.log(2 * math.pi))


def factorized_gaussian_log_density(mu, logsig, xs):
    sig = torch.exp(logsig)
    return -0.5 * math.log(2 * math.pi) - logsig - 0.5 * ((xs - mu) / sig) ** 2


def bernoulli_log_density(logit_means, x):
    b = x * 2 - 1
    return -F.softplus(-b * logit_means)


def reconstruct(vae, x):
    μ, logσ2 = vae.encoder(x)
    ε = torch.randn(μ.size(), dtype=μ.dtype)
    z = μ + ε * torch.exp(logσ2 * 0.5)
    return μ, logσ2, vae.decoder(z)


def kl_divergence(mu, logvar):
    per_dim = mu.pow(2) + logvar.exp() - logvar - 1
    return per_dim.sum(1).mean() / 2


def binary_cross_entropy(x_hat, x):
    p = x_hat.clamp(1e-7, 1 - 1e-7)
    logits = torch.log(p) - torch.log1p(-p)
    return bernoulli_log_density(logits, x).sum(1).mean()


def elbo(vae, x):
    μ, logσ2, x_rec = reconstruct(vae, x)
    return kl_divergence(μ, logσ2) - binary_cross_entropy(x_rec, x)


def batches(n, size):
    idx = torch.randperm(n)
    return [idx[k:k + size] for k in range(0, n, size)]


def train_bang(loss, model, data, opt, epochs, size, cb=None):
    for ep in range(1, epochs + 1):
        for b in batches(len(data[0]), size):
            opt.zero_grad()
            l = loss(model, *[d[b] for d in data])
            l.backward()
            opt.step()
        if cb is not None:
            cb(ep, l.item())
    return model


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    Dz, Dh, Ddata = args.latent_dim, args.hidden_dim, args.input_dim
    encoder = Encoder(nn.Sequential(nn.Linear(Ddata, Dh), nn.Tanh()), Dh, Dz)
    decoder = nn.Sequential(nn.Linear(Dz, Dh), nn.Tanh(), nn.Linear(Dh, Ddata), nn.Sigmoid())
    model = VAE(encoder, decoder)
    X, _ = get_mnist_data()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    return train_bang(elbo, model, (X,), opt, args.epochs, args.batch_size)


def creconstruct(cvae, x, y):
    μ, logσ2 = cvae.encoder(append_class_to_data(x, y))
    ε = torch.randn(μ.size(), dtype=μ.dtype)
    z = μ + ε * torch.exp(logσ2 * 0.5)
    return μ, logσ2, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    μ, logσ2, x_rec = creconstruct(cvae, x, y)
    return kl_divergence(μ, logσ2) - binary_cross_entropy(x_rec, x)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    Dz, Dh, Ddata, Dc = args.latent_dim, args.hidden_dim, args.input_dim, 10
    encoder = Encoder(nn.Sequential(nn.Linear(Ddata + Dc, Dh), nn.Tanh()), Dh, Dz)
    decoder = nn.Sequential(nn.Linear(Dz + Dc, Dh), nn.Tanh(), nn.Linear(Dh, Ddata), nn.Sigmoid())
    model = CVAE(encoder, decoder)
    X, Y = get_mnist_data()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    return train_bang(celbo, model, (X, Y), opt, args.epochs, args.batch_size)
