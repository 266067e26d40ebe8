"""What the benchmark scripts share: the atomic, world-readable table writer, CIFAR-10 subsets as tensors, and the
briefly trained CustomCNN(depth=3, width=32) that the attack and average-case benchmarks measure.

The scripts import this module as `benchio` (Python puts the script's folder, bench/, first on sys.path) and the
package as `robustness_study`; they do not import each other. torch and the package are imported inside the
functions, so the scripts that spawn fresh timing processes (bench_malloc.py, bench_parallel.py) stay light.
"""
from __future__ import annotations
import hashlib, io, json, os, time
from pathlib import Path

# ------------------------------------------------------------------------------------------------ output
def write_text(path: str | os.PathLike, text: str) -> Path:
    "Write `text` to `path` atomically (temporary file + rename, `robustness_study.data.atomic_write_bytes`), mode 0644."
    from robustness_study.data import atomic_write_bytes
    path = Path(path)
    atomic_write_bytes(path, text.encode())
    os.chmod(path, 0o644)  # mkstemp makes the temporary file behind the rename private (0600)
    return path

def write_json(path: str | os.PathLike, obj) -> Path:
    "`obj` as indented JSON (numpy / torch scalars become Python numbers, anything else its `str`), written with `write_text`."
    return write_text(path, json.dumps(obj, indent=1, default=lambda o: o.item() if hasattr(o, 'item') else str(o)) + '\n')

# ------------------------------------------------------------------------------------------------ data
def cifar_tensors(n: int, split: str = 'train', seed: int = 0):
    "A class-balanced CIFAR-10 subset (`cifar10_subset(n, seed, split)`) as (float NCHW images in [0, 1], int64 labels)."
    import torch
    from robustness_study.data import cifar10_subset, to_nchw
    x, y = cifar10_subset(n, seed=seed, split=split)
    return to_nchw(x), torch.from_numpy(y)

# ------------------------------------------------------------------------------------------------ the benchmark CNN
# Two training budgets of the same 0.55 M-parameter CustomCNN(depth=3, width=32). Keys (see `trained_cnn`):
# `seed` seeds the initialisation, batch order and flips; `data_seed` (default: `seed`) picks the class-balanced
# training subset of `n_train` images; exactly one of `steps` (batches of `bs` drawn with replacement, constant
# learning rate) and `epochs` (a fresh permutation per epoch, one-cycle learning rate) is set, the other absent or None.
ATTACK_CNN = dict(arch='cnn', depth=3, width=32, dropout=0.0, n_train=10000, data_seed=0, steps=600, bs=64, lr=2e-3, wd=0.0,
                  optimizer='adam', flip=False, seed=0)   # bench_deepfool.py, bench_attacks.py: DeepFool needs several steps
AVGCASE_CNN = dict(arch='cnn', depth=3, width=32, dropout=0.0, n_train=20000, epochs=10, bs=128, lr=2e-3, wd=5e-4,
                   optimizer='adamw', flip=True, seed=0)  # bench_avgcase.py: about 73% test accuracy

# six representative paper configs (arch, optimizer, lr, depth, width, dropout): the slowest learners (SGD at the low learning
# rate with dropout 0.5 at both depths), a fast CNN(3,32) with Adam, a middle CNN(2,32) with SGD, and two VGGs
REPRESENTATIVE = [('cnn', 'sgd', 0.02, 3, 16, 0.5), ('cnn', 'sgd', 0.02, 2, 16, 0.5), ('cnn', 'adam', 2e-3, 3, 32, 0.0),
                  ('cnn', 'sgd', 0.05, 2, 32, 0.25), ('vgg', 'adam', 1e-3, None, None, None), ('vgg', 'sgd', 0.05, None, None, None)]

def grid_key(cfg: dict) -> tuple:
    "A config's place in the paper grid: `(arch, optimizer, lr, depth, width, dropout)`."
    return (cfg['arch'], cfg['optimizer'], cfg['lr'], cfg.get('depth'), cfg.get('width'), cfg.get('dropout'))

def short_name(cfg: dict) -> str:
    "A readable name for a zoo config, e.g. `cnn-d3-w32-adam-0.002-do0`."
    return (f"cnn-d{cfg['depth']}-w{cfg['width']}-{cfg['optimizer']}-{cfg['lr']:g}-do{cfg['dropout']:g}" if cfg['arch'] == 'cnn'
            else f"vgg-{cfg['optimizer']}-{cfg['lr']:g}")

def config_key(cfg: dict) -> str:
    "Short hash of a training config: the name of its cached weights."
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]

def state_digest(model) -> str:
    "SHA-256 of a model's weights (its state dict's names, shapes, dtypes and bytes, in order)."
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        h.update(f'{k}:{tuple(v.shape)}:{v.dtype};'.encode()); h.update(v.numpy().tobytes())
    return h.hexdigest()

def _check_config(cfg: dict):
    if cfg.get('arch', 'cnn') != 'cnn': raise ValueError(f"trained_cnn trains CustomCNNs only, got arch={cfg['arch']!r}")
    if (cfg.get('steps') is None) == (cfg.get('epochs') is None): raise ValueError('give exactly one of steps and epochs (the other None)')
    if cfg['optimizer'] not in ('adam', 'adamw'): raise ValueError(f"optimizer must be 'adam' or 'adamw', got {cfg['optimizer']!r}")

