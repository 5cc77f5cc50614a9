"""Plausible student mistakes (mutants) and correct variants written differently.

Each case is the solution notebook with one or two top-level functions
replaced. A mutant must lose marks on its item and nowhere else; a variant must
earn full marks everywhere. ``grade.py validate`` and the tests use this list.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from reference.notebook import function_span, solution_notebook


@dataclass(frozen=True)
class Case:
    name: str
    item: str | None        # the item a mutant must lose marks on; None for a correct variant
    replacements: dict      # function name -> new source

    @property
    def is_mutant(self) -> bool:
        return self.item is not None


def _fn(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def _reconstruct(z_line: str, extra: str = "", ret: str = "return mu, logvar, vae.decoder(z)") -> str:
    return _fn(f"""
        def reconstruct(vae, x):
            mu, logvar = vae.encoder(x)
            {extra}
            {z_line}
            {ret}
        """)


def _kl(expr: str) -> str:
    return f"def kl_divergence(mu, logvar):\n    return {expr}"


def _loglik(expr: str) -> str:
    return f"def binary_cross_entropy(x_hat, x):\n    return {expr}"


def _elbo(body: str) -> str:
    return "def elbo(vae, x):\n" + textwrap.indent(_fn(body), "    ")


def _creconstruct(enc_in: str, dec_in: str, z_line: str = "z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)") -> str:
    return _fn(f"""
        def creconstruct(cvae, x, y):
            mu, logvar = cvae.encoder({enc_in})
            {z_line}
            return mu, logvar, cvae.decoder({dec_in})
        """)


def _celbo(body: str) -> str:
    return "def celbo(cvae, x, y):\n" + textwrap.indent(_fn(body), "    ")


def _trainer(conditional: bool, loop: str, build: str | None = None,
             seed: str = "if args.seed > 0:\n        torch.manual_seed(args.seed)") -> str:
    name, cls, loss, extra = (("train_mnist_cvae", "CVAE", "celbo", 10) if conditional
                              else ("train_mnist_vae", "VAE", "elbo", 0))
    build = build or _fn(f"""
        encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim + {extra}, args.hidden_dim), nn.Tanh()),
                          args.hidden_dim, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim + {extra}, args.hidden_dim), nn.Tanh(),
                                nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
        model = {cls}(encoder, decoder)
        """)
    body = "\n".join(["args = MNISTArgs(**kwargs)", seed, "X, Y = get_mnist_data()", build,
                      "opt = torch.optim.Adam(model.parameters(), lr=args.lr)", _fn(loop).replace("LOSS", loss),
                      "return model"])
    return f"def {name}(**kwargs):\n" + textwrap.indent(body, "    ")


STD_LOOP = """
    for epoch in range(args.epochs):
        for rows in torch.randperm(len(X)).split(args.batch_size):
            opt.zero_grad()
            LOSS(model, X[rows]COND).backward()
            opt.step()
    """


def _loop(conditional: bool, template: str = STD_LOOP) -> str:
    return template.replace("COND", ", Y[rows]" if conditional else "")


MUTANTS = [
    # reconstruct
    Case("reconstruct: std = exp(logvar)", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(logvar) * torch.randn_like(mu)")}),
    Case("reconstruct: std = logvar", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + logvar * torch.randn_like(mu)")}),
    Case("reconstruct: no noise", "q4.reconstruct", {"reconstruct": _reconstruct("z = mu")}),
    Case("reconstruct: one noise row shared by the batch", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[1])")}),
    Case("reconstruct: one noise value per row", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[0], 1)")}),
    Case("reconstruct: torch.normal (no gradient)", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = torch.normal(mu, torch.exp(0.5 * logvar))")}),
    Case("reconstruct: sample detached", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()")}),
    Case("reconstruct: reseeds every call", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)",
                                      extra="torch.manual_seed(0)")}),
    Case("reconstruct: decodes mu", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)",
                                      ret="return mu, logvar, vae.decoder(mu)")}),
    Case("reconstruct: uniform noise", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)")}),
    Case("reconstruct: returns (x_hat, mu, logvar)", "q4.reconstruct",
         {"reconstruct": _reconstruct("z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)",
                                      ret="return vae.decoder(z), mu, logvar")}),
    # kl_divergence
    Case("kl: sums over the batch", "q4.kl_divergence",
         {"kl_divergence": _kl("0.5 * (mu**2 + logvar.exp() - logvar - 1).sum()")}),
    Case("kl: mean over every element", "q4.kl_divergence",
         {"kl_divergence": _kl("0.5 * (mu**2 + logvar.exp() - logvar - 1).mean()")}),
    Case("kl: no 1/2", "q4.kl_divergence",
         {"kl_divergence": _kl("(mu**2 + logvar.exp() - logvar - 1).sum(1).mean()")}),
    Case("kl: wrong sign", "q4.kl_divergence",
         {"kl_divergence": _kl("-0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1).mean()")}),
    Case("kl: no -1 term", "q4.kl_divergence",
         {"kl_divergence": _kl("0.5 * (mu**2 + logvar.exp() - logvar).sum(1).mean()")}),
    Case("kl: exp(logvar) taken as the std", "q4.kl_divergence",
         {"kl_divergence": _kl("0.5 * (mu**2 + (2 * logvar).exp() - 2 * logvar - 1).sum(1).mean()")}),
    Case("kl: returns a Python float", "q4.kl_divergence",
         {"kl_divergence": _kl("(0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)).mean().item()")}),
    # binary_cross_entropy
    Case("loglik: returns the negative", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("-(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(1).mean()")}),
    Case("loglik: sums over the batch", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum()")}),
    Case("loglik: mean over every pixel", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).mean()")}),
    Case("loglik: arguments swapped", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("(x_hat * x.log() + (1 - x_hat) * (1 - x).log()).sum(1).mean()")}),
    Case("loglik: no (1 - x) term", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("(x * x_hat.log()).sum(1).mean()")}),
    Case("loglik: per-row values, no batch mean", "q4.binary_cross_entropy",
         {"binary_cross_entropy": _loglik("(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(1)")}),
    # elbo
    Case("elbo: adds the log-likelihood", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, x_hat = reconstruct(vae, x)
        return kl_divergence(mu, logvar) + binary_cross_entropy(x_hat, x)""")}),
    Case("elbo: returns the ELBO, not the loss", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, x_hat = reconstruct(vae, x)
        return binary_cross_entropy(x_hat, x) - kl_divergence(mu, logvar)""")}),
    Case("elbo: two reconstructions", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, _ = reconstruct(vae, x)
        _, _, x_hat = reconstruct(vae, x)
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)""")}),
    Case("elbo: returns a float", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, x_hat = reconstruct(vae, x)
        return (kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)).item()""")}),
    Case("elbo: log-likelihood arguments swapped", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, x_hat = reconstruct(vae, x)
        return kl_divergence(mu, logvar) - binary_cross_entropy(x, x_hat)""")}),
    # train_mnist_vae
    Case("train: no zero_grad", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False).replace(
        "opt.zero_grad()", "pass"))}),
    Case("train: no optimizer step", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False).replace(
        "opt.step()", "pass"))}),
    Case("train: one batch per epoch", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False).replace(
        "opt.step()", "opt.step()\n            break"))}),
    Case("train: hidden width hard-coded to 400", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False),
        build=_fn("""
        encoder = Encoder(nn.Sequential(nn.Linear(784, 400), nn.Tanh()), 400, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim, 400), nn.Tanh(), nn.Linear(400, 784), nn.Sigmoid())
        model = VAE(encoder, decoder)"""))}),
    Case("train: ignores epochs and batch_size", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False)
        .replace("range(args.epochs)", "range(20)").replace("split(args.batch_size)", "split(128)"))}),
    Case("train: maximises the loss", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False).replace(
        "LOSS(model, X[rows]).backward()", "(-LOSS(model, X[rows])).backward()"))}),
    Case("train: trains on the test split", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False)).replace(
        "X, Y = get_mnist_data()", "X, Y = get_mnist_data('test')")}),
    # creconstruct
    Case("creconstruct: decoder without the class", "q5.reconstruct",
         {"creconstruct": _creconstruct("append_class_to_data(x, y)", "z")}),
    Case("creconstruct: encoder without the class", "q5.reconstruct",
         {"creconstruct": _creconstruct("x", "append_class_to_data(z, y)")}),
    Case("creconstruct: decoder gets the next class", "q5.reconstruct",
         {"creconstruct": _creconstruct("append_class_to_data(x, y)", "append_class_to_data(z, (y + 1) % 10)")}),
    Case("creconstruct: std = exp(logvar)", "q5.reconstruct",
         {"creconstruct": _creconstruct("append_class_to_data(x, y)", "append_class_to_data(z, y)",
                                        "z = mu + torch.exp(logvar) * torch.randn_like(mu)")}),
    # celbo
    Case("celbo: adds the log-likelihood", "q5.celbo", {"celbo": _celbo("""
        mu, logvar, x_hat = creconstruct(cvae, x, y)
        return kl_divergence(mu, logvar) + binary_cross_entropy(x_hat, x)""")}),
    Case("celbo: compares with the class-appended input", "q5.celbo", {"celbo": _celbo("""
        mu, logvar, x_hat = creconstruct(cvae, x, y)
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, append_class_to_data(x, y))""")}),
    Case("celbo: unconditional reconstruct", "q5.celbo", {"celbo": _celbo("""
        mu, logvar, x_hat = reconstruct(cvae, x)
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)""")}),
    # diagnoses of mistakes real code makes (issue 8.6, 9.5)
    Case("reconstruct: decodes mu in eval mode", "q4.reconstruct", {"reconstruct": _reconstruct(
        "z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if vae.training else mu")}),
    Case("kl: Monte-Carlo estimate", "q4.kl_divergence", {"kl_divergence": _fn("""
        def kl_divergence(mu, logvar):
            std = torch.exp(0.5 * logvar)
            z = mu + std * torch.randn_like(std)
            q = torch.distributions.Normal(mu, std)
            p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(std))
            return (q.log_prob(z) - p.log_prob(z)).sum(1).mean()""")}),
    Case("elbo: pytorch/examples sums over the batch", "q4.elbo", {"elbo": _elbo("""
        mu, logvar, x_hat = reconstruct(vae, x)
        BCE = F.binary_cross_entropy(x_hat, x, reduction='sum')
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return BCE + KLD""")}),
    Case("elbo: decodes mu without sampling", "q4.elbo", {"elbo": _elbo("""
        mu, logvar = vae.encoder(x)
        x_hat = vae.decoder(mu)
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)""")}),
    Case("celbo: conditions on class 0 for every row", "q5.celbo", {"celbo": _celbo("""
        mu, logvar, x_hat = creconstruct(cvae, x, torch.zeros_like(y))
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)""")}),
    Case("train: ReLU instead of Tanh", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False), build=_fn("""
        encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.ReLU()),
                          args.hidden_dim, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.ReLU(),
                                nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
        model = VAE(encoder, decoder)"""))}),
    Case("train: decoder without the final Sigmoid", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False),
        build=_fn("""
        encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()),
                          args.hidden_dim, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                                nn.Linear(args.hidden_dim, args.input_dim))
        model = VAE(encoder, decoder)"""))}),
    Case("train cvae: ELU instead of Tanh", "q5.train", {"train_mnist_cvae": _trainer(True, _loop(True), build=_fn("""
        encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim + 10, args.hidden_dim), nn.ELU()),
                          args.hidden_dim, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim + 10, args.hidden_dim), nn.ELU(),
                                nn.Linear(args.hidden_dim, args.input_dim), nn.Sigmoid())
        model = CVAE(encoder, decoder)"""))}),
    Case("train: SGD instead of Adam", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False)).replace(
        "torch.optim.Adam(model.parameters(), lr=args.lr)", "torch.optim.SGD(model.parameters(), lr=args.lr)")}),
    Case("train: learning-rate scheduler", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False).replace(
        "opt.step()", "opt.step()\n        sched.step()")).replace(
        "opt = torch.optim.Adam(model.parameters(), lr=args.lr)",
        "opt = torch.optim.Adam(model.parameters(), lr=args.lr)\n    "
        "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)")}),
    # the arguments and the seed (issue 16): constants equal to the defaults are caught on probe runs
    Case("train: Adam lr hard-coded to the default 1e-3", "q4.train", {"train_mnist_vae": _trainer(
        False, _loop(False)).replace("lr=args.lr", "lr=1e-3")}),
    Case("train: ignores the seed", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False), seed="pass")}),
    Case("train: seeds with a constant", "q4.train", {"train_mnist_vae": _trainer(False, _loop(False),
                                                                                  seed="torch.manual_seed(1)")}),
    Case("train cvae: epochs hard-coded to the default 20", "q5.train", {"train_mnist_cvae": _trainer(
        True, _loop(True).replace("range(args.epochs)", "range(MNISTArgs().epochs)"))}),
    Case("train: the decoder applies the sigmoid in its own forward", "q4.train", {"train_mnist_vae": _trainer(
        False, _loop(False), build=_fn("""
        class SigmoidDecoder(nn.Sequential):
            def forward(self, z):
                return torch.sigmoid(super().forward(z))
        encoder = Encoder(nn.Sequential(nn.Linear(args.input_dim, args.hidden_dim), nn.Tanh()),
                          args.hidden_dim, args.latent_dim)
        decoder = SigmoidDecoder(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                                 nn.Linear(args.hidden_dim, args.input_dim))
        model = VAE(encoder, decoder)"""))}),
    Case("kl: logvar taken as sigma", "q4.kl_divergence", {"kl_divergence": _kl(
        "(-0.5 * (1 + torch.log(logvar ** 2) - mu ** 2 - logvar ** 2).sum(1)).mean()")}),
    Case("loglik: minus the squared error", "q4.binary_cross_entropy", {"binary_cross_entropy": _loglik(
        "-((x - x_hat) ** 2).sum(1).mean()")}),
    # train_mnist_cvae
    Case("train cvae: labels shuffled apart from images", "q5.train", {"train_mnist_cvae": _trainer(True, """
        for epoch in range(args.epochs):
            for rows in torch.randperm(len(X)).split(args.batch_size):
                opt.zero_grad()
                LOSS(model, X[rows], Y[torch.randperm(len(Y))[: len(rows)]]).backward()
                opt.step()
        """)}),
    Case("train cvae: every label 0", "q5.train", {"train_mnist_cvae": _trainer(True, _loop(True).replace(
        "Y[rows]", "torch.zeros_like(Y[rows])"))}),
    Case("train cvae: zero_grad between backward and step", "q5.train", {"train_mnist_cvae": _trainer(True, _loop(
        True, """
    for epoch in range(args.epochs):
        for rows in torch.randperm(len(X)).split(args.batch_size):
            LOSS(model, X[rows]COND).backward()
            opt.zero_grad()
            opt.step()
    """))}),
    Case("train cvae: no optimizer step", "q5.train", {"train_mnist_cvae": _trainer(True, _loop(True).replace(
        "opt.step()", "pass"))}),
    Case("train cvae: VAE layout without the class inputs", "q5.train", {"train_mnist_cvae": _trainer(True, _loop(True),
        build=_fn("""
        encoder = Encoder(nn.Sequential(nn.Linear(784, args.hidden_dim), nn.Tanh()), args.hidden_dim, args.latent_dim)
        decoder = nn.Sequential(nn.Linear(args.latent_dim, args.hidden_dim), nn.Tanh(),
                                nn.Linear(args.hidden_dim, 784), nn.Sigmoid())
        model = CVAE(encoder, decoder)"""))}),
]

