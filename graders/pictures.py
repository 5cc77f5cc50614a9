"""Pictures for the reports: reconstructions, generated digits and training curves, as PNG bytes."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from reference.scaffold import append_class_to_data  # noqa: E402


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _grid(rows, labels, title):
    """``rows``: list of (N, 784) tensors in [0, 1], one image row each."""
    columns = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), columns, figsize=(columns * 0.6, len(rows) * 0.7), squeeze=False)
    for r, (images, label) in enumerate(zip(rows, labels)):
        for c in range(columns):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(28, 28).detach(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def _decode_mean(model, x, y=None):
    """Reconstruction through the posterior mean (no sampling), for a stable picture."""
    with torch.no_grad():
        inputs = x if y is None else append_class_to_data(x, y)
        mu, _ = model.encoder(inputs)
        return model.decoder(mu if y is None else append_class_to_data(mu, y))


def reconstructions(student, reference, X, Y=None, count=12):
    """Originals, the reference's and the student's reconstructions of the same held-out digits."""
    x, y = X[:count], (Y[:count] if Y is not None else None)
    kind = "CVAE" if Y is not None else "VAE"
    return _grid([x, _decode_mean(reference, x, y), _decode_mean(student, x, y)],
                 ["held-out", "reference", "student"], f"{kind} reconstructions of held-out digits")


def generated_digits(cvae, per_class=16, seed=0):
    """16 samples h ~ N(0, I) per class through the CVAE's decoder: 10 rows."""
    generator = torch.Generator().manual_seed(seed)
    latent = cvae.encoder.mu.out_features
    rows = []
    with torch.no_grad():
        for digit in range(10):
            h = torch.randn(per_class, latent, generator=generator)
            rows.append(cvae.decoder(append_class_to_data(h, torch.full((per_class,), digit))))
    return _grid(rows, [str(d) for d in range(10)], "CVAE samples per class")


def training_curves(student_losses, reference_losses, title):
    """Loss per step, the student's beside the reference's (same budget, same data)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for losses, label in ((reference_losses, "reference"), (student_losses, "student")):
        finite = [v for v in losses if v == v and abs(v) < 1e6]
        if finite:
            ax.plot(range(1, len(finite) + 1), finite, label=label, linewidth=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per image)")
    ax.set_ylim(bottom=min([100] + [v for v in reference_losses if v == v]) * 0.9, top=600)
    ax.legend()
    ax.set_title(title, fontsize=9)
    return _png(fig)
