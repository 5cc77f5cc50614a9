"""Close to the course's own style: helpers for the model and a shuffled minibatch loop."""


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    x_hat = vae.decoder(z)
    return mu, logvar, x_hat


def kl_divergence(mu, logvar):
    kl_per_row = 0.5 * torch.sum(mu ** 2 + torch.exp(logvar) - logvar - 1, dim=1)
    return kl_per_row.mean()


def binary_cross_entropy(x_hat, x):
    loglik = x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)
    return loglik.sum(dim=1).mean()


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def build_model(model_class, args, extra=0):
    features = nn.Sequential(nn.Linear(args.input_dim + extra, args.hidden_dim), nn.Tanh())
    encoder = Encoder(features, args.hidden_dim, args.latent_dim)
    decoder = nn.Sequential(nn.Linear(args.latent_dim + extra, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    return model_class(encoder, decoder)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    vae = build_model(VAE, args)
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], args.batch_size):
            batch = X[perm[i:i + args.batch_size]]
            loss = elbo(vae, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return vae


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    x_hat = cvae.decoder(append_class_to_data(z, y))
    return mu, logvar, x_hat


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    cvae = build_model(CVAE, args, extra=10)
    opt = torch.optim.Adam(cvae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = celbo(cvae, X[idx], Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return cvae
