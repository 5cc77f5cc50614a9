"""Pictures for the reports: reconstructions and generated digits as PNG bytes, training curves as SVG.

Drawn without matplotlib, which cost seconds per student: the digit grids are assembled as one
numpy array (28x28 digits, dark on white as ``cmap="gray_r"`` showed them, scaled 2x) with their
row labels and title, and encoded by PIL; the training curves are an SVG document (text) of two
polylines with axes, ticks and a legend. ``encoded(picture)`` gives what a page embeds as a
``data:`` URI: ``{"mime", "data"}`` with the data in base64.
"""
from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from reference.scaffold import append_class_to_data

if TYPE_CHECKING:
    from reference.scaffold import CVAE, VAE

SCALE = 2           # pixels per MNIST pixel
GAP = 2             # white pixels between digits
LABEL_WIDTH = 64    # room for the row labels
TITLE_HEIGHT = 18
FONT_SIZE = 11


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(FONT_SIZE)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _grid(rows: Sequence[torch.Tensor], labels: Sequence[str], title: str) -> bytes:
    """``rows``: list of (N, 784) tensors in [0, 1], one image row each; returns PNG bytes."""
    columns, cell = rows[0].shape[0], 28 * SCALE + GAP
    width, height = LABEL_WIDTH + columns * cell, TITLE_HEIGHT + len(rows) * cell
    canvas = np.full((height, width), 255, dtype=np.uint8)
    for r, images in enumerate(rows):
        values = images.detach().float().reshape(-1, 28, 28).clamp(0, 1).numpy()
        digits = np.rint(255 * (1 - values)).astype(np.uint8)           # gray_r: 1 is black
        digits = digits.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
        top = TITLE_HEIGHT + r * cell
        for c in range(columns):
            left = LABEL_WIDTH + c * cell
            canvas[top:top + 28 * SCALE, left:left + 28 * SCALE] = digits[c]
    image = Image.fromarray(canvas, mode="L")
    draw, font = ImageDraw.Draw(image), _font()
    draw.text((width // 2, TITLE_HEIGHT // 2), title, fill=0, font=font, anchor="mm")
    for r, label in enumerate(labels):
        draw.text((LABEL_WIDTH - 6, TITLE_HEIGHT + r * cell + 14 * SCALE), label, fill=0, font=font, anchor="rm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _decode_mean(model: VAE | CVAE, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstruction through the posterior mean (no sampling), for a stable picture."""
    with torch.no_grad():
        inputs = x if y is None else append_class_to_data(x, y)
        mu, _ = model.encoder(inputs)
        return model.decoder(mu if y is None else append_class_to_data(mu, y))


def reconstructions(student: VAE | CVAE, reference: VAE | CVAE, X: torch.Tensor, Y: torch.Tensor | None = None,
                    count: int = 12) -> bytes:
    """Originals, the reference's and the student's reconstructions of the same held-out digits (PNG)."""
    x, y = X[:count], (Y[:count] if Y is not None else None)
    kind = "CVAE" if Y is not None else "VAE"
    return _grid([x, _decode_mean(reference, x, y), _decode_mean(student, x, y)],
                 ["held-out", "reference", "student"], f"{kind} reconstructions of held-out digits")


def generated_digits(cvae: CVAE, per_class: int = 16, seed: int = 0) -> bytes:
    """16 samples h ~ N(0, I) per class through the CVAE's decoder: 10 rows (PNG)."""
    generator = torch.Generator().manual_seed(seed)
    latent = cvae.encoder.mu.out_features
    rows = []
    with torch.no_grad():
        for digit in range(10):
            h = torch.randn(per_class, latent, generator=generator)
            rows.append(cvae.decoder(append_class_to_data(h, torch.full((per_class,), digit))))
    return _grid(rows, [str(d) for d in range(10)], "CVAE samples per class")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], about ``count`` of them."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


CURVE_COLOURS = {"reference": "#1f77b4", "student": "#ff7f0e"}


def training_curves(student_losses: Sequence[float], reference_losses: Sequence[float], title: str) -> str:
    """Loss per step, the student's beside the reference's (same budget, same data): SVG text."""
    width, height, left, right, top, bottom = 480, 240, 56, 12, 22, 36
    series = []
    for losses, label in ((reference_losses, "reference"), (student_losses, "student")):
        finite = [float(v) for v in losses if v == v and abs(v) < 1e6]
        if finite:
            series.append((label, finite))
    y_low = min([100.0] + [float(v) for v in reference_losses if v == v and abs(v) < 1e6]) * 0.9
    y_high = 600.0
    steps = max([len(values) for _, values in series] + [1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(step: float) -> float:
        return left + (step - 1) / max(steps - 1, 1) * plot_w

    def y_of(value: float) -> float:
        span = y_high - y_low                     # drawn clipped to the plot (as set_ylim did); far values
        value = min(max(value, y_low - span), y_high + span)  # are pulled in so coordinates stay small
        return top + (y_high - value) / (y_high - y_low) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left + plot_w / 2:.1f}" y="14" text-anchor="middle" font-size="11">{html.escape(title)}</text>',
             f'<clipPath id="plot"><rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/></clipPath>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>']
    for value in _ticks(y_low, y_high):
        y = y_of(value)
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#444"/>'
                     f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{value:g}</text>')
    for value in _ticks(1, steps):
        x = x_of(value)
        parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{value:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">optimizer step</text>')
    parts.append(f'<text transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f'loss (nats per image)</text>')
    for index, (label, values) in enumerate(series):
        points = " ".join(f"{x_of(i + 1):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        colour = CURVE_COLOURS[label]
        parts.append(f'<polyline clip-path="url(#plot)" fill="none" stroke="{colour}" stroke-width="1" points="{points}"/>')
        y = top + 12 + 14 * index
        parts.append(f'<line x1="{left + plot_w - 92}" y1="{y}" x2="{left + plot_w - 72}" y2="{y}" '
                     f'stroke="{colour}" stroke-width="2"/><text x="{left + plot_w - 66}" y="{y + 3}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def encoded(picture: str | bytes) -> dict[str, str]:
    """``{"mime", "data"}`` for a ``data:`` URI: PNG bytes or SVG text, base64-encoded."""
    if isinstance(picture, str):
        return {"mime": "image/svg+xml", "data": base64.b64encode(picture.encode()).decode()}
    return {"mime": "image/png", "data": base64.b64encode(picture).decode()}
