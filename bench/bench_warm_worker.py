#!/usr/bin/env python3
"""What ``worker.__main__.warm_torch`` saves each forked process, measured side by side in one run.

The worker forks a loader, each item's child and each training probe run. torch imports about 900
modules (``torch._dynamo`` and what it needs) at the first step of any optimizer; a fork of a parent
that never stepped imports them again. Here a parent that imported torch forks ``--forks`` children
that each train a small model for ``--steps`` Adam steps: first cold (as before), then after
``warm_torch()`` (as now), alternating ``--rounds`` times; it prints each child's CPU and wall time
and the ratio.

  python bench/bench_warm_worker.py [--forks 4] [--steps 3] [--rounds 2]
"""
import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import os, resource, sys, time
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    if {warm}:
        from worker.__main__ import warm_torch
        warm_torch()
    def train():
        model = torch.nn.Sequential(torch.nn.Linear(784, 200), torch.nn.Tanh(), torch.nn.Linear(200, 784))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(100, 784)
        for _ in range({steps}):
            optimizer.zero_grad()
            ((model(x) - x) ** 2).mean().backward()
            optimizer.step()
    for _ in range({forks}):
        pid = os.fork()
        if pid == 0:
            started, cpu = time.perf_counter(), time.process_time()
            train()
            print(f"{{time.perf_counter() - started:.4f}} {{time.process_time() - cpu:.4f}}", flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
""")


def run(warm, forks, steps):
    """``[(wall s, CPU s)]`` of each forked child of one parent."""
    code = CHILD.format(root=str(ROOT), warm=warm, steps=steps, forks=forks)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [tuple(map(float, line.split())) for line in done.stdout.splitlines()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forks", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    totals = {"cold parent": [], "warm_torch() first": []}
    for _ in range(args.rounds):
        totals["cold parent"] += run(False, args.forks, args.steps)
        totals["warm_torch() first"] += run(True, args.forks, args.steps)
    for name, children in totals.items():
        wall = sum(w for w, _ in children) / len(children)
        cpu = sum(c for _, c in children) / len(children)
        print(f"{name:<20} {len(children)} forked children, {args.steps} Adam steps each: "
              f"{wall * 1000:8.1f} ms wall  {cpu * 1000:8.1f} ms CPU per child")
    cold = sum(c for _, c in totals["cold parent"])
    warm = sum(c for _, c in totals["warm_torch() first"])
    print(f"ratio (cold / warm), CPU per child: {cold / warm:.1f}x (load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
