"""Rewrite of s02_pytorch_examples with the training helper train(...) inlined into both trainers
(and make_vae and reparameterize inlined too), type hints added, names changed, logging kept."""
from torch import optim
from torch.utils.data import DataLoader, TensorDataset

run_on = torch.device("cuda" if torch.cuda.is_available() else "cpu")
report_every = 10


def reconstruct(vae, x):
    mean, log_variance = vae.encoder(x.view(-1, 784))
    spread = torch.exp(0.5 * log_variance)
    noise = torch.randn_like(spread)
    return mean, log_variance, vae.decoder(mean + noise * spread)


def kl_divergence(mu, logvar):
    divergence = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return divergence / mu.size(0)


def binary_cross_entropy(x_hat, x):
    cross = F.binary_cross_entropy(x_hat, x.view(-1, 784), reduction='sum')
    return -cross / x.size(0)


def elbo(vae, x):
    mean, log_variance, decoded = reconstruct(vae, x)
    return kl_divergence(mean, log_variance) - binary_cross_entropy(decoded, x)


def creconstruct(cvae, x, y):
    mean, log_variance = cvae.encoder(append_class_to_data(x.view(-1, 784), y))
    spread = torch.exp(0.5 * log_variance)
    noise = torch.randn_like(spread)
    return mean, log_variance, cvae.decoder(append_class_to_data(mean + noise * spread, y))


def celbo(cvae, x, y):
    mean, log_variance, decoded = creconstruct(cvae, x, y)
    return kl_divergence(mean, log_variance) - binary_cross_entropy(decoded, x)


def train_mnist_vae(**kwargs) -> nn.Module:
    opts = MNISTArgs(**kwargs)
    if opts.seed > 0:
        torch.manual_seed(opts.seed)
    images, _ = get_mnist_data()
    loader = DataLoader(TensorDataset(images), batch_size=opts.batch_size, shuffle=True)
    encoder = Encoder(nn.Sequential(nn.Linear(784, opts.hidden_dim), nn.Tanh()), opts.hidden_dim, opts.latent_dim)
    decoder = nn.Sequential(nn.Linear(opts.latent_dim, opts.hidden_dim), nn.Tanh(),
                            nn.Linear(opts.hidden_dim, 784), nn.Sigmoid())
    net = VAE(encoder, decoder).to(run_on)
    adam = optim.Adam(net.parameters(), lr=opts.lr)
    for ep in range(1, opts.epochs + 1):
        net.train()
        total = 0
        for step, tensors in enumerate(loader):
            tensors = [t.to(run_on) for t in tensors]
            adam.zero_grad()
            value = elbo(net, *tensors)
            value.backward()
            total += value.item()
            adam.step()
            if step % report_every == 0:
                print('Train Epoch: {} [{}/{}]\tLoss: {:.6f}'.format(
                    ep, step * len(tensors[0]), len(loader.dataset), value.item()))
        print('====> Epoch: {} Average loss: {:.4f}'.format(ep, total / len(loader)))
    return net


def train_mnist_cvae(**kwargs) -> nn.Module:
    opts = MNISTArgs(**kwargs)
    if opts.seed > 0:
        torch.manual_seed(opts.seed)
    images, digits = get_mnist_data()
    loader = DataLoader(TensorDataset(images, digits), batch_size=opts.batch_size, shuffle=True)
    encoder = Encoder(nn.Sequential(nn.Linear(784 + 10, opts.hidden_dim), nn.Tanh()), opts.hidden_dim,
                      opts.latent_dim)
    decoder = nn.Sequential(nn.Linear(opts.latent_dim + 10, opts.hidden_dim), nn.Tanh(),
                            nn.Linear(opts.hidden_dim, 784), nn.Sigmoid())
    net = CVAE(encoder, decoder).to(run_on)
    adam = optim.Adam(net.parameters(), lr=opts.lr)
    for ep in range(1, opts.epochs + 1):
        net.train()
        total = 0
        for step, tensors in enumerate(loader):
            tensors = [t.to(run_on) for t in tensors]
            adam.zero_grad()
            value = celbo(net, *tensors)
            value.backward()
            total += value.item()
            adam.step()
            if step % report_every == 0:
                print('Train Epoch: {} [{}/{}]\tLoss: {:.6f}'.format(
                    ep, step * len(tensors[0]), len(loader.dataset), value.item()))
        print('====> Epoch: {} Average loss: {:.4f}'.format(ep, total / len(loader)))
    return net
