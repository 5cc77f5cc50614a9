"""Every picture and table the written questions ask about, written into one folder."""
import os

import matplotlib.pyplot as plt

from reference import q1_lipschitz, q2_estimators, q3_networks, q5_generate
from reference.vae import train_mnist_cvae, train_mnist_vae


def write_all(out_dir: str, epochs: int = 20) -> list[str]:

    """Q1/Q2 tables as text, Q3 plots and the Q5(d) samples as PNGs; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, module, rows in [("q1_lipschitz.txt", q1_lipschitz, q1_lipschitz.lipschitz_table()),
                               ("q2_estimators.txt", q2_estimators, q2_estimators.estimates())]:
        paths.append(os.path.join(out_dir, name))
        with open(paths[-1], "w") as handle:
            handle.write(module.format_table(rows) + "\n")
    paths += q3_networks.save_figures(out_dir)
    fig = q5_generate.plot_generated(train_mnist_vae(epochs=epochs), train_mnist_cvae(epochs=epochs))
    paths.append(os.path.join(out_dir, "q5d_generated.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)
    return paths
