"""A beginner's notebook: every step its own variable, while loops, comments everywhere."""


def reconstruct(vae, x):
    # step 1: encode the images
    encoded = vae.encoder(x)
    mu = encoded[0]
    logvar = encoded[1]
    # step 2: sample with the reparameterization trick
    variance = torch.exp(logvar)
    standard_deviation = torch.sqrt(variance)
    noise = torch.randn(mu.shape[0], mu.shape[1])
    z = mu + standard_deviation * noise
    # step 3: decode
    x_hat = vae.decoder(z)
    return (mu, logvar, x_hat)


def kl_divergence(mu, logvar):
    number_of_rows = mu.shape[0]
    mu_squared = mu * mu
    variance = torch.exp(logvar)
    inside = mu_squared + variance - logvar - 1
    sum_over_dimensions = torch.sum(inside, 1)
    kl_each_row = sum_over_dimensions * 0.5
    kl_total = torch.sum(kl_each_row)
    return kl_total / number_of_rows


def binary_cross_entropy(x_hat, x):
    number_of_rows = x.shape[0]
    first_part = x * torch.log(x_hat)
    second_part = (1 - x) * torch.log(1 - x_hat)
    both = first_part + second_part
    total = torch.sum(both)
    return total / number_of_rows


def elbo(vae, x):
    result = reconstruct(vae, x)
    mu = result[0]
    logvar = result[1]
    x_hat = result[2]
    kl = kl_divergence(mu, logvar)
    likelihood = binary_cross_entropy(x_hat, x)
    loss = kl - likelihood
    return loss


def train_mnist_vae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    data = get_mnist_data()
    images = data[0]
    # the encoder: linear layer then tanh
    enc_layers = nn.Sequential(nn.Linear(784, args.hidden_dim), nn.Tanh())
    my_encoder = Encoder(enc_layers, args.hidden_dim, args.latent_dim)
    # the decoder
    my_decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                               nn.Linear(args.hidden_dim, 784), nn.Sigmoid())
    my_vae = VAE(my_encoder, my_decoder)
    optimizer = torch.optim.Adam(my_vae.parameters(), lr=args.lr)
    number_of_images = images.shape[0]
    epoch = 0
    while epoch < args.epochs:
        shuffle = torch.randperm(number_of_images)
        start = 0
        while start < number_of_images:
            end = min(start + args.batch_size, number_of_images)
            batch = images[shuffle[start:end]]
            optimizer.zero_grad()
            loss = elbo(my_vae, batch)
            loss.backward()
            optimizer.step()
            start = end
        print("epoch", epoch, "done, last loss", loss.item())
        epoch = epoch + 1
    return my_vae


def creconstruct(cvae, x, y):
    # append the labels before encoding
    x_with_class = append_class_to_data(x, y)
    encoded = cvae.encoder(x_with_class)
    mu = encoded[0]
    logvar = encoded[1]
    variance = torch.exp(logvar)
    standard_deviation = torch.sqrt(variance)
    noise = torch.randn(mu.shape[0], mu.shape[1])
    z = mu + standard_deviation * noise
    # append the labels before decoding too
    z_with_class = append_class_to_data(z, y)
    x_hat = cvae.decoder(z_with_class)
    return (mu, logvar, x_hat)


def celbo(cvae, x, y):
    result = creconstruct(cvae, x, y)
    mu = result[0]
    logvar = result[1]
    x_hat = result[2]
    kl = kl_divergence(mu, logvar)
    likelihood = binary_cross_entropy(x_hat, x)
    loss = kl - likelihood
    return loss


def train_mnist_cvae(**kwargs):
    args = MNISTArgs(**kwargs)
    if args.seed > 0:
        torch.manual_seed(args.seed)
    data = get_mnist_data()
    images = data[0]
    labels = data[1]
    enc_layers = nn.Sequential(nn.Linear(784 + 10, args.hidden_dim), nn.Tanh())
    my_encoder = Encoder(enc_layers, args.hidden_dim, args.latent_dim)
    my_decoder = nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.Tanh(),
                               nn.Linear(args.hidden_dim, 784), nn.Sigmoid())
    my_cvae = CVAE(my_encoder, my_decoder)
    optimizer = torch.optim.Adam(my_cvae.parameters(), lr=args.lr)
    number_of_images = images.shape[0]
    epoch = 0
    while epoch < args.epochs:
        shuffle = torch.randperm(number_of_images)
        start = 0
        while start < number_of_images:
            end = min(start + args.batch_size, number_of_images)
            picked = shuffle[start:end]
            optimizer.zero_grad()
            loss = celbo(my_cvae, images[picked], labels[picked])
            loss.backward()
            optimizer.step()
            start = end
        print("epoch", epoch, "done, last loss", loss.item())
        epoch = epoch + 1
    return my_cvae