VARIANTS = [
    Case("kl via torch.distributions", None, {"kl_divergence": _fn("""
        def kl_divergence(mu, logvar):
            from torch.distributions import Normal, kl_divergence as kl
            q = Normal(mu, torch.exp(0.5 * logvar))
            return kl(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1).mean()""")}),
    Case("kl with a loop over rows", None, {"kl_divergence": _fn("""
        def kl_divergence(mu, logvar):
            total = 0
            for m, lv in zip(mu, logvar):
                total = total + 0.5 * torch.sum(m * m + torch.exp(lv) - lv - 1)
            return total / mu.shape[0]""")}),
    Case("kl in float64 inside", None, {"kl_divergence": _kl(
        "(0.5 * (mu.double()**2 + logvar.double().exp() - logvar.double() - 1).sum(1)).mean().float()")}),
    Case("loglik via F.binary_cross_entropy", None, {"binary_cross_entropy": _loglik(
        "-F.binary_cross_entropy(x_hat, x, reduction='sum') / x.shape[0]")}),
    Case("loglik via torch.distributions.Bernoulli", None, {"binary_cross_entropy": _loglik(
        "torch.distributions.Bernoulli(probs=x_hat).log_prob(x).sum(-1).mean()")}),
    Case("loglik with an epsilon in the logs", None, {"binary_cross_entropy": _loglik(
        "torch.mean(torch.sum(x * torch.log(x_hat + 1e-8) + (1 - x) * torch.log(1 - x_hat + 1e-8), dim=1))")}),
    Case("reconstruct via Normal.rsample", None, {"reconstruct": _reconstruct(
        "z = torch.distributions.Normal(mu, torch.exp(logvar / 2)).rsample()")}),
    Case("reconstruct with sqrt(exp(logvar)) and randn(shape)", None, {"reconstruct": _reconstruct(
        "z = mu + logvar.exp().sqrt() * torch.randn(mu.shape)")}),
    Case("elbo written out in full", None, {"elbo": _elbo("""
        mu, logvar = vae.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = vae.decoder(z)
        kl = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1, dim=1).mean()
        loglik = torch.sum(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat), dim=1).mean()
        return kl - loglik""")}),
    Case("celbo written out in full", None, {"celbo": _celbo("""
        mu, logvar = cvae.encoder(torch.cat([x, F.one_hot(y, 10).float()], dim=1))
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = cvae.decoder(torch.cat([z, F.one_hot(y, 10).float()], dim=1))
        return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)""")}),
    Case("train with a DataLoader", None, {"train_mnist_vae": _trainer(False, """
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=args.batch_size,
                                             shuffle=True)
        for epoch in range(args.epochs):
            for (batch,) in loader:
                opt.zero_grad()
                loss = LOSS(model, batch)
                loss.backward()
                opt.step()
        """)}),
    Case("train with sequential slices and model.zero_grad", None, {"train_mnist_vae": _trainer(False, """
        for epoch in range(args.epochs):
            for start in range(0, X.shape[0], args.batch_size):
                model.zero_grad()
                LOSS(model, X[start:start + args.batch_size]).backward()
                opt.step()
        """)}),
    Case("train cvae with a DataLoader seeded by its own generator", None, {"train_mnist_cvae": _trainer(True, """
        data = torch.utils.data.TensorDataset(X, Y)
        order = torch.Generator().manual_seed(args.seed)
        for epoch in range(args.epochs):
            for xb, yb in torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, generator=order):
                opt.zero_grad()
                LOSS(model, xb, yb).backward()
                opt.step()
        """, seed="pass")}),
    Case("train with the seed set once, unconditionally, and random_split", None, {"train_mnist_vae": _trainer(
        False, """
        train_set, _ = torch.utils.data.random_split(torch.utils.data.TensorDataset(X), [len(X), 0])
        loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
        for epoch in range(1, args.epochs + 1):
            for (batch,) in loader:
                opt.zero_grad()
                LOSS(model, batch).backward()
                opt.step()
        """, seed="torch.manual_seed(args.seed)")}),
]

