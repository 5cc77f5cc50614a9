"""Ported from a YouTube-tutorial style script (BreadxPeat/Deep-Learning-based-AD-detection train.py):
the encoder's spread used as sigma, KL from log(sigma^2), nn.BCELoss as a module, a tqdm loop over
enumerate with set_postfix, one train(num_epochs, model, optimizer, loss_fn) for both models."""
from tqdm import tqdm

BCE_SUM = nn.BCELoss(reduction="sum")


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    sigma = torch.exp(logvar / 2)
    epsilon = torch.randn_like(sigma)
    z_reparametrized = mu + sigma * epsilon
    return mu, logvar, vae.decoder(z_reparametrized)


def kl_divergence(mu, logvar):
    sigma = torch.exp(logvar / 2)
    kl_div = -0.5 * torch.sum(1 + torch.log(sigma.pow(2)) - mu.pow(2) - sigma.pow(2))
    return kl_div / mu.shape[0]


def binary_cross_entropy(x_hat, x):
    return -BCE_SUM(x_hat, x) / x.shape[0]


def elbo(vae, x):
    mu, logvar, x_reconst = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_reconst, x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    sigma = torch.exp(logvar / 2)
    z_reparametrized = mu + sigma * torch.randn_like(sigma)
    return mu, logvar, cvae.decoder(append_class_to_data(z_reparametrized, y))


def celbo(cvae, x, y):
    mu, logvar, x_reconst = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_reconst, x)


def train(num_epochs, model, optimizer, loss_fn, train_loader):
    # Start training
    for epoch in range(num_epochs):
        loop = tqdm(enumerate(train_loader), disable=True)
        for i, batch in loop:
            # Backprop and optimize
            loss = loss_fn(model, *batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loop.set_postfix(loss=loss.item())
    return model


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    x, _ = get_mnist_data()
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=args.batch_size,
                                               shuffle=True)
    encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                      args.latent_dim)
    decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    model = VAE(encoder, decoder)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    return train(args.epochs, model, optimizer, elbo, train_loader)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    x, y = get_mnist_data()
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=args.batch_size,
                                               shuffle=True)
    encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim + 10, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                      args.latent_dim)
    decoder = nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    model = CVAE(encoder, decoder)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    return train(args.epochs, model, optimizer, celbo, train_loader)
