"""Bad input, damaged artifacts and missing data sets: one clear line on stderr, exit status 2, nothing overwritten.

Data-root problems are built from a tiny fake CIFAR-10 (`write_fake_cifar`) so they run in seconds.
"""
import json, os, pickle, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import cli, one_line_error
from robustness_study.data import write_fake_cifar, CLASSES


@pytest.fixture
def fake_root(tmp_path):
    return write_fake_cifar(tmp_path/'data', n_per_class=30)


def _train(env, root, tmp_path):
    return cli('train', '--preset', 'smoke', '--data-dir', root, '--out', tmp_path/'out', '--quiet', env=env)


def test_missing_root(env, tmp_path):
    one_line_error(_train(env, tmp_path/'nope', tmp_path), 'does not exist')


def test_empty_root(env, tmp_path):
    (tmp_path/'empty').mkdir()
    one_line_error(_train(env, tmp_path/'empty', tmp_path), 'CIFAR-10 not found')


def test_wrong_layout(env, fake_root, tmp_path):
    shutil.move(str(fake_root/'cifar10-jpeg'/'train'/'cat'), str(fake_root/'cifar10-jpeg'/'train'/'kitten'))
    one_line_error(_train(env, fake_root, tmp_path), 'missing class folder')


def test_empty_class_folder(env, fake_root, tmp_path):
    for f in (fake_root/'cifar10-jpeg'/'train'/'dog').iterdir(): f.unlink()
    one_line_error(_train(env, fake_root, tmp_path), 'class folder is empty')


def test_truncated_jpeg(env, fake_root, tmp_path):
    f = sorted((fake_root/'cifar10-jpeg'/'train'/'frog').iterdir())[0]
    f.write_bytes(f.read_bytes()[:40])
    one_line_error(_train(env, fake_root, tmp_path), 'cannot decode')


def test_wrong_image_size(env, fake_root, tmp_path):
    f = sorted((fake_root/'cifar10-jpeg'/'train'/'ship').iterdir())[0]
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(f)
    one_line_error(_train(env, fake_root, tmp_path), 'expected 32x32')


def test_labels_out_of_range(env, tmp_path):
    root = write_fake_cifar(tmp_path/'data', n_per_class=30, kind='batches')
    p = root/'cifar-10-batches-py'/'data_batch_1'
    d = pickle.loads(p.read_bytes()); d['labels'][0] = 12; p.write_bytes(pickle.dumps(d))
    one_line_error(_train(env, root, tmp_path), 'labels must be in 0..9')


@pytest.mark.parametrize('args, msg', [
    (['--eps', '0'], 'must be positive'), (['--eps', '-0.1'], 'must be positive'), (['--eps', '2'], 'eps must be in (0, 1]'),
    (['--sigmas', '0.1', '-1'], 'must be positive'), (['--sigmas', 'nan'], 'must be positive'),
    (['--corruptions', 'rain'], 'unknown corruption'), (['--attacks', 'laser'], 'unknown attack'),
    (['--threads', '0'], 'must be positive'),
])
def test_bad_run_settings(env, tmp_path, args, msg):
    r = cli('run', '--preset', 'smoke', '--out', tmp_path/'out', *args, env=env)
    one_line_error(r, msg)
    assert not (tmp_path/'out'/'results.csv').exists()


def test_bad_epochs(env, tmp_path):
    one_line_error(cli('train', '--preset', 'smoke', '--epochs', '0', '--out', tmp_path/'o', env=env), 'must be positive')
    one_line_error(cli('train', '--preset', 'smoke', '--epochs', '-2', '--out', tmp_path/'o', env=env), 'must be positive')


def test_corrupt_checkpoint_is_refused_not_used(env, session_cache, tmp_path):
    from robustness_study.models import zoo
    r = cli('train', '--preset', 'smoke', '--out', tmp_path/'out', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = zoo('smoke')[0]
    pt = Path(session_cache)/'checkpoints'/f"{cfg['id']}.pt"
    good = pt.read_bytes()
    try:
        b = bytearray(good); b[len(b) // 2] ^= 0xFF; pt.write_bytes(bytes(b))
        r = cli('status', '--preset', 'smoke', env=env)
        assert r.returncode == 0 and 'damaged' in r.stdout.splitlines()[0]   # a corrupt checkpoint is named, and never used
    finally:
        pt.write_bytes(good)


def test_damaged_table_is_rebuilt_from_model_files(env, tmp_path):
    out = tmp_path/'out'
    args = ('run', '--preset', 'smoke', '--out', out, '--stages', 'train', 'perf', '--quiet')
    assert cli(*args, env=env).returncode == 0
    good = (out/'results.csv').read_text()
    from robustness_study.results import read_results
    (out/'results.csv').write_text(good[:len(good) // 2])          # truncated mid-line
    with pytest.raises(ValueError, match='damaged table'): read_results(out/'results.csv')
    assert cli(*args, env=env).returncode == 0
    assert (out/'results.csv').read_text() == good                  # repaired from models/*.json
    df = pd.read_csv(out/'results.csv'); df = df.drop(columns=[df.columns[-1]])   # a missing column...
    df.to_csv(out/'results.csv', index=False)
    assert cli(*args, env=env).returncode == 0
    assert (out/'results.csv').read_text() == good                  # ...is repaired the same way


def test_damaged_model_file(env, tmp_path):
    out = tmp_path/'out'
    args = ('run', '--preset', 'smoke', '--out', out, '--stages', 'train', '--quiet')
    assert cli(*args, env=env).returncode == 0
    f = sorted((out/'models').glob('*.json'))[0]; f.write_text(f.read_text()[:50])
    before = (out/'results.csv').read_bytes()
    one_line_error(cli(*args, env=env), 'is damaged')
    assert (out/'results.csv').read_bytes() == before               # nothing overwritten


def test_unavailable_sets_are_recorded_and_run_continues(env, tmp_path):
    "A data root without CIFAR-10.1 and without frost images: the run finishes and says what was missing."
    cache = tmp_path/'cache'; src = Path(env['ROBUSTNESS_STUDY_CACHE'])/'cifar10'
    if src.exists(): shutil.copytree(src, cache/'cifar10')
    env = dict(env, ROBUSTNESS_STUDY_CACHE=str(cache))   # no generated frost set cached from earlier runs
    root = tmp_path/'data'; root.mkdir()
    (root/'cifar10-jpeg').symlink_to(Path(env['ROBUSTNESS_STUDY_DATA'])/'cifar10-jpeg')
    out = tmp_path/'out'
    r = cli('run', '--preset', 'smoke', '--data-dir', root, '--out', out, '--stages', 'cifar10_1', 'cifar10c',
            '--corruptions', 'frost', 'fog', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(out/'results.csv')
    assert df['run.unavailable'].str.contains('cifar10_1').all()
    assert df['run.unavailable'].str.contains('cifar10c.frost').all()
    assert 'ood.cifar10c.fog.accuracy' in df.columns and 'ood.cifar10c.frost.accuracy' not in df.columns
    assert 'unavailable' in r.stdout