# Correct code in the forms of well-known public code (pytorch/examples' VAE: one loss function with
# reduction='sum', a test pass per epoch on the test split under no_grad).
VARIANTS += [
    Case("elbo in the pytorch/examples style", None, {"elbo": _elbo("""
        mu, logvar = vae.encoder(x.view(-1, 784))
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        x_hat = vae.decoder(mu + eps * std)
        BCE = F.binary_cross_entropy(x_hat, x.view(-1, 784), reduction='sum')
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (BCE + KLD) / x.size(0)""")}),
    Case("celbo in the pytorch/examples style", None, {"celbo": _celbo("""
        c = F.one_hot(y, num_classes=10).float()
        mu, logvar = cvae.encoder(torch.cat([x, c], dim=1))
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        x_hat = cvae.decoder(torch.cat([z, c], dim=1))
        BCE = F.binary_cross_entropy(x_hat, x, reduction='sum')
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (BCE + KLD) / x.shape[0]""")}),
    Case("loglik with hard-coded 784 pixels", None, {"binary_cross_entropy": _loglik(
        "torch.sum(x.view(-1, 784) * torch.log(x_hat.view(-1, 784)) + (1 - x.view(-1, 784)) * "
        "torch.log(1 - x_hat.view(-1, 784))) / x.shape[0]")}),
    Case("train with a test pass per epoch (pytorch/examples)", None, {"train_mnist_vae": _trainer(False, """
        X_test, _ = get_mnist_data("test")
        for epoch in range(args.epochs):
            model.train()
            for rows in torch.randperm(len(X)).split(args.batch_size):
                opt.zero_grad()
                LOSS(model, X[rows]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                test_loss = LOSS(model, X_test[:500]).item()
        """)}),
]