def _batches(cfg: dict, n: int, gen):
    "Index tensors of the training batches: `epochs` permutations, or `steps` draws with replacement."
    import torch
    bs = cfg['bs']
    if cfg.get('epochs') is not None:
        for _ in range(cfg['epochs']):
            perm = torch.randperm(n, generator=gen)
            for i in range(n // bs): yield perm[i * bs:(i + 1) * bs]
    else:
        for _ in range(cfg['steps']): yield torch.randint(0, n, (bs,), generator=gen)

def _load_cached(path: Path, model) -> bool:
    "Load `path`'s weights into `model` if the file is readable and they match their stored digest."
    import pickle, torch
    try:
        blob = torch.load(path, map_location='cpu')
        model.load_state_dict(blob['state'])
        return state_digest(model) == blob['sha256']
    except (OSError, EOFError, RuntimeError, KeyError, TypeError, ValueError, pickle.UnpicklingError): return False

def trained_cnn(cfg: dict = AVGCASE_CNN, # training config (`ATTACK_CNN`, `AVGCASE_CNN`, or one of them with other values)
                verbose: bool = False, # print the training loss (per epoch, or per 100 steps) while training
                **overrides, # replace entries of `cfg`, e.g. `steps=300, seed=1`
               ):
    """`(model in eval mode, 'cached' or 'trained in N s')`: the CustomCNN of `cfg | overrides`, loaded from
    `cache_dir('bench')/cnn_<config_key>.pt` when that file's weights match their stored digest, else trained on the CPU
    with a plain torch loop (channels-last batches, on the calling thread settings) and cached (atomic write)."""
    import torch
    from robustness_study.data import cache_dir, atomic_write_bytes
    from robustness_study.models import CustomCNN
    cfg = {**cfg, **overrides}; _check_config(cfg)
    path = cache_dir('bench')/f'cnn_{config_key(cfg)}.pt'
    def fresh():
        torch.manual_seed(cfg['seed']); return CustomCNN(cfg['depth'], cfg['width'], cfg['dropout'])
    model = fresh()
    if path.exists() and _load_cached(path, model): return model.eval(), 'cached'
    model = fresh()
    x, y = cifar_tensors(cfg['n_train'], 'train', cfg.get('data_seed', cfg['seed']))
    opt_cls = torch.optim.AdamW if cfg['optimizer'] == 'adamw' else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=cfg['lr'], weight_decay=cfg['wd'])
    per_epoch = len(x) // cfg['bs']
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, cfg['lr'], total_steps=cfg['epochs'] * per_epoch)
             if cfg.get('epochs') is not None else None)
    every = per_epoch if sched is not None else 100
    gen = torch.Generator().manual_seed(cfg['seed'])
    t0, tot = time.perf_counter(), 0.
    model.train()
    for step, idx in enumerate(_batches(cfg, len(x), gen), 1):
        xb, yb = x[idx], y[idx]
        if cfg['flip']:
            f = torch.rand(len(xb), generator=gen) < 0.5
            xb = torch.where(f[:, None, None, None], xb.flip(3), xb)
        loss = torch.nn.functional.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yb)
        opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
        if sched is not None: sched.step()
        if verbose and step % every == 0:
            print(f'{f"epoch {step // every}" if sched is not None else f"step {step}"}: loss {tot / every:.3f} '
                  f'({time.perf_counter() - t0:.0f} s)', flush=True)
            tot = 0.
    secs = time.perf_counter() - t0
    model.eval()
    buf = io.BytesIO(); torch.save({'state': model.state_dict(), 'sha256': state_digest(model), 'config': cfg}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return model, f'trained in {secs:.0f} s'

# ------------------------------------------------------------------------------------------------ zoo-config runs
RUN_FIELDS = ('arch', 'depth', 'width', 'dropout', 'optimizer', 'lr', 'epochs')
CKPT_FIELDS = ('train_acc', 'train_loss', 'test_acc', 'test_loss', 'n_test', 'train_seconds', 'threads')

def train_config(cfg: dict) -> float:
    "Train a zoo config into the checkpoint cache with one torch thread (the paper run's layout); the wall seconds. A worker for process pools."
    import torch
    from robustness_study.runenv import tune_malloc
    from robustness_study.training import train_model
    torch.set_num_threads(1); tune_malloc()
    t = time.time(); train_model(cfg, progress=False)
    return time.time() - t

def run_rows(cfgs: list[dict], kept=(), history: bool = False) -> list[dict]:
    "One row per finished run of `cfgs`: the config's fields and its checkpoint's numbers; a run not in this machine's cache keeps its row from `kept` (a committed table)."
    from robustness_study.training import load_checkpoint, CheckpointError
    out = []
    for c in cfgs:
        try: _, m = load_checkpoint(c)
        except CheckpointError: out += [r for r in kept if r['id'] == c['id']]; continue
        out.append({'model': short_name(c), 'id': c['id'], **{k: c.get(k) for k in RUN_FIELDS}, **{k: m.get(k) for k in CKPT_FIELDS},
                    **({'history': m.get('history')} if history else {})})
    return out
