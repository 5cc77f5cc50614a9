# ---- pasted from "Variational autoencoders from scratch in PyTorch, part 2" ----
# The reparameterization trick lets gradients flow through the sampling step.
def reparameterization(mean, var):
    epsilon = torch.randn_like(var)      # sampling epsilon from a standard normal
    z = mean + var * epsilon             # reparameterization trick: z = mu + sigma * eps
    return z


# Loss = reconstruction term + KL term (both summed over the batch, as in the tutorial)
def loss_function(x, x_hat, mean, log_var):
    reproduction_loss = nn.functional.binary_cross_entropy(x_hat, x, reduction='sum')
    KLD = - 0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())   # closed-form KL to N(0, I)
    return reproduction_loss, KLD


def fit(model, optimizer, epochs, batches, step_loss):
    model.train()
    for epoch in range(epochs):
        overall_loss = 0
        for batch_idx, batch in enumerate(batches):
            optimizer.zero_grad()
            loss = step_loss(model, *batch)
            overall_loss += loss.item()
            loss.backward()
            optimizer.step()
        # one line per epoch so we can watch the loss go down
        print("\tEpoch", epoch + 1, "complete!", "\tAverage Loss: ", overall_loss / (batch_idx + 1))
    print("Finished training the autoencoder, time to look at samples!")
    return model


def reconstruct(vae, x):
    mu, logvar = vae.encoder(x)
    z = reparameterization(mu, torch.exp(0.5 * logvar))
    return mu, logvar, vae.decoder(z)


def kl_divergence(mu, logvar):
    return loss_function(torch.zeros(1), torch.full((1,), 0.5), mu, logvar)[1] / mu.shape[0]


def binary_cross_entropy(x_hat, x):
    return -loss_function(x, x_hat, torch.zeros(1), torch.zeros(1))[0] / x.shape[0]


def elbo(vae, x):
    mu, logvar, x_hat = reconstruct(vae, x)
    bce, kld = loss_function(x, x_hat, mu, logvar)
    return (bce + kld) / x.shape[0]


def creconstruct(cvae, x, y):
    mu, logvar = cvae.encoder(append_class_to_data(x, y))
    z = reparameterization(mu, torch.exp(0.5 * logvar))
    return mu, logvar, cvae.decoder(append_class_to_data(z, y))


def celbo(cvae, x, y):
    mu, logvar, x_hat = creconstruct(cvae, x, y)
    bce, kld = loss_function(x, x_hat, mu, logvar)
    return (bce + kld) / x.shape[0]


def my_layers(args, cond):
    return (Encoder(nn.Sequential(nn.Linear(args.input_dim + cond, args.hidden_dim), nn.Tanh()),
                    args.hidden_dim, args.latent_dim),
            nn.Sequential(nn.Linear(args.latent_dim + cond, args.hidden_dim), nn.Tanh(),
                          nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid()))


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, _ = get_mnist_data()
    batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=args.batch_size,
                                          shuffle=True)
    model = VAE(*my_layers(args, 0))
    return fit(model, torch.optim.Adam(model.parameters(), lr=args.lr), args.epochs, batches, elbo)


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    X, Y = get_mnist_data()
    batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=args.batch_size,
                                          shuffle=True)
    model = CVAE(*my_layers(args, 10))
    return fit(model, torch.optim.Adam(model.parameters(), lr=args.lr), args.epochs, batches, celbo)