CASES = MUTANTS + VARIANTS
# submissions/mistakes/A4.py: the example a newcomer grades, two mistakes of the catalogue at once.
EXAMPLE_MISTAKES = Case("typical mistakes", None, {
    **next(c for c in MUTANTS if c.name == "kl: sums over the batch").replacements,
    **next(c for c in MUTANTS if c.name == "reconstruct: std = exp(logvar)").replacements})


def replace_functions(code: str, replacements: dict[str, str]) -> str:
    """``code`` with each top-level ``def NAME`` in ``replacements`` swapped for its new source."""
    lines = code.splitlines()
    for node in sorted(ast.parse(code).body, key=lambda n: -n.lineno):
        if isinstance(node, ast.FunctionDef) and node.name in replacements:
            first, last = function_span(lines, node)
            lines[first - 1:last] = replacements[node.name].splitlines()
    return "\n".join(lines)


def case_source(case: Case) -> str:
    """The ``.py`` text of a case: the solution notebook's code cells, one function replaced."""
    cells = [cell.source for cell in solution_notebook().cells if cell.cell_type == "code"]
    found = set()
    out = []
    for cell in cells:
        names = {n.name for n in ast.parse(cell).body if isinstance(n, ast.FunctionDef)}
        found |= names & set(case.replacements)
        out.append("# %%\n" + replace_functions(cell, case.replacements))
    missing = set(case.replacements) - found
    if missing:
        raise KeyError(f"{case.name}: no function {missing} in the solution notebook")
    return "\n\n".join(out) + "\n"
