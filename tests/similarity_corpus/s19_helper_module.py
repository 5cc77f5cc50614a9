"""Ported from a "helper functions for the VAE implementation" module (VAE_config, tab-indented in the
original): loss_function with a comment per term, train(model, optimizer, epoch) with a docstring."""
INPUT_SIZE = 784


def loss_function(recon_x, x, mu, logvar):
    """defines loss of the VAE using combined terms of reconstruction
    and KL divergence"""
    # get the reconstruction loss
    recon = F.binary_cross_entropy(recon_x, x.view(-1, INPUT_SIZE), reduction='sum')
    # get KL loss - tells you how close latent vector is to unit gaussian
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return recon, KLD


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    z = mu + torch.randn_like(mu) * torch.exp(logvar * 0.5)
    return mu, logvar, vae.decoder(z)


def kl_divergence(mu, logvar):
    return loss_function(torch.full((len(mu), INPUT_SIZE), 0.5), torch.zeros(len(mu), INPUT_SIZE), mu, logvar)[1] / len(mu)


def binary_cross_entropy(x_hat, x):
    return -F.binary_cross_entropy(x_hat, x, reduction='sum') / len(x)


def elbo(vae, x):
    mu, logvar, recon_x = reconstruct(vae, x)
    recon, KLD = loss_function(recon_x, x, mu, logvar)
    return (recon + KLD) / len(x)


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    z = mu + torch.randn_like(mu) * torch.exp(logvar * 0.5)
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, logvar, recon_x = creconstruct(cvae, x, y)
    recon, KLD = loss_function(recon_x, x, mu, logvar)
    return (recon + KLD) / len(x)


def train(model, optimizer, epoch, batches, objective):
    """run training on the VAE

    model: the model to train; optimizer: its optimiser; epoch: the epoch number (for the log)
    """
    model.train()
    train_loss = 0
    for batch in batches:
        optimizer.zero_grad()
        loss = objective(model, *batch)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / max(1, len(batches))


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    vae = VAE(Encoder(nn.Sequential(nn.Linear(INPUT_SIZE, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim),
              nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                            nn.Linear(args.hidden_dim, INPUT_SIZE), nn.Sigmoid()))
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(X))
        batches = [(X[perm[i:i + args.batch_size]],) for i in range(0, len(X), args.batch_size)]
        train(vae, optimizer, epoch, batches, elbo)
    return vae


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    cvae = CVAE(Encoder(nn.Sequential(nn.Linear(INPUT_SIZE + 10, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                        args.latent_dim),
                nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                              nn.Linear(args.hidden_dim, INPUT_SIZE), nn.Sigmoid()))
    optimizer = torch.optim.Adam(cvae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(X))
        batches = [(X[perm[i:i + args.batch_size]], Y[perm[i:i + args.batch_size]])
                   for i in range(0, len(X), args.batch_size)]
        train(cvae, optimizer, epoch, batches, celbo)
    return cvae
