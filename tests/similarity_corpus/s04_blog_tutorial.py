"""From a typical blog tutorial: a sampling helper, a combined loss, a verbose epoch loop with history."""


def sample_latent(mean, log_var):
    epsilon = torch.randn(mean.shape)
    return mean + epsilon * torch.sqrt(torch.exp(log_var))


def reconstruct(vae, x):
    mean, log_var = vae.encoder(x)
    latent = sample_latent(mean, log_var)
    reconstruction = vae.decoder(latent)
    return mean, log_var, reconstruction


def kl_divergence(mu, logvar):
    batch_size = mu.shape[0]
    total = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar))
    return total / batch_size


def binary_cross_entropy(x_hat, x):
    eps = 1e-8
    terms = x * torch.log(x_hat + eps) + (1 - x) * torch.log(1 - x_hat + eps)
    return torch.sum(terms) / x.shape[0]


def elbo(vae, x):
    mean, log_var, reconstruction = reconstruct(vae, x)
    kl = kl_divergence(mean, log_var)
    rec = binary_cross_entropy(reconstruction, x)
    return kl - rec


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    train_x, train_y = get_mnist_data()
    encoder_net = nn.Sequential()
    encoder_net.append(nn.Linear(args.input_dim, args.hidden_dim))
    encoder_net.append(nn.Tanh())
    decoder_net = nn.Sequential()
    decoder_net.append(nn.Linear(args.latent_dim, args.hidden_dim))
    decoder_net.append(nn.Tanh())
    decoder_net.append(nn.Linear(args.hidden_dim, args.input_dim))
    decoder_net.append(nn.Sigmoid())
    model = VAE(Encoder(encoder_net, args.hidden_dim, args.latent_dim), decoder_net)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = []
    num_batches = (len(train_x) + args.batch_size - 1) // args.batch_size
    for epoch in range(args.epochs):
        shuffled = train_x[torch.randperm(len(train_x))]
        epoch_loss = 0.0
        for b in range(num_batches):
            x_batch = shuffled[b * args.batch_size:(b + 1) * args.batch_size]
            loss = elbo(model, x_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
        history.append(epoch_loss / num_batches)
        print(f"Epoch {epoch + 1}/{args.epochs}, loss = {history[-1]:.3f}")
    return model


def creconstruct(cvae, x, y):
    mean, log_var = cvae.encoder(append_class_to_data(x, y))
    latent = sample_latent(mean, log_var)
    reconstruction = cvae.decoder(append_class_to_data(latent, y))
    return mean, log_var, reconstruction


def celbo(cvae, x, y):
    mean, log_var, reconstruction = creconstruct(cvae, x, y)
    kl = kl_divergence(mean, log_var)
    rec = binary_cross_entropy(reconstruction, x)
    return kl - rec


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    train_x, train_y = get_mnist_data()
    encoder_net = nn.Sequential()
    encoder_net.append(nn.Linear(args.input_dim + 10, args.hidden_dim))
    encoder_net.append(nn.Tanh())
    decoder_net = nn.Sequential()
    decoder_net.append(nn.Linear(args.latent_dim + 10, args.hidden_dim))
    decoder_net.append(nn.Tanh())
    decoder_net.append(nn.Linear(args.hidden_dim, args.input_dim))
    decoder_net.append(nn.Sigmoid())
    model = CVAE(Encoder(encoder_net, args.hidden_dim, args.latent_dim), decoder_net)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = []
    num_batches = (len(train_x) + args.batch_size - 1) // args.batch_size
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_x))
        shuffled_x, shuffled_y = train_x[order], train_y[order]
        epoch_loss = 0.0
        for b in range(num_batches):
            x_batch = shuffled_x[b * args.batch_size:(b + 1) * args.batch_size]
            y_batch = shuffled_y[b * args.batch_size:(b + 1) * args.batch_size]
            loss = celbo(model, x_batch, y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
        history.append(epoch_loss / num_batches)
        print(f"Epoch {epoch + 1}/{args.epochs}, loss = {history[-1]:.3f}")
    return model
