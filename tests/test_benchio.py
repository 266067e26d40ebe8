"""The benchmark scripts' shared module (bench/benchio.py): atomic, world-readable, numpy-tolerant JSON; CIFAR-10
subsets as tensors; the cached benchmark CNN. Also checks that the scripts share code only through it."""
import ast, importlib.util, json, os, re, stat
from pathlib import Path
import numpy as np, pytest, torch

BENCH = Path(__file__).resolve().parent.parent/'bench'
_spec = importlib.util.spec_from_file_location('benchio', BENCH/'benchio.py')
benchio = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(benchio)
write_json, write_text = benchio.write_json, benchio.write_text

def test_write_json_numpy_and_mode(tmp_path):
    p = write_json(tmp_path/'sub'/'r.json', dict(a=np.float32(0.5), b=np.int64(3), rows=[1, 2]))
    assert json.loads(p.read_text()) == dict(a=0.5, b=3, rows=[1, 2])
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert [q.name for q in p.parent.iterdir()] == ['r.json']  # no temporary file left behind

def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    "A write that dies before the rename (here: fsync fails) leaves the previous table intact and no temporary file."
    p = write_text(tmp_path/'r.json', '{"old": 1}\n')
    def boom(fd): raise OSError('disk full')
    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(OSError, match='disk full'): write_json(p, dict(new=2))
    assert p.read_text() == '{"old": 1}\n'
    assert [q.name for q in tmp_path.iterdir()] == ['r.json']

# ------------------------------------------------------------------------------------------------ data and model
@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    "A tiny fake CIFAR-10 (30 images per split) and a private cache."
    from robustness_study.data import write_fake_cifar
    monkeypatch.setenv('ROBUSTNESS_STUDY_DATA', str(write_fake_cifar(tmp_path/'data', n_per_class=3)))
    monkeypatch.setenv('ROBUSTNESS_STUDY_CACHE', str(tmp_path/'cache'))
    return tmp_path/'cache'/'bench'

TINY = dict(depth=1, width=4, n_train=20, bs=4)   # seconds, not minutes

def test_cifar_tensors(fake_data):
    x, y = benchio.cifar_tensors(20, 'test', seed=1)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [2] * 10

@pytest.mark.parametrize('base, over', [(benchio.ATTACK_CNN, dict(steps=3)), (benchio.AVGCASE_CNN, dict(epochs=2))])
def test_trained_cnn_trains_then_caches(fake_data, base, over):
    torch.set_num_threads(1)
    m, how = benchio.trained_cnn(base, **TINY, **over)
    assert how.startswith('trained in') and not m.training
    assert [p.name for p in fake_data.iterdir()] == [f'cnn_{benchio.config_key({**base, **TINY, **over})}.pt']
    m2, how2 = benchio.trained_cnn(base, **TINY, **over)
    assert how2 == 'cached' and benchio.state_digest(m2) == benchio.state_digest(m)
    # training is deterministic in the config: a retrain gives the same weights; another seed gives others
    (fake_data/f'cnn_{benchio.config_key({**base, **TINY, **over})}.pt').unlink()
    assert benchio.state_digest(benchio.trained_cnn(base, **TINY, **over)[0]) == benchio.state_digest(m)
    m3, how3 = benchio.trained_cnn(base, **TINY, **over, seed=1)
    assert how3.startswith('trained in') and benchio.state_digest(m3) != benchio.state_digest(m)

def test_trained_cnn_damaged_cache_retrains(fake_data):
    torch.set_num_threads(1)
    m, _ = benchio.trained_cnn(benchio.ATTACK_CNN, **TINY, steps=2)
    (path,) = fake_data.iterdir()
    path.write_bytes(path.read_bytes()[:100])   # truncated
    m2, how = benchio.trained_cnn(benchio.ATTACK_CNN, **TINY, steps=2)
    assert how.startswith('trained in') and benchio.state_digest(m2) == benchio.state_digest(m)

def test_trained_cnn_config_checks():
    with pytest.raises(ValueError, match='exactly one of steps and epochs'): benchio.trained_cnn(benchio.ATTACK_CNN, epochs=1)
    with pytest.raises(ValueError, match='exactly one of steps and epochs'): benchio.trained_cnn(benchio.AVGCASE_CNN, epochs=None)
    with pytest.raises(ValueError, match='CustomCNNs only'): benchio.trained_cnn(benchio.AVGCASE_CNN, arch='vgg')

# ------------------------------------------------------------------------------------------------ the scripts
def test_scripts_share_code_only_through_benchio():
    "No sys.path edits in bench/; scripts import benchio and no other script (bench_avgcase.py also its avgcase_baseline)."
    local = {p.stem for p in BENCH.glob('*.py')}
    for p in BENCH.glob('*.py'):
        src = p.read_text()
        assert not re.search(r'sys\.path\s*(\.(insert|append|extend)|\[|\+=|=)', src), f'{p.name} edits sys.path'
        mods = set()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import): mods |= {a.name.split('.')[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0: mods.add(node.module.split('.')[0])
        allowed = (set() if p.name in ('benchio.py', 'avgcase_baseline.py') else
                   {'benchio', 'avgcase_baseline'} if p.name == 'bench_avgcase.py' else {'benchio'})
        assert mods & local <= allowed, f'{p.name} imports {sorted(mods & local - allowed)}'
