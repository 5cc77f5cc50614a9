"""Ported from pytorch/examples' vae/main.py: a loss_function, DataLoader, train(epoch) with logging."""
from torch import optim
from torch.utils.data import DataLoader, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
log_interval = 10


def reparameterize(mu, logvar):
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    return mu + eps * std


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x.view(-1, 784))
    z = reparameterize(mu, logvar)
    return mu, logvar, vae.decoder(z)


def kl_divergence(mu, logvar):
    # see Appendix B from VAE paper: Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return KLD / mu.size(0)


def binary_cross_entropy(x_hat, x):
    BCE = F.binary_cross_entropy(x_hat, x.view(-1, 784), reduction='sum')
    return -BCE / x.size(0)


def elbo(vae, x):
    mu, logvar, recon_batch = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(recon_batch, x)


def make_vae(args, cond=0):
    enc = Encoder(nn.Sequential(nn.Linear(784 + cond, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                  args.latent_dim)
    dec = nn.Sequential(nn.Linear(args.latent_dim + cond, args.hidden_dim), nn.Tanh(),
                        nn.Linear(args.hidden_dim, 784), nn.Sigmoid())
    return (CVAE if cond else VAE)(enc, dec).to(device)


def train(model, optimizer, train_loader, epoch, loss_fn):
    model.train()
    train_loss = 0
    for batch_idx, batch in enumerate(train_loader):
        batch = [t.to(device) for t in batch]
        optimizer.zero_grad()
        loss = loss_fn(model, *batch)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print('Train Epoch: {} [{}/{}]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(batch[0]), len(train_loader.dataset), loss.item()))
    print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader)))


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    data, _ = get_mnist_data()
    train_loader = DataLoader(TensorDataset(data), batch_size=args.batch_size, shuffle=True)
    model = make_vae(args)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        train(model, optimizer, train_loader, epoch, elbo)
    return model


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x.view(-1, 784), y))
    z = reparameterize(mu, logvar)
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, logvar, recon_batch = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(recon_batch, x)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    data, labels = get_mnist_data()
    train_loader = DataLoader(TensorDataset(data, labels), batch_size=args.batch_size, shuffle=True)
    model = make_vae(args, cond=10)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        train(model, optimizer, train_loader, epoch, celbo)
    return model
