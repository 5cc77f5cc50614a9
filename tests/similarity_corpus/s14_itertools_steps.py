"""Counts optimiser steps instead of epochs: an endless shuffled stream of batches cut with itertools.islice."""
import itertools


def reconstruct(vae, x):
    loc, log_scale2 = vae.encoder(x)
    scale = torch.exp(log_scale2).sqrt()
    code = torch.randn_like(loc).mul(scale).add(loc)
    return loc, log_scale2, vae.decoder(code)


def kl_divergence(mu, logvar):
    terms = torch.stack([mu.square(), logvar.exp(), -logvar, -torch.ones_like(mu)]).sum(0)
    return terms.sum(1).mean() / 2


def binary_cross_entropy(x_hat, x):
    eps = torch.finfo(x_hat.dtype).eps
    p = x_hat.clamp(eps, 1 - eps)
    return (torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).sum(1).mean()


def elbo(vae, x):
    loc, log_scale2, out = reconstruct(vae, x)
    return kl_divergence(loc, log_scale2) - binary_cross_entropy(out, x)


def creconstruct(cvae, x, y):
    loc, log_scale2 = cvae.encoder(append_class_to_data(x, y))
    code = torch.randn_like(loc).mul(torch.exp(log_scale2).sqrt()).add(loc)
    return loc, log_scale2, cvae.decoder(append_class_to_data(code, y))


def celbo(cvae, x, y):
    loc, log_scale2, out = creconstruct(cvae, x, y)
    return kl_divergence(loc, log_scale2) - binary_cross_entropy(out, x)


def batch_stream(count, size):
    """Index batches forever; one pass over the data per shuffle."""
    while True:
        yield from torch.randperm(count).split(size)


def steps_for(count, args):
    return args.epochs * -(-count // args.batch_size)


def networks(args, c):
    h, z, d = args.hidden_dim, args.latent_dim, args.input_dim
    return Encoder(nn.Sequential(nn.Linear(d + c, h), nn.Tanh()), h, z), nn.Sequential(
        nn.Linear(z + c, h), nn.Tanh(), nn.Linear(h, d), nn.Sigmoid())


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images, _ = get_mnist_data()
    vae = VAE(*networks(args, 0))
    adam = torch.optim.Adam(vae.parameters(), lr=args.lr)
    for index in itertools.islice(batch_stream(len(images), args.batch_size), steps_for(len(images), args)):
        adam.zero_grad()
        elbo(vae, images[index]).backward()
        adam.step()
    return vae


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    images, digits = get_mnist_data()
    cvae = CVAE(*networks(args, 10))
    adam = torch.optim.Adam(cvae.parameters(), lr=args.lr)
    for index in itertools.islice(batch_stream(len(images), args.batch_size), steps_for(len(images), args)):
        adam.zero_grad()
        celbo(cvae, images[index], digits[index]).backward()
        adam.step()
    return cvae
