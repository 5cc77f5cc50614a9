"""Ported from Agustinus Kristiadi's blog post "Variational Autoencoder: Intuition and Implementation"
(wiseodd/generative-models, VAE/vanilla_vae/vae_pytorch.py): Q(X) and P(z) as functions, sample_z,
iterations over random minibatches instead of epochs, gradients zeroed parameter by parameter."""
mb_size = 128


def Q(vae, X):
    return vae.encoder(X)


def P(vae, z):
    return vae.decoder(z)


def sample_z(mu, log_var):
    eps = torch.randn(mu.shape[0], mu.shape[1])
    return mu + torch.exp(log_var / 2) * eps


def reconstruct(vae, x):
    z_mu, z_var = Q(vae, x)
    z = sample_z(z_mu, z_var)
    return z_mu, z_var, P(vae, z)


def kl_divergence(mu, logvar):
    return torch.mean(0.5 * torch.sum(torch.exp(logvar) + mu**2 - 1. - logvar, 1))


def binary_cross_entropy(x_hat, x):
    return -F.binary_cross_entropy(x_hat, x, reduction='sum') / x.shape[0]


def elbo(vae, x):
    z_mu, z_var, X_sample = reconstruct(vae, x)
    return kl_divergence(z_mu, z_var) - binary_cross_entropy(X_sample, x)


def creconstruct(cvae, x, y):
    z_mu, z_var = Q(cvae, append_class_to_data(x, y))
    z = sample_z(z_mu, z_var)
    return z_mu, z_var, P(cvae, append_class_to_data(z, y))


def celbo(cvae, x, y):
    z_mu, z_var, X_sample = creconstruct(cvae, x, y)
    return kl_divergence(z_mu, z_var) - binary_cross_entropy(X_sample, x)


def next_batch(X, Y, size):
    idx = torch.randint(0, X.shape[0], (size,))
    return X[idx], Y[idx]


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X_all, Y_all = get_mnist_data()
    vae = VAE(Encoder(nn.Sequential(nn.Linear(784, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim),
              nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, 784), nn.Sigmoid()))
    params = list(vae.parameters())
    solver = torch.optim.Adam(params, lr=args.lr)
    for it in range(args.epochs * X_all.shape[0] // args.batch_size):
        X, _ = next_batch(X_all, Y_all, args.batch_size)
        loss = elbo(vae, X)
        loss.backward()
        solver.step()
        for p in params:
            p.grad.data.zero_()
        if it % 1000 == 0:
            print('Iter-{}; Loss: {:.4}'.format(it, loss.item()))
    return vae


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X_all, Y_all = get_mnist_data()
    cvae = CVAE(Encoder(nn.Sequential(nn.Linear(784 + 10, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                        args.latent_dim),
                nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                              nn.Linear(args.hidden_dim, 784), nn.Sigmoid()))
    params = list(cvae.parameters())
    solver = torch.optim.Adam(params, lr=args.lr)
    for it in range(args.epochs * X_all.shape[0] // args.batch_size):
        X, c = next_batch(X_all, Y_all, args.batch_size)
        loss = celbo(cvae, X, c)
        loss.backward()
        solver.step()
        for p in params:
            p.grad.data.zero_()
        if it % 1000 == 0:
            print('Iter-{}; Loss: {:.4}'.format(it, loss.item()))
    return cvae
