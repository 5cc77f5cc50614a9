"""torch.distributions throughout: Normal posterior with rsample, analytic KL, Bernoulli log_prob."""
import torch.distributions as D


def posterior(mu, logvar):
    return D.Normal(mu, (logvar / 2).exp())


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    q = posterior(mu, logvar)
    return mu, logvar, vae.decoder(q.rsample())


def kl_divergence(mu, logvar):
    q = posterior(mu, logvar)
    prior = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return D.kl_divergence(q, prior).sum(-1).mean()


def binary_cross_entropy(x_hat, x):
    likelihood = D.Bernoulli(probs=x_hat)
    return likelihood.log_prob(x).sum(-1).mean()


def elbo(vae, x):
    stats = reconstruct(vae, x)
    return kl_divergence(stats[0], stats[1]) - binary_cross_entropy(stats[2], x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    h = posterior(mu, logvar).rsample()
    return mu, logvar, cvae.decoder(append_class_to_data(h, y))


def celbo(cvae, x, y):
    stats = creconstruct(cvae, x, y)
    return kl_divergence(stats[0], stats[1]) - binary_cross_entropy(stats[2], x)


def _layers(n_in, n_hidden, n_out):
    return [nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_out)]


def _fit(model, tensors, objective, args):
    optimizer = torch.optim.Adam(model.parameters(), args.lr)
    n = tensors[0].size(0)
    for _ in range(args.epochs):
        order = torch.randperm(n)
        for chunk in order.split(args.batch_size):
            optimizer.zero_grad()
            objective(model, *[t[chunk] for t in tensors]).backward()
            optimizer.step()
    return model


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images = get_mnist_data()[0]
    first, *_ = _layers(args.input_dim, args.hidden_dim, args.latent_dim)
    model = VAE(Encoder(nn.Sequential(first, nn.Tanh()), args.hidden_dim, args.latent_dim),
                nn.Sequential(*_layers(args.latent_dim, args.hidden_dim, args.input_dim), nn.Sigmoid()))
    return _fit(model, [images], elbo, args)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images, digits = get_mnist_data()
    first, *_ = _layers(args.input_dim + 10, args.hidden_dim, args.latent_dim)
    model = CVAE(Encoder(nn.Sequential(first, nn.Tanh()), args.hidden_dim, args.latent_dim),
                 nn.Sequential(*_layers(args.latent_dim + 10, args.hidden_dim, args.input_dim), nn.Sigmoid()))
    return _fit(model, [images, digits], celbo, args)
