"""Question 3's training step with torch's default thread count against one thread, side by side.

    python bench/bench_q3_threads.py [--epochs 3] [--rounds 3]

Trains the same small network (2 hidden layers of 16 ReLU units, batch 32, the notebook's data) for a few
epochs with ``torch.set_num_threads(default)`` and with ``torch.set_num_threads(1)``, alternating rounds so
both see the same machine load, and prints milliseconds per optimizer step and the ratio. The notebook's
``train_classifier`` uses one thread (``reference/q3_networks.py``).
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reference import q3_networks as q3  # noqa: E402


def step_ms(threads: int, epochs: int) -> float:
    """Milliseconds per RMSProp step of the notebook's loop, with ``threads`` torch threads."""
    X, labels = q3.two_sinusoids()
    net = q3.make_classifier("relu", 2, 16)
    rmsprop = torch.optim.RMSprop(net.parameters(), lr=1e-2, alpha=0.9)
    loss_fn = torch.nn.BCELoss()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    steps, started = 0, time.perf_counter()
    try:
        for _ in range(epochs):
            for rows in torch.randperm(len(X)).split(32):
                rmsprop.zero_grad()
                loss_fn(net(X[rows]).squeeze(1), labels[rows]).backward()
                rmsprop.step()
                steps += 1
    finally:
        torch.set_num_threads(before)
    return 1000 * (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    default = torch.get_num_threads()
    many, one = [], []
    for _ in range(args.rounds):
        many.append(step_ms(default, args.epochs))
        one.append(step_ms(1, args.epochs))
    many_ms, one_ms = sorted(many)[len(many) // 2], sorted(one)[len(one) // 2]
    print(f"default threads ({default}): {many_ms:.2f} ms per step; one thread: {one_ms:.2f} ms per step; "
          f"ratio {many_ms / one_ms:.1f}x (medians of {args.rounds} rounds of {args.epochs} epochs)")


if __name__ == "__main__":
    main()
