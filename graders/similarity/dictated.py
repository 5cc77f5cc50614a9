"""Code the contract dictates: lines every honest student writes the same way, subtracted like the template.

The layout table (contract section 2) and the conventions column (section 3)
spell out some statements nearly token for token: how to encode and sample,
``elbo`` as ``kl_divergence - binary_cross_entropy`` of one reconstruction, the
``nn.Sequential`` layers, seeding, the optimiser step. Two honest students
sharing these prove nothing, and in a small batch the "shared by a large share"
rule (``index.BOILERPLATE_SHARE``) cannot see that, so their k-grams are
removed from every file. Names are abstracted by the tokeniser, so the names
used here do not matter.
"""

SNIPPETS = [
    # reconstruct / creconstruct, as the conventions column writes them
    """
def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x_hat = vae.decoder(z)
    return mu, logvar, x_hat
""",
    """
def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    z = mu + eps * std
    return mu, logvar, vae.decoder(z)
""",
    """
def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x_hat = cvae.decoder(append_class_to_data(z, y))
    return mu, logvar, x_hat
""",
    # elbo / celbo: the contract's formula on one reconstruction
    """
def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)
""",
    """
def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)
""",
    # the closed forms
    """
def kl_divergence(mu, logvar):
    return 0.5 * torch.sum(mu ** 2 + torch.exp(logvar) - logvar - 1, dim=1).mean()
""",
    """
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
""",
    """
def binary_cross_entropy(x_hat, x):
    return torch.sum(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat), dim=1).mean()
""",
    # training: the arguments, the seed, the layout table, Adam and one step
    """
def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim)
    decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(), nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    vae = VAE(encoder, decoder)
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        for batch in batches:
            optimizer.zero_grad()
            loss = elbo(vae, batch)
            loss.backward()
            optimizer.step()
    return vae
""",
    """
def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim + 10, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim)
    decoder = nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(), nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
    cvae = CVAE(encoder, decoder)
    optimizer = torch.optim.Adam(cvae.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        for x, y in batches:
            loss = celbo(cvae, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return cvae
""",
]


# Comments and strings of well-known public code that honest students copy from the same place
# (pytorch/examples vae/main.py, the most common starting point): never evidence that two students
# copied from each other, however few of the batch hold them.
PUBLIC_TEXTS = [
    "Reconstruction + KL divergence losses summed over all elements and batch",
    "see Appendix B from VAE paper:",
    "Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014",
    "https://arxiv.org/abs/1312.6114",
    "0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)",
    "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}",
    "====> Epoch: {} Average loss: {:.4f}",
    "====> Test set loss: {:.4f}",
    "VAE MNIST Example",
    "input batch size for training (default: 128)",
    "number of epochs to train (default: 10)",
    "enables macOS GPU training",
    "disables CUDA training",
    "random seed (default: 1)",
    "how many batches to wait before logging training status",
]


# pytorch/examples vae/main.py written as the homework's functions, the way many honest students adapt
# it: public code, so what two students share with it is no evidence that they copied from each other.
PUBLIC_SNIPPETS = [
    """
def reconstruct(vae, x):
    mu, logvar = vae.encoder(x.view(-1, 784))
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    z = mu + eps * std
    return mu, logvar, vae.decoder(z)
""",
    """
def kl_divergence(mu, logvar):
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return KLD / mu.size(0)
""",
    """
def binary_cross_entropy(x_hat, x):
    BCE = F.binary_cross_entropy(x_hat, x.view(-1, 784), reduction='sum')
    return -BCE / x.size(0)
""",
    """
def elbo(vae, x):
    mu, logvar, recon_batch = reconstruct(vae, x)
    BCE = F.binary_cross_entropy(recon_batch, x.view(-1, 784), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (BCE + KLD) / x.size(0)
""",
    """
def celbo(cvae, x, y):
    mu, logvar, recon_batch = creconstruct(cvae, x, y)
    BCE = F.binary_cross_entropy(recon_batch, x.view(-1, 784), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (BCE + KLD) / x.size(0)
""",
    """
def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    torch.manual_seed(args.seed)
    model = VAE(encoder, decoder).to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            loss = elbo(model, data)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print(epoch, batch_idx * len(data), len(train_loader.dataset), loss.item() / len(data))
    return model
""",
]
