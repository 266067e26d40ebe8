"""End-to-end `smoke` runs through the CLI: resume after kills, lock, determinism, Ray backend.

All runs share one checkpoint cache (the session cache), so models are trained once; each run writes to its
own output folder.
"""
import os, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import cli, BIN, ROOT

TIMING = 'time.'


def metrics(path):
    "The results table without timing columns, sorted by id."
    df = pd.read_csv(path)
    return df[[c for c in df.columns if not c.startswith(TIMING)]].sort_values('id').reset_index(drop=True)


@pytest.fixture(scope='module')
def reference(tmp_path_factory, session_cache):
    "A complete uninterrupted smoke run (also trains the two smoke models into the session cache)."
    env = dict(os.environ, ROBUSTNESS_STUDY_CACHE=str(session_cache), PYTHONUNBUFFERED='1')
    out = tmp_path_factory.mktemp('ref')/'out'
    t = time.time(); r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, time.time() - t


def test_smoke_table(reference):
    out, _ = reference
    df = pd.read_csv(out/'results.csv')
    assert len(df) == 2 and df.id.is_unique
    for prefix in ('cfg.', 'train.', 'perf.'):
        assert any(c.startswith(prefix) for c in df.columns), prefix
    assert (out/'run.json').exists()


def test_same_seed_identical_table(reference, env, tmp_path):
    out, _ = reference
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'again', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    pd.testing.assert_frame_equal(metrics(out/'results.csv'), metrics(tmp_path/'again'/'results.csv'))


def test_different_seed_changes_random_stages(reference, env, tmp_path):
    out, _ = reference
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'s1', '--seed', '1', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = metrics(out/'results.csv'), metrics(tmp_path/'s1'/'results.csv')
    assert (a.seed != b.seed).all()
    random_cols = [c for c in a.columns if c.startswith(('ood.cifar10c', 'ood.pgd', 'sharp.', 'acr.'))]
    if not random_cols: pytest.skip('no random stage is built yet')
    assert not a[random_cols].equals(b[random_cols])


@pytest.mark.parametrize('frac, sig', [(0.15, signal.SIGKILL), (0.3, signal.SIGINT), (0.45, signal.SIGKILL),
                                        (0.6, signal.SIGINT), (0.8, signal.SIGKILL)])
def test_killed_run_resumes_exactly_once(reference, env, tmp_path, frac, sig):
    ref_out, dur = reference
    out = tmp_path/'out'
    p = subprocess.Popen([str(BIN/'robustness-study'), 'run', '--preset', 'smoke', '--out', str(out), '--quiet'],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(max(0.5, frac * dur))
    p.send_signal(sig); p.wait(timeout=120)
    r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(out/'results.csv')
    assert sorted(df.id) == sorted(pd.read_csv(ref_out/'results.csv').id)   # every model exactly once
    pd.testing.assert_frame_equal(metrics(ref_out/'results.csv'), metrics(out/'results.csv'))


def test_second_run_on_same_folder_refuses(reference, env, tmp_path):
    out = tmp_path/'out'
    p = subprocess.Popen([str(BIN/'robustness-study'), 'run', '--preset', 'smoke', '--out', str(out), '--quiet'],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if (out/'.lock').exists() and 'pid' in (out/'.lock').read_text(): break
            time.sleep(0.05)
        r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
        assert r.returncode == 2 and 'another robustness-study run' in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        p.wait(timeout=600)
    assert p.returncode == 0
    assert len(pd.read_csv(out/'results.csv')) == 2


def test_ray_backend_matches_local(reference, env, tmp_path):
    pytest.importorskip('ray')
    out, _ = reference
    e = dict(env, RAY_ADDRESS='', RAY_DISABLE_USAGE_STATS='1')
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'ray', '--backend', 'ray', '--jobs', '2', '--quiet', env=e)
    assert r.returncode == 0, r.stderr[-3000:]
    # two Ray tasks share the 2 cores with one torch thread each, while the local run uses two threads per model:
    # float reductions then differ in the last digits, so values are compared to 1e-6 absolute / 1e-4 relative
    pd.testing.assert_frame_equal(metrics(out/'results.csv'), metrics(tmp_path/'ray'/'results.csv'), atol=1e-6, rtol=1e-4)
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'ray1', '--backend', 'ray', '--jobs', '1', '--quiet', env=e)
    assert r.returncode == 0, r.stderr[-3000:]
    pd.testing.assert_frame_equal(metrics(out/'results.csv'), metrics(tmp_path/'ray1'/'results.csv'))  # same threads: identical
