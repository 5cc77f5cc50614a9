#!/usr/bin/env python3
"""A training item's loss calls through the loss server beside the same calls in-process, side by side.

Trains the reference VAE for ``--steps`` Adam steps of ``--batch`` rows with the reference ``elbo``
in this process, then with the loss server's stubs (``worker.lossclient``; the server is a fork, as in
the worker), alternating ``--rounds`` times, and prints the wall-clock and CPU time (this process plus
the server) per step and their ratios. Issue 17 moved the grader's loss functions out of the student's
processes; this is what that costs a training item.

  python bench/bench_loss_server.py [--steps 200] [--batch 100] [--rounds 3]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from graders.grading.pipeline import _loss_code  # noqa: E402
from reference import scaffold  # noqa: E402
from reference import vae as ref  # noqa: E402
from worker import confine, lossclient  # noqa: E402
from worker.supervise import LossServer  # noqa: E402


class _Item:
    id, params = "q4.train", {}


class _Job:
    items = [_Item()]


def train(loss, X, steps, batch):
    """``(wall seconds, CPU seconds of this process)`` for ``steps`` Adam steps on ``loss``."""
    torch.manual_seed(1)
    model = ref._mlp_vae(scaffold.VAE, scaffold.MNISTArgs(), 0)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):
        rows = torch.arange(step * batch, (step + 1) * batch) % len(X)
        optimiser.zero_grad()
        loss(model, X[rows]).backward()
        optimiser.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, _ = scaffold.get_mnist_data("train")
    folder = Path(tempfile.mkdtemp())
    (folder / "losses.bin").write_bytes(_loss_code())
    server = LossServer(folder, {"q4.train:X": X}, None)
    server.after(_Job, set(), folder, None)
    stubs = lossclient.stubs(server.socket_path)
    totals = {"in-process": [0.0, 0.0], "loss server": [0.0, 0.0]}
    for _ in range(args.rounds):
        for name, loss in (("in-process", ref.elbo), ("loss server", stubs["elbo"])):
            server_cpu = confine.tree_cpu_seconds(server.pid) if name == "loss server" else 0.0
            wall, cpu = train(loss, X, args.steps, args.batch)
            if name == "loss server":
                cpu += confine.tree_cpu_seconds(server.pid) - server_cpu
            totals[name][0] += wall
            totals[name][1] += cpu
    server.stop()
    steps = args.steps * args.rounds
    for name, (wall, cpu) in totals.items():
        print(f"{name:<12} {wall / steps * 1000:7.2f} ms wall/step  {cpu / steps * 1000:7.2f} ms CPU/step")
    base, remote = totals["in-process"], totals["loss server"]
    print(f"ratio (loss server / in-process): wall {remote[0] / base[0]:.2f}x, CPU {remote[1] / base[1]:.2f}x "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
