"""The reference baselines train in a background thread; nothing the judge does meanwhile may move them."""
import threading

import torch

from graders.judge import baselines as training


def _data(n=300):
    generator = torch.Generator().manual_seed(5)
    X = (torch.rand(n, 784, generator=generator) > 0.5).float()
    return X, torch.arange(n) % 10


def test_baselines_do_not_depend_on_models_built_beside_them():
    train, held_out = _data(), _data(100)
    alone = training.ReferenceBaselines(train, held_out).get(False)
    stop = threading.Event()

    def judge_thread():   # what judging a submission does meanwhile: build the grader's own models
        while not stop.is_set():
            training.empty_model(False)
    busy = threading.Thread(target=judge_thread)
    busy.start()
    try:
        beside = training.ReferenceBaselines(train, held_out).get(False)
    finally:
        stop.set()
        busy.join()
    assert beside.trained == alone.trained and beside.losses == alone.losses
