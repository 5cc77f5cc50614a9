"""One shared train(), a conditional flag, a test-split evaluation per epoch and the best weights kept."""
import copy


def encode_sample_decode(model, inputs, condition=None):
    mu, logvar = model.encoder(inputs)
    z = torch.randn_like(mu).mul_(torch.exp(0.5 * logvar)).add_(mu)
    if condition is not None:
        z = append_class_to_data(z, condition)
    return mu, logvar, model.decoder(z)


def reconstruct(vae, x):
    return encode_sample_decode(vae, x)


def creconstruct(cvae, x, y):
    return encode_sample_decode(cvae, append_class_to_data(x, y), y)


def kl_divergence(mu, logvar):
    kl = logvar.exp() - (1 + logvar) + mu ** 2
    return kl.sum(axis=-1).mean() * 0.5


def binary_cross_entropy(x_hat, x):
    x_hat = torch.clamp(x_hat, min=1e-6, max=1 - 1e-6)
    return torch.mean(torch.sum(x * x_hat.log() + (1. - x) * torch.log1p(-x_hat), -1))


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)


def train(args, conditional):
    extra = 10 if conditional else 0
    model = (CVAE if conditional else VAE)(
        Encoder(nn.Sequential(nn.Linear(args.input_dim + extra, args.hidden_dim), nn.Tanh()), args.hidden_dim,
                args.latent_dim),
        nn.Sequential(nn.Linear(args.latent_dim + extra, args.hidden_dim), nn.Tanh(),
                      nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()),
    )
    loss_of = (lambda m, xs, ys: celbo(m, xs, ys)) if conditional else (lambda m, xs, ys: elbo(m, xs))
    train_x, train_y = get_mnist_data("train")
    test_x, test_y = get_mnist_data("test")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    best, best_state = float("inf"), None
    for epoch in range(args.epochs):
        model.train()
        permutation = torch.randperm(train_x.size(0))
        for begin in range(0, train_x.size(0), args.batch_size):
            rows = permutation[begin:begin + args.batch_size]
            optimizer.zero_grad()
            loss_of(model, train_x[rows], train_y[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            test_loss = loss_of(model, test_x, test_y).item()
        if test_loss < best:
            best, best_state = test_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    return train(args, conditional=False)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    return train(args, conditional=True)
