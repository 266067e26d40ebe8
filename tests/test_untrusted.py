"""Untrusted files and hostile conditions: a data folder that tries to run code, damaged or wrongly shaped files, a full
disk, a stale cache, unusable output folders, too many threads, and a killed run. Each case is one line on stderr with
exit status 2 (or a documented recovery), and nothing is left on disk by a refused command.
"""
import errno, json, os, pickle, shutil, signal, subprocess, time, warnings
from pathlib import Path
from unittest import mock
import numpy as np
import pandas as pd
import pytest
from conftest import cli, one_line_error, BIN, ROOT
from robustness_study.data import write_fake_cifar, DataError


def _batches_root(tmp_path):
    return write_fake_cifar(tmp_path/'data', n_per_class=30, kind='batches')


class _Payload:
    "Unpickling this would create `marker` (the shape of a malicious pickle)."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


def test_crafted_pickle_runs_no_code(env, tmp_path):
    root, marker = _batches_root(tmp_path), tmp_path/'pwned'
    (root/'cifar-10-batches-py'/'test_batch').write_bytes(pickle.dumps({'data': _Payload(marker), 'labels': [0]}))
    r = cli('run', '--preset', 'smoke', '--data-dir', root, '--out', tmp_path/'out', '--quiet', env=env)
    one_line_error(r, 'test_batch')
    assert not marker.exists()                      # the payload never ran
    assert not (tmp_path/'out').exists()            # a refused run writes nothing


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'list', 'no_labels'])
def test_malformed_batch_is_one_line(env, tmp_path, damage):
    root = _batches_root(tmp_path); p = root/'cifar-10-batches-py'/'data_batch_1'
    good = p.read_bytes()
    p.write_bytes({'garbage': b'\x00not a pickle at all', 'truncated': good[:len(good) // 2],
                   'list': pickle.dumps([1, 2, 3]), 'no_labels': pickle.dumps({'data': np.zeros((2, 3072), np.uint8)})}[damage])
    one_line_error(cli('train', '--preset', 'smoke', '--data-dir', root, '--out', tmp_path/'out', '--quiet', env=env), 'data_batch_1')
    assert not (tmp_path/'out').exists()


def test_disk_full_is_one_line(env, tmp_path, monkeypatch, capsys):
    "A full disk (ENOSPC) while writing the cache or the results: one line naming the file, exit 2, no half-written file."
    from robustness_study.cli import main
    for k in ('ROBUSTNESS_STUDY_CACHE', 'ROBUSTNESS_STUDY_DATA'): monkeypatch.setenv(k, env[k])
    out = tmp_path/'out'
    with mock.patch('os.replace', side_effect=OSError(errno.ENOSPC, 'No space left on device')):
        rc = main(['run', '--preset', 'smoke', '--out', str(out), '--stages', 'train', '--quiet'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'No space left on device' in err[0], err
    assert not out.exists() or not [p for p in out.rglob('*') if p.is_file() and p.name != '.lock']


def test_edited_file_is_noticed_by_the_decoded_cache(tmp_path, monkeypatch):
    "The decoded-data cache is keyed by each file's size and modification time: an edited image is read again."
    from robustness_study.data import load_cifar10
    monkeypatch.setenv('ROBUSTNESS_STUDY_CACHE', str(tmp_path/'cache'))
    root = write_fake_cifar(tmp_path/'data', n_per_class=3)
    x, _ = load_cifar10('test', root)                      # decoded and cached
    f = sorted((root/'cifar10-jpeg'/'test'/'cat').iterdir())[0]
    f.write_bytes(b'\xff' * f.stat().st_size)              # same size, undecodable
    t = f.stat().st_mtime + 5; os.utime(f, (t, t))
    with pytest.raises(DataError, match='cannot decode'): load_cifar10('test', root)


def _private_env(env, tmp_path):
    "A cache of the test's own (decoded CIFAR-10 copied in), so damaging a checkpoint touches no other test."
    cache = tmp_path/'cache'; src = Path(env['ROBUSTNESS_STUDY_CACHE'])/'cifar10'
    if src.exists(): shutil.copytree(src, cache/'cifar10')
    return dict(env, ROBUSTNESS_STUDY_CACHE=str(cache))


def test_unreadable_checkpoint_with_matching_checksum_is_retrained(env, tmp_path):
    from robustness_study.models import zoo
    from robustness_study.data import sha256_file
    env = _private_env(env, tmp_path); out = tmp_path/'out'
    assert cli('run', '--preset', 'smoke', '--out', out, '--stages', 'train', '--quiet', env=env).returncode == 0
    cfg = zoo('smoke')[0]; ck = Path(env['ROBUSTNESS_STUDY_CACHE'])/'checkpoints'
    pt, js = ck/f"{cfg['id']}.pt", ck/f"{cfg['id']}.json"
    pt.write_bytes(b'not a torch file'); meta = json.loads(js.read_text()); meta['sha256'] = sha256_file(pt); js.write_text(json.dumps(meta))
    r = cli('run', '--preset', 'smoke', '--out', out, '--stages', 'train', 'perf', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sum('retraining' in l and cfg['id'] in l for l in r.stdout.splitlines()) == 1, r.stdout   # said once, in one line
    assert pt.read_bytes() != b'not a torch file'     # replaced by the retrained checkpoint
    r = cli('status', '--preset', 'smoke', env=env)
    assert r.stdout.splitlines()[0].split()[4] == 'trained', r.stdout


def test_wrongly_shaped_model_record(env, tmp_path):
    out = tmp_path/'out'
    assert cli('run', '--preset', 'smoke', '--out', out, '--stages', 'train', '--quiet', env=env).returncode == 0
    f = sorted((out/'models').glob('*.json'))[0]
    f.write_text(json.dumps({'id': f.stem, 'cfg': {}, 'stages': {'train': 'x'}}))
    before = (out/'results.csv').read_bytes()
    one_line_error(cli('run', '--preset', 'smoke', '--out', out, '--stages', 'train', '--quiet', env=env), 'is damaged')
    one_line_error(cli('status', '--preset', 'smoke', '--out', out, env=env), 'is damaged')
    assert (out/'results.csv').read_bytes() == before


def test_unusable_out_and_data_folders(env, tmp_path):
    f = tmp_path/'file'; f.write_text('x')
    one_line_error(cli('run', '--preset', 'smoke', '--out', f, '--quiet', env=env), 'not a folder')
    one_line_error(cli('run', '--preset', 'smoke', '--out', f/'sub', '--quiet', env=env), 'cannot create')
    one_line_error(cli('run', '--preset', 'smoke', '--out', '/proc/robustness-study-nope', '--quiet', env=env), 'cannot create')
    one_line_error(cli('status', '--preset', 'smoke', '--out', f, env=env), 'not a folder')
    one_line_error(cli('run', '--preset', 'smoke', '--data-dir', f, '--out', tmp_path/'o', '--quiet', env=env), 'is not a folder')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['file']


@pytest.mark.parametrize('damage', ['empty', 'truncated_jpeg'])
def test_refused_run_writes_nothing(env, tmp_path, damage):
    root = tmp_path/'data'
    if damage == 'empty': root.mkdir()
    else:
        root = write_fake_cifar(root, n_per_class=30)
        f = sorted((root/'cifar10-jpeg'/'test'/'frog').iterdir())[0]; f.write_bytes(f.read_bytes()[:40])
    r = cli('run', '--preset', 'smoke', '--data-dir', root, '--out', tmp_path/'out', '--quiet', env=dict(env, ROBUSTNESS_STUDY_CACHE=str(tmp_path/'c')))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path/'out').exists()


def test_compare_edge_cases(env, tmp_path):
    t = pd.DataFrame({'id': ['a', 'b'], 'perf.x': [np.inf, 1.0]})
    t.to_csv(tmp_path/'t.csv', index=False)
    r = cli('compare', tmp_path/'t.csv', tmp_path/'t.csv', env=env)
    assert r.returncode == 0 and r.stderr == '', r.stderr              # identical, no numpy warning
    (tmp_path/'bad.csv').write_bytes(b'id,x\n\xff\xfe,1\n')
    one_line_error(cli('compare', tmp_path/'t.csv', tmp_path/'bad.csv', env=env), 'bad.csv')


def test_results_files_are_world_readable(env, tmp_path):
    out = tmp_path/'out'
    assert cli('run', '--preset', 'smoke', '--out', out, '--stages', 'train', '--quiet', env=env).returncode == 0
    for p in [out/'results.csv', out/'run_history.json', out/'last_run.json', *(out/'models').glob('*.json')]:
        assert p.stat().st_mode & 0o777 == 0o644, (p, oct(p.stat().st_mode))


def test_killed_run_records_its_wall_time(env, tmp_path):
    "A run killed with SIGKILL after its first stage still has its wall time in the run history."
    out = tmp_path/'out'; env = _private_env(env, tmp_path)
    p = subprocess.Popen([str(BIN/'robustness-study'), 'run', '--preset', 'smoke', '--out', str(out), '--quiet'], env=env, cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 600 and not any(json.loads(f.read_text())['stages'].get('perf') for f in (out/'models').glob('*.json')):
            time.sleep(0.2)
    finally: os.killpg(p.pid, signal.SIGKILL); p.wait()
    hist = json.loads((out/'run_history.json').read_text())
    assert len(hist) == 1 and hist[0]['wall_seconds'] > 0, hist
