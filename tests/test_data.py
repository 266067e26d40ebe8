"Data layer on the real data folder: 50,000 training images, 5,000 per class, cached reload under 2 s."
import os, time
import numpy as np
import pytest
from robustness_study.data import load_cifar10, cifar10_subset, DatasetUnavailable


@pytest.fixture
def cached(session_cache, monkeypatch):
    monkeypatch.setenv('ROBUSTNESS_STUDY_CACHE', str(session_cache))


def test_cifar10_train_from_shared_data(cached):
    try: x, y = load_cifar10('train', download=False)
    except DatasetUnavailable as e: pytest.skip(str(e))
    assert x.shape == (50000, 32, 32, 3) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [5000] * 10
    t = time.time(); load_cifar10('train', download=False); assert time.time() - t < 2


def test_subset_balanced_and_deterministic(cached):
    try: x, y = cifar10_subset(30000, seed=0)
    except DatasetUnavailable as e: pytest.skip(str(e))
    assert np.bincount(y).tolist() == [3000] * 10
    x2, y2 = cifar10_subset(30000, seed=0)
    assert (x2 == x).all() and (y2 == y).all()
