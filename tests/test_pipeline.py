"""End-to-end `smoke` runs through the CLI: resume after kills, lock, determinism, Ray backend.

All runs share one checkpoint cache (the session cache), so models are trained once; each run writes to its
own output folder. Full smoke runs are the expensive part of the suite, so tests share them through fixtures.
"""
import io, json, os, random, re, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import cli, BIN, ROOT
from robustness_study.results import is_timing


def metric_csv(path):
    "The results table as CSV text without timing and diagnostic columns (for byte-level comparison)."
    df = pd.read_csv(path)
    return df[[c for c in df.columns if not is_timing(c)]].to_csv(index=False)


def start(out, env, *extra):
    return subprocess.Popen([str(BIN/'robustness-study'), 'run', '--preset', 'smoke', '--out', str(out), '--quiet', *extra],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope='module')
def reference(tmp_path_factory, session_cache):
    "A complete uninterrupted smoke run (also trains the two smoke models into the session cache)."
    env = dict(os.environ, ROBUSTNESS_STUDY_CACHE=str(session_cache), PYTHONUNBUFFERED='1')
    out = tmp_path_factory.mktemp('ref')/'out'
    t = time.time(); r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, time.time() - t


KILLS = [(0.2, signal.SIGKILL), (0.35, signal.SIGINT), (0.5, signal.SIGKILL), (0.65, signal.SIGINT), (0.8, signal.SIGKILL)]


@pytest.fixture(scope='module')
def resumed(reference, tmp_path_factory, session_cache):
    """One output folder, five interruptions (SIGKILL and SIGINT at different moments), then a final run.
    Each restart resumes from the per-model files, so the points fall in different stages and models."""
    env = dict(os.environ, ROBUSTNESS_STUDY_CACHE=str(session_cache), PYTHONUNBUFFERED='1')
    _, dur = reference
    out = tmp_path_factory.mktemp('killed')/'out'
    log = []
    for frac, sig in KILLS:
        p = start(out, env)
        time.sleep(max(1.0, frac * dur))
        finished = p.poll() is not None
        p.send_signal(sig); p.wait(timeout=120)
        log.append({'frac': frac, 'signal': sig.name, 'finished_before_kill': finished,
                    'models_files': len(list((out/'models').glob('*.json'))) if (out/'models').exists() else 0})
        for f in (out/'models').glob('*.json') if (out/'models').exists() else []:
            json.loads(f.read_text())   # never a half-written model file
        if (out/'results.csv').exists(): pd.read_csv(out/'results.csv')   # never a half-written table
    r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, log


def test_smoke_table(reference):
    out, _ = reference
    df = pd.read_csv(out/'results.csv')
    assert len(df) == 2 and df.id.is_unique
    for prefix in ('cfg.', 'train.', 'perf.', 'norm.', 'sharp.', 'acr.', 'ood.cifar10c', 'rob.cifar10c', 'ood.pgd', 'rob.square',
                   'lf.heldout.', 'lf.cifar10c.ac', 'lf.pgd.atc_mc', 'lf.transfer.doc', 'ood.transfer.sur3.accuracy', 'ood.cw.success_rate'):
        assert any(c.startswith(prefix) for c in df.columns), prefix
    assert df['run.unavailable'].str.contains('cifar10_1').all()   # offline: recorded, not faked
    run = json.loads((out/'last_run.json').read_text())
    assert run['models'] == 2 and 'attacks' in run['stage_seconds_total']


def test_prediction_files(reference):
    "Every model has a prediction file with the shared sets, readable as one stacked array per set."
    from robustness_study.results import read_predictions, read_prediction_file
    out, _ = reference
    ids = list(pd.read_csv(out/'results.csv').id)
    preds, labels = read_predictions(out, ids)
    assert {'clean', 'transfer.sur1', 'transfer.sur3', 'cifar10c.fog.s1'} <= set(preds) and not {'pgd', 'fgsm', 'transfer'} & set(preds)
    assert preds['clean'].shape == (2, len(labels['clean'])) and preds['clean'].dtype.name == 'uint8'
    rec = json.loads((out/'models'/f'{ids[0]}.json').read_text())
    assert set(rec['stages']['perf']['preds']) == {'clean', 'labels.clean'}
    assert sorted(k for st in rec['stages'].values() for k in st['preds']) == sorted(read_prediction_file(out, ids[0]))


