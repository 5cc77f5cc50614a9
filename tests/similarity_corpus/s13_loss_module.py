"""Losses as nn.Module classes (a VAELoss with nn.BCELoss and a KLD method), as many GitHub repos write them."""
import math


class KLDLoss(nn.Module):
    def forward(self, mean, log_var):
        return 0.5 * torch.sum(log_var.exp() + mean.pow(2) - 1 - log_var, dim=1).mean()


class BernoulliLogLikelihood(nn.Module):
    def __init__(self):
        super().__init__()
        self.bce = nn.BCELoss(reduction="none")

    def forward(self, prediction, target):
        return -self.bce(prediction, target).sum(dim=1).mean()


KLD = KLDLoss()
LOGLIK = BernoulliLogLikelihood()


def reconstruct(vae, x):
    mean, log_var = vae.encoder(x)
    eps = torch.randn(*mean.size())
    z = eps * log_var.mul(0.5).exp_() + mean
    return mean, log_var, vae.decoder(z)


def kl_divergence(mu, logvar):
    return KLD(mu, logvar)


def binary_cross_entropy(x_hat, x):
    return LOGLIK(x_hat, x)


def elbo(vae, x):
    mean, log_var, prediction = reconstruct(vae, x)
    return KLD(mean, log_var) - LOGLIK(prediction, x)


def creconstruct(cvae, x, y):
    mean, log_var = cvae.encoder(append_class_to_data(x, y))
    eps = torch.randn(*mean.size())
    z = eps * log_var.mul(0.5).exp_() + mean
    return mean, log_var, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mean, log_var, prediction = creconstruct(cvae, x, y)
    return KLD(mean, log_var) - LOGLIK(prediction, x)


class Net:
    """Builds the encoder and decoder of the layout table."""

    @staticmethod
    def encoder(args, n_in):
        return Encoder(nn.Sequential(nn.Linear(n_in, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim)

    @staticmethod
    def decoder(args, n_in):
        layers = [nn.Linear(n_in, args.hidden_dim), nn.Tanh(), nn.Linear(args.hidden_dim, args.input_dim)]
        return nn.Sequential(*layers, nn.Sigmoid())


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    net = VAE(Net.encoder(args, args.input_dim), Net.decoder(args, args.latent_dim))
    x_all = get_mnist_data()[0]
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    n_batches = math.ceil(x_all.shape[0] / args.batch_size)
    for ep in range(args.epochs):
        idx = torch.randperm(x_all.shape[0])
        for k in range(n_batches):
            xs = x_all[idx[k * args.batch_size:(k + 1) * args.batch_size]]
            opt.zero_grad()
            elbo(net, xs).backward()
            opt.step()
    return net


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    net = CVAE(Net.encoder(args, args.input_dim + 10), Net.decoder(args, args.latent_dim + 10))
    x_all, y_all = get_mnist_data()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    n_batches = math.ceil(x_all.shape[0] / args.batch_size)
    for ep in range(args.epochs):
        idx = torch.randperm(x_all.shape[0])
        for k in range(n_batches):
            sel = idx[k * args.batch_size:(k + 1) * args.batch_size]
            opt.zero_grad()
            celbo(net, x_all[sel], y_all[sel]).backward()
            opt.step()
    return net
