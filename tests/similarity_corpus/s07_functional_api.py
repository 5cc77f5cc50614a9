"""Leans on torch.nn.functional and one generic training function taking a batch sampler."""


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    sigma = logvar.mul(0.5).exp()
    noise = torch.empty_like(sigma).normal_()
    return mu, logvar, vae.decoder(noise.mul(sigma).add(mu))


def kl_divergence(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1).mean()


def binary_cross_entropy(x_hat, x):
    per_pixel = F.binary_cross_entropy(x_hat, x, reduction="none")
    return -per_pixel.sum(dim=-1).mean()


def elbo(vae, x):
    out = reconstruct(vae, x)
    return kl_divergence(*out[:2]) - binary_cross_entropy(out[2], x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    sigma = logvar.mul(0.5).exp()
    noise = torch.empty_like(sigma).normal_()
    return mu, logvar, cvae.decoder(append_class_to_data(noise.mul(sigma).add(mu), y))


def celbo(cvae, x, y):
    out = creconstruct(cvae, x, y)
    return kl_divergence(*out[:2]) - binary_cross_entropy(out[2], x)


def minibatches(n, batch_size):
    order = torch.randperm(n)
    start = 0
    while start < n:
        yield order[start:start + batch_size]
        start += batch_size


def optimise(model, objective, args, *tensors):
    adam = torch.optim.Adam(params=model.parameters(), lr=args.lr)
    for _ in range(args.epochs):
        for rows in minibatches(tensors[0].shape[0], args.batch_size):
            adam.zero_grad(set_to_none=True)
            value = objective(model, *(t[rows] for t in tensors))
            value.backward()
            adam.step()
    return model


def mlp(sizes, activations):
    layers = []
    for (a, b), act in zip(zip(sizes[:-1], sizes[1:]), activations):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    model = VAE(Encoder(mlp([args.input_dim, args.hidden_dim], [nn.Tanh]), args.hidden_dim, args.latent_dim),
                mlp([args.latent_dim, args.hidden_dim, args.input_dim], [nn.Tanh, nn.Sigmoid]))
    images, _ = get_mnist_data()
    return optimise(model, elbo, args, images)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    model = CVAE(Encoder(mlp([args.input_dim + 10, args.hidden_dim], [nn.Tanh]), args.hidden_dim,
                         args.latent_dim),
                 mlp([args.latent_dim + 10, args.hidden_dim, args.input_dim], [nn.Tanh, nn.Sigmoid]))
    images, labels = get_mnist_data()
    return optimise(model, celbo, args, images, labels)
