"""Ported from a Japanese Python tutorial (ishikawa-group/python_basic_tutorial, mnist_vae2): the
sampling written out as mu + exp(log_var / 2) * eps, loss terms as in the paper, a plain epoch loop."""


def sample_z(mu, log_var):
    # 標準正規乱数を振る
    eps = torch.randn_like(torch.exp(log_var))
    # 潜在変数の計算 μ + σ・ε
    return mu + torch.exp(log_var / 2) * eps


def reconstruct(vae, x):
    mu, log_var = vae.encoder(x)
    z = sample_z(mu, log_var)
    return mu, log_var, vae.decoder(z)


def kl_divergence(mu, logvar):
    kl = 0.5 * torch.sum(1 + logvar - mu ** 2 - torch.exp(logvar), dim=1)
    return -torch.mean(kl)


def binary_cross_entropy(x_hat, x):
    delta = 1e-7
    rec = torch.sum(x * torch.log(x_hat + delta) + (1 - x) * torch.log(1 - x_hat + delta), dim=1)
    return torch.mean(rec)


def elbo(vae, x):
    mu, log_var, y = reconstruct(vae, x)
    return kl_divergence(mu, log_var) - binary_cross_entropy(y, x)


def creconstruct(cvae, x, y):
    mu, log_var = cvae.encoder(append_class_to_data(x, y))
    z = sample_z(mu, log_var)
    return mu, log_var, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, log_var, out = creconstruct(cvae, x, y)
    return kl_divergence(mu, log_var) - binary_cross_entropy(out, x)


def build(args, extra):
    enc = Encoder(nn.Sequential(nn.Linear(args.input_dim + extra, args.hidden_dim), nn.Tanh()),
                  args.hidden_dim, args.latent_dim)
    dec = nn.Sequential(nn.Linear(args.latent_dim + extra, args.hidden_dim), nn.Tanh(),
                        nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    return enc, dec


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images, _ = get_mnist_data()
    model = VAE(*build(args, 0))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = {"loss": []}
    for epoch in range(args.epochs):
        order = torch.randperm(images.shape[0])
        for i in range(0, images.shape[0], args.batch_size):
            x = images[order[i:i + args.batch_size]]
            loss = elbo(model, x)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        print("epoch", epoch + 1, "loss", sum(history["loss"][-10:]) / 10)
    return model


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images, labels = get_mnist_data()
    model = CVAE(*build(args, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = {"loss": []}
    for epoch in range(args.epochs):
        order = torch.randperm(images.shape[0])
        for i in range(0, images.shape[0], args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = celbo(model, images[idx], labels[idx])
            model.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        print("epoch", epoch + 1, "loss", sum(history["loss"][-10:]) / 10)
    return model
