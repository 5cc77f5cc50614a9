"""Question 5(d): digits generated from ``h ~ N(0, I)`` through the decoders, as image grids."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from reference.scaffold import append_class_to_data  # noqa: E402


def generate(model, digit=None, count=16, seed=0):
    """``count`` images float32 ``(count, 784)`` in [0, 1]; with ``digit``, the CVAE's class is appended."""
    generator = torch.Generator().manual_seed(seed)
    latent_dim = model.encoder.mu.out_features
    h = torch.randn(count, latent_dim, generator=generator)
    if digit is not None:
        h = append_class_to_data(h, torch.full((count,), digit, dtype=torch.long))
    with torch.no_grad():
        return model.decoder(h)


def image_grid(images, columns=16):
    """Tile ``(N, 784)`` images into one ``(rows * 28, columns * 28)`` array."""
    rows = -(-len(images) // columns)
    canvas = torch.ones(rows * 28, columns * 28)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = image.reshape(28, 28)
    return canvas.numpy()


def plot_generated(vae, cvae):
    """Rows: the VAE's 16 unconditional samples, then 16 CVAE samples for each class 0-9."""
    images = torch.cat([generate(vae)] + [generate(cvae, digit) for digit in range(10)])
    fig, ax = plt.subplots(figsize=(12, 8.5))
    ax.imshow(image_grid(images), cmap="gray_r", vmin=0, vmax=1)
    ax.set_yticks([14 + 28 * r for r in range(11)], ["VAE"] + [f"CVAE {d}" for d in range(10)])
    ax.set_xticks([])
    ax.set_title("16 samples h ~ N(0, I) through each decoder")
    return fig