def test_killed_runs_resume_each_model_exactly_once(reference, resumed):
    out, log = resumed
    df = pd.read_csv(out/'results.csv')
    assert sorted(df.id) == sorted(pd.read_csv(reference[0]/'results.csv').id) and df.id.is_unique
    assert len(log) == 5 and {l['signal'] for l in log} == {'SIGKILL', 'SIGINT'}


def test_same_seed_gives_byte_identical_table(reference, resumed):
    "The interrupted-and-resumed run recomputed everything from scratch with seed 0: same bytes as the reference."
    assert metric_csv(reference[0]/'results.csv') == metric_csv(resumed[0]/'results.csv')
    for f in (reference[0]/'preds').glob('*.npz'):     # and the same predicted labels, byte for byte
        assert f.read_bytes() == (resumed[0]/'preds'/f.name).read_bytes(), f.name


def test_lock_and_different_seed(reference, env, tmp_path):
    "A second run on a folder in use refuses; a run with another seed changes the random stages."
    out = tmp_path/'s1'
    p = start(out, env, '--seed', '1')
    try:
        for _ in range(400):
            if (out/'.lock').exists() and 'pid' in (out/'.lock').read_text(): break
            time.sleep(0.05)
        r = cli('run', '--preset', 'smoke', '--out', out, '--quiet', env=env)
        assert r.returncode == 2 and 'another robustness-study run' in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        p.wait(timeout=900)
    assert p.returncode == 0, p.stderr.read()[-2000:]
    a, b = pd.read_csv(reference[0]/'results.csv'), pd.read_csv(out/'results.csv')
    assert len(b) == 2 and (b.seed == 1).all()
    random_cols = [c for c in a.columns if c.startswith(('ood.cifar10c', 'ood.pgd', 'sharp.sigma', 'acr.'))]
    assert random_cols and not a[random_cols].equals(b[random_cols])
    assert a['train.test_acc'].equals(b['train.test_acc'])   # models themselves do not depend on the run seed


def test_ray_backend_matches_local(reference, env, tmp_path):
    pytest.importorskip('ray')
    out, _ = reference
    e = dict(env, RAY_ADDRESS='', RAY_DISABLE_USAGE_STATS='1')
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'ray', '--backend', 'ray', '--jobs', '2', '--quiet', env=e)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = pd.read_csv(out/'results.csv'), pd.read_csv(tmp_path/'ray'/'results.csv')
    keep = [c for c in a.columns if not is_timing(c) and c != 'code_version']
    # two Ray tasks share the 2 cores with one torch thread each, while the local run uses two threads per model:
    # float reductions then differ in the last digits, so values are compared to 1e-6 absolute / 1e-4 relative
    pd.testing.assert_frame_equal(a[keep], b[keep], atol=1e-6, rtol=1e-4)
    # the run log counts the workers' busy time: positive, and at most the wall time of its two slots
    run = json.loads((tmp_path/'ray'/'run_history.json').read_text())[-1]
    assert run['models_done'] == 2 and run['jobs'] == 2
    assert 0 < run['busy_seconds'] <= 2 * run['wall_seconds'] + 1
    assert 'workers busy' in r.stdout
    # the tasks' predicted labels reach the results folder: the same sets as the local run, and the same labels but for
    # the rare image whose top two logits are closer than the float differences above
    from robustness_study.results import read_predictions, preds_file
    ids = list(a.id)
    pa, pb = read_predictions(out, ids)[0], read_predictions(tmp_path/'ray', ids)[0]
    assert set(pa) == set(pb) and 'clean' in pb
    assert min((pa[k] == pb[k]).mean() for k in pa) >= 0.99
    # a lost prediction file is noticed, and only the stages that wrote it run again, with the same labels
    f = preds_file(tmp_path/'ray', ids[0]); saved, table = f.read_bytes(), metric_csv(tmp_path/'ray'/'results.csv'); f.unlink()
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'ray', '--backend', 'ray', '--jobs', '2', '--quiet', env=e)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'whose predicted labels are not on disk' in r.stdout and '1 of 2 models already finished' in r.stdout, r.stdout
    assert f.read_bytes() == saved
    assert metric_csv(tmp_path/'ray'/'results.csv') == table   # the recomputed stages give the same values


