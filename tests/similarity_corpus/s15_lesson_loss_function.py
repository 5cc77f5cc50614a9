"""Ported from a generative-AI course lesson (martinyanev94/generative-ai-projects, Lesson 17): one
loss_function with BCE + KLD summed, a DataLoader, an f-string print per epoch."""


def loss_function(recon_x, x, mu, logvar):
    BCE = nn.functional.binary_cross_entropy(recon_x, x.view(-1, 28 * 28), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    return mu, logvar, vae.decoder(z)


def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(mu)


def binary_cross_entropy(x_hat, x):
    return -nn.functional.binary_cross_entropy(x_hat, x.view(-1, 28 * 28), reduction='sum') / len(x)


def elbo(vae, x):
    mu, logvar, recon = reconstruct(vae, x)
    return loss_function(recon, x, mu, logvar) / len(x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, logvar, recon = creconstruct(cvae, x, y)
    return loss_function(recon, x, mu, logvar) / len(x)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    train_loader = torch.utils.data.DataLoader(X, batch_size=args.batch_size, shuffle=True)
    model = VAE(Encoder(nn.Sequential(nn.Linear(784, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim),
                nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                              nn.Linear(args.hidden_dim, 784), nn.Sigmoid()))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch_idx, data in enumerate(train_loader):
            optimizer.zero_grad()
            loss = elbo(model, data)
            loss.backward()
            optimizer.step()
        print(f'Epoch {epoch}, Loss: {loss.item()}')
    return model


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=args.batch_size,
                                               shuffle=True)
    model = CVAE(Encoder(nn.Sequential(nn.Linear(784 + 10, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                         args.latent_dim),
                 nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                               nn.Linear(args.hidden_dim, 784), nn.Sigmoid()))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch_idx, (data, labels) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = celbo(model, data, labels)
            loss.backward()
            optimizer.step()
        print(f'Epoch {epoch}, Loss: {loss.item()}')
    return model
