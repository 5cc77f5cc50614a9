"""A student coming from Keras: explicit shapes, numpy shuffling, a history dict, early returns."""
import numpy as np

HIDDEN_ACTIVATION = nn.Tanh


def reconstruct(vae, x):
    z_mean, z_log_var = vae.encoder(x)
    batch, dim = z_mean.shape
    epsilon = torch.normal(0.0, 1.0, size=(batch, dim))
    z = z_mean + torch.exp(z_log_var / 2) * epsilon
    return z_mean, z_log_var, vae.decoder(z)


def kl_divergence(mu, logvar):
    kl_loss = 1 + logvar - torch.square(mu) - torch.exp(logvar)
    kl_loss = torch.sum(kl_loss, axis=1)
    kl_loss *= -0.5
    return torch.mean(kl_loss)


def binary_cross_entropy(x_hat, x):
    reconstruction = torch.where(x > 0.5, torch.log(x_hat), torch.log(1 - x_hat))
    reconstruction = torch.sum(reconstruction, axis=1)
    return torch.mean(reconstruction)


def elbo(vae, x):
    z_mean, z_log_var, decoded = reconstruct(vae, x)
    total_loss = kl_divergence(z_mean, z_log_var) - binary_cross_entropy(decoded, x)
    return total_loss


def get_model(args, n_classes=0):
    enc = Encoder(nn.Sequential(nn.Linear(args.input_dim + n_classes, args.hidden_dim), HIDDEN_ACTIVATION()),
                  args.hidden_dim, args.latent_dim)
    dec = nn.Sequential(
        nn.Linear(args.latent_dim + n_classes, args.hidden_dim),
        HIDDEN_ACTIVATION(),
        nn.Linear(args.hidden_dim, args.input_dim),
        nn.Sigmoid(),
    )
    if n_classes == 0:
        return VAE(enc, dec)
    return CVAE(enc, dec)


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    x_train, y_train = get_mnist_data()
    model = get_model(args)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = {"loss": []}
    steps_per_epoch = int(np.ceil(len(x_train) / args.batch_size))
    for epoch in range(args.epochs):
        indices = np.random.permutation(len(x_train))
        for step in range(steps_per_epoch):
            batch_indices = indices[step * args.batch_size:(step + 1) * args.batch_size]
            x_batch = x_train[torch.from_numpy(batch_indices)]
            optimizer.zero_grad()
            loss_value = elbo(model, x_batch)
            loss_value.backward()
            optimizer.step()
            history["loss"].append(float(loss_value))
    return model


def creconstruct(cvae, x, y):
    z_mean, z_log_var = cvae.encoder(append_class_to_data(x, y))
    batch, dim = z_mean.shape
    epsilon = torch.normal(0.0, 1.0, size=(batch, dim))
    z = z_mean + torch.exp(z_log_var / 2) * epsilon
    return z_mean, z_log_var, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    z_mean, z_log_var, decoded = creconstruct(cvae, x, y)
    total_loss = kl_divergence(z_mean, z_log_var) - binary_cross_entropy(decoded, x)
    return total_loss


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    x_train, y_train = get_mnist_data()
    model = get_model(args, n_classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = {"loss": []}
    steps_per_epoch = int(np.ceil(len(x_train) / args.batch_size))
    for epoch in range(args.epochs):
        indices = np.random.permutation(len(x_train))
        for step in range(steps_per_epoch):
            batch_indices = torch.from_numpy(indices[step * args.batch_size:(step + 1) * args.batch_size])
            optimizer.zero_grad()
            loss_value = celbo(model, x_train[batch_indices], y_train[batch_indices])
            loss_value.backward()
            optimizer.step()
            history["loss"].append(float(loss_value))
    return model
