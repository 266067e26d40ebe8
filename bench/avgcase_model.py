"""A trained CustomCNN(depth=3, width=32) (0.55 M parameters) for the average-case robustness benchmark.

Trained inline with a plain torch loop on a class-balanced CIFAR-10 subset; the weights are cached under
`robustness_study.data.cache_dir('bench')`, keyed by the training config, so reruns only load them.
"""
from __future__ import annotations
import hashlib, io, json, time
import numpy as np, torch
from robustness_study.data import cifar10_subset, cache_dir, atomic_write_bytes
from robustness_study.models import CustomCNN

CONFIG = dict(arch='cnn', depth=3, width=32, dropout=0.0, n_train=20000, epochs=10, bs=128, lr=2e-3, wd=5e-4,
              optimizer='adamw', flip=True, seed=0)

def _key(cfg): return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]

def trained_cnn(cfg: dict = CONFIG, verbose: bool = True) -> torch.nn.Module:
    "The benchmark CNN in eval mode: loaded from the cache, or trained (a few minutes on one core) and cached."
    path = cache_dir('bench')/f'avgcase_cnn_{_key(cfg)}.pt'
    model = CustomCNN(cfg['depth'], cfg['width'], cfg['dropout'])
    if path.exists():
        blob = torch.load(path, map_location='cpu')
        digest = hashlib.sha256(json.dumps({k: v.tolist() for k, v in blob['state'].items()}, sort_keys=True).encode()).hexdigest()
        if digest == blob['sha256']:
            model.load_state_dict(blob['state'])
            return model.eval()
        path.unlink()
    torch.manual_seed(cfg['seed'])
    x, y = cifar10_subset(cfg['n_train'], seed=cfg['seed'])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255); y = torch.from_numpy(y)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg['lr'], weight_decay=cfg['wd'])
    steps = cfg['epochs'] * (len(x) // cfg['bs'])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg['lr'], total_steps=steps)
    gen = torch.Generator().manual_seed(cfg['seed'])
    t0 = time.perf_counter(); model.train()
    for ep in range(cfg['epochs']):
        perm = torch.randperm(len(x), generator=gen)
        tot = 0.
        for i in range(len(x) // cfg['bs']):
            idx = perm[i * cfg['bs']:(i + 1) * cfg['bs']]
            xb, yb = x[idx], y[idx]
            if cfg['flip']:
                f = torch.rand(len(xb), generator=gen) < 0.5
                xb = torch.where(f[:, None, None, None], xb.flip(3), xb)
            loss = torch.nn.functional.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yb)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tot += loss.item()
        if verbose: print(f'epoch {ep}: loss {tot / (i + 1):.3f} ({time.perf_counter() - t0:.0f} s)', flush=True)
    model.eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    digest = hashlib.sha256(json.dumps({k: v.tolist() for k, v in state.items()}, sort_keys=True).encode()).hexdigest()
    buf = io.BytesIO(); torch.save({'state': state, 'sha256': digest, 'config': cfg}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return model

if __name__ == '__main__':
    torch.set_num_threads(1)
    m = trained_cnn()
    from robustness_study.data import cifar10_subset as cs
    xt, yt = cs(1000, split='test')
    with torch.no_grad(): acc = (m(torch.from_numpy(xt).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy() == yt).mean()
    print('test acc (1000)', acc)
