import math

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
    mean, log_var = vae.encoder(x)
    std = log_var.mul(0.5).exp()
    return mean, log_var, vae.decoder(reparameterization(mean, std))


def kl_divergence(mu, logvar):
    # my own version, per example then averaged
    return (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)).mean()


def binary_cross_entropy(x_hat, x):
    eps = 1e-7
    return (x * (x_hat + eps).log() + (1 - x) * (1 - x_hat + eps).log()).sum(dim=1).mean()


def elbo(vae, x):
    mean, log_var, x_hat = reconstruct(vae, x)
    return kl_divergence(mean, log_var) - binary_cross_entropy(x_hat, x)


def creconstruct(cvae, x, y):
    mean, log_var = cvae.encoder(append_class_to_data(x, y))
    std = log_var.mul(0.5).exp()
    return mean, log_var, cvae.decoder(append_class_to_data(reparameterization(mean, std), y))


def celbo(cvae, x, y):
    mean, log_var, x_hat = creconstruct(cvae, x, y)
    return kl_divergence(mean, log_var) - binary_cross_entropy(x_hat, x)


def minibatches(tensors, size):
    order = torch.randperm(len(tensors[0]))
    return [tuple(t[order[i:i + size]] for t in tensors) for i in range(0, len(order), size)]


def train_mnist_vae(**kwargs):
    opts = MNISTArgs(**kwargs)
    if opts.seed > 0:
        torch.manual_seed(opts.seed)
    images = get_mnist_data()[0]
    net = VAE(Encoder(nn.Sequential(nn.Linear(784, opts.hidden_dim), nn.Tanh()), opts.hidden_dim, opts.latent_dim),
              nn.Sequential(nn.Linear(opts.latent_dim, opts.hidden_dim), nn.Tanh(), nn.Linear(opts.hidden_dim, 784),
                            nn.Sigmoid()))
    adam = torch.optim.Adam(net.parameters(), lr=opts.lr)
    return fit(net, adam, opts.epochs, minibatches((images,), opts.batch_size), elbo)


def train_mnist_cvae(**kwargs):
    opts = MNISTArgs(**kwargs)
    if opts.seed > 0:
        torch.manual_seed(opts.seed)
    images, digits = get_mnist_data()
    net = CVAE(Encoder(nn.Sequential(nn.Linear(794, opts.hidden_dim), nn.Tanh()), opts.hidden_dim, opts.latent_dim),
               nn.Sequential(nn.Linear(opts.latent_dim + 10, opts.hidden_dim), nn.Tanh(),
                             nn.Linear(opts.hidden_dim, 784), nn.Sigmoid()))
    adam = torch.optim.Adam(net.parameters(), lr=opts.lr)
    return fit(net, adam, opts.epochs, minibatches((images, digits), opts.batch_size), celbo)
