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
