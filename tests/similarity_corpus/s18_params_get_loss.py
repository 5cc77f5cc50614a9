"""Ported from a small repository with a Params object and model.get_loss (a main() with loss_sum and cnt
per epoch): here the loss is a function of the model, the averages kept in a list."""


def reconstruct(vae, x):
    mean, log_var = vae.encoder(x)
    noise = torch.normal(torch.zeros_like(mean), torch.ones_like(mean))
    z = mean + noise * torch.exp(log_var) ** 0.5
    return mean, log_var, vae.decoder(z)


def kl_divergence(mu, logvar):
    per_sample = (torch.exp(logvar) + mu * mu - 1 - logvar).sum(-1) / 2
    return per_sample.mean()


def binary_cross_entropy(x_hat, x):
    x_hat = x_hat.clamp(1e-6, 1 - 1e-6)
    return (x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(-1).mean()


def elbo(vae, x):
    mean, log_var, x_hat = reconstruct(vae, x)
    return kl_divergence(mean, log_var) - binary_cross_entropy(x_hat, x)


def creconstruct(cvae, x, y):
    mean, log_var = cvae.encoder(append_class_to_data(x, y))
    noise = torch.normal(torch.zeros_like(mean), torch.ones_like(mean))
    z = mean + noise * torch.exp(log_var) ** 0.5
    return mean, log_var, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mean, log_var, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mean, log_var) - binary_cross_entropy(x_hat, x)


def train_mnist_vae(**kwargs):
    params = MNISTArgs(**kwargs)
    if params.seed > 0:
        torch.manual_seed(params.seed)
    X, _ = get_mnist_data()
    dataloader = torch.utils.data.DataLoader(X, batch_size=params.batch_size, shuffle=True)
    model = VAE(Encoder(nn.Sequential(nn.Linear(params.input_dim, params.hidden_dim), nn.Tanh()),
                        params.hidden_dim, params.latent_dim),
                nn.Sequential(nn.Linear(params.latent_dim, params.hidden_dim), nn.Tanh(),
                              nn.Linear(params.hidden_dim, params.input_dim), nn.Sigmoid()))
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr)
    losses = []
    for epoch in range(params.epochs):
        loss_sum = 0.0
        cnt = 0
        for x in dataloader:
            optimizer.zero_grad()
            loss = elbo(model, x)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            cnt += 1
        losses.append(loss_sum / cnt)
    return model


def train_mnist_cvae(**kwargs):
    params = MNISTArgs(**kwargs)
    if params.seed > 0:
        torch.manual_seed(params.seed)
    X, Y = get_mnist_data()
    dataloader = torch.utils.data.DataLoader(list(zip(X, Y)), batch_size=params.batch_size, shuffle=True)
    model = CVAE(Encoder(nn.Sequential(nn.Linear(params.input_dim + 10, params.hidden_dim), nn.Tanh()),
                         params.hidden_dim, params.latent_dim),
                 nn.Sequential(nn.Linear(params.latent_dim + 10, params.hidden_dim), nn.Tanh(),
                               nn.Linear(params.hidden_dim, params.input_dim), nn.Sigmoid()))
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr)
    losses = []
    for epoch in range(params.epochs):
        loss_sum = 0.0
        cnt = 0
        for x, label in dataloader:
            optimizer.zero_grad()
            loss = celbo(model, x, label)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            cnt += 1
        losses.append(loss_sum / cnt)
    return model
