"""Object-oriented: a Trainer class holding the optimiser, a factory for both models."""


class Trainer:
    """Runs Adam over shuffled minibatches of some tensors for a number of epochs."""

    def __init__(self, model, loss_fn, lr):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.losses = []

    def step(self, *batch):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model, *batch)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def fit(self, tensors, epochs, batch_size):
        dataset = torch.utils.data.TensorDataset(*tensors)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
        for _ in range(epochs):
            self.losses.append(torch.stack([self.step(*batch) for batch in loader]).mean().item())
        return self.model


class ModelFactory:
    def __init__(self, args):
        self.args = args

    def encoder(self, conditional):
        width = self.args.input_dim + (10 if conditional else 0)
        body = nn.Sequential(nn.Linear(width, self.args.hidden_dim), nn.Tanh())
        return Encoder(body, self.args.hidden_dim, self.args.latent_dim)

    def decoder(self, conditional):
        width = self.args.latent_dim + (10 if conditional else 0)
        return nn.Sequential(nn.Linear(width, self.args.hidden_dim), nn.Tanh(),
                             nn.Linear(self.args.hidden_dim, self.args.input_dim), nn.Sigmoid())

    def make(self, conditional=False):
        cls = CVAE if conditional else VAE
        return cls(self.encoder(conditional), self.decoder(conditional))


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    z = mu + torch.randn_like(logvar) * (0.5 * logvar).exp()
    return mu, logvar, vae.decoder(z)


def kl_divergence(mu, logvar):
    return torch.mean(0.5 * torch.sum(torch.square(mu) + torch.exp(logvar) - 1.0 - logvar, axis=1))


def binary_cross_entropy(x_hat, x):
    return torch.mean(torch.sum(torch.xlogy(x, x_hat) + torch.xlogy(1 - x, 1 - x_hat), axis=1))


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    z = mu + torch.randn_like(logvar) * (0.5 * logvar).exp()
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    trainer = Trainer(ModelFactory(args).make(), elbo, args.lr)
    return trainer.fit(get_mnist_data()[:1], args.epochs, args.batch_size)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    trainer = Trainer(ModelFactory(args).make(conditional=True), celbo, args.lr)
    return trainer.fit(get_mnist_data(), args.epochs, args.batch_size)