def test_ray_trains_models_while_surrogates_train(env, tmp_path):
    """On a cache without the transfer surrogates, a slot they leave free trains the next model's checkpoint, and that model's
    full task loads it instead of training again (its train stage takes less time than its recorded training); the run
    counts the training-only tasks' busy time."""
    pytest.importorskip('ray')
    cache = tmp_path/'cache'; cache.mkdir()
    decoded = Path(env['ROBUSTNESS_STUDY_CACHE'])/'cifar10'
    if decoded.is_dir(): (cache/'cifar10').symlink_to(decoded)   # the decoded images only: no checkpoint
    e = dict(env, ROBUSTNESS_STUDY_CACHE=str(cache), RAY_ADDRESS='', RAY_DISABLE_USAGE_STATS='1')
    out = tmp_path/'out'
    r = cli('run', '--preset', 'smoke', '--out', out, '--backend', 'ray', '--jobs', '4', '--quiet', env=e)   # 3 surrogates, 4 slots
    assert r.returncode == 0, r.stderr[-3000:]
    pre = re.findall(r'model (\w+) training while the surrogates finish', r.stdout)
    assert pre, r.stdout
    for i in pre:
        assert f'model {i} started (ray)' in r.stdout
        train = json.loads((out/'models'/f'{i}.json').read_text())['stages']['train']
        assert train['seconds'] < train['values']['diag.train_seconds'], train   # loaded, not trained again
    run = json.loads((out/'run_history.json').read_text())[-1]
    assert run['models_done'] == 2 and 0 < run['busy_seconds'] <= 4 * run['wall_seconds'] + 1


def wait_for_line(p, text, timeout=600):
    "Read a process's stdout until a line contains `text`; returns the lines read."
    lines, t0 = [], time.time()
    while time.time() - t0 < timeout:
        line = p.stdout.readline()
        if not line and p.poll() is not None: break
        lines.append(line)
        if text in line: return lines
    raise AssertionError(f'{text!r} was never printed; last lines: {lines[-20:]}')


def test_first_interrupt_finishes_the_model_in_flight(reference, env, tmp_path):
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group, so Ray's own services get it too) during a
    one-slot Ray run: the model in flight finishes and is saved, the next one never starts, the exit status is 130, the
    run log counts the wall time up to the stop, and a rerun does only the other model."""
    pytest.importorskip('ray')
    e = dict(env, RAY_ADDRESS='', RAY_DISABLE_USAGE_STATS='1')
    out = tmp_path/'drain'
    args = ['run', '--preset', 'smoke', '--out', str(out), '--quiet', '--backend', 'ray', '--jobs', '1']
    p = subprocess.Popen([str(BIN/'robustness-study'), *args], env=e, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = wait_for_line(p, 'started (ray)')
        os.killpg(p.pid, signal.SIGINT)
        so, se = p.communicate(timeout=600)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
    so = ''.join(lines) + so
    assert p.returncode == 130, se[-3000:]
    assert 'finishing the work in flight' in so and 'interrupted; finished models are saved' in se
    assert so.count('started (ray)') == 1                        # no new model after the interrupt
    full = set(json.loads(next((reference[0]/'models').glob('*.json')).read_text())['stages'])
    recs = [json.loads(f.read_text()) for f in (out/'models').glob('*.json')]
    assert len(recs) == 1 and set(recs[0]['stages']) == full     # the model in flight finished every stage
    assert len(pd.read_csv(out/'results.csv')) == 1
    run = json.loads((out/'run_history.json').read_text())[-1]
    assert run['models_done'] == 1 and run['wall_seconds'] > 0 and run['busy_seconds'] > 0
    r = cli(*args, env=e)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '1 of 2 models already finished' in r.stdout and r.stdout.count('started (ray)') == 1
    assert len(pd.read_csv(out/'results.csv')) == 2 and len(json.loads((out/'run_history.json').read_text())) == 2
