"""Training throughput: the fastai loop of `robustness_study.training` vs a plain PyTorch loop, in fp32 and bf16.

Same model (CustomCNN depth 2, width 16 - the zoo's smallest - CustomCNN depth 3, width 32 - its largest CNN - and
the VGG-style net), same data (a class-balanced CIFAR-10 subset), same batch size, precision and optimizer settings
(Adam, one-cycle in fastai vs constant LR in the plain loop: the schedule costs nothing measurable), channels-last in
both; bf16 autocasts the forward pass and the loss in both. The two loops alternate in rounds in the same process so
machine load affects both alike. Goal: fastai >= 90% of the plain loop's images/s.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_training.py [--n 5000] [--rounds 3] [--threads 2] [--out bench/results/training.json]

Each fastai epoch is a whole `fit_one_cycle(1)`, so its fixed cost per fit (callbacks' before/after_fit, the
DataLoader's first batch, the empty validation pass) is spread over only n / bs batches: with the default
n = 5000 (39 batches) it weighs about 6x more than in the paper zoo's 30,000-image epochs.
`--n 30000 --rounds 2 --out bench/results/training-30k.json` measures at the zoo's epoch size. The paper zoo trains
with one thread per model, two models at a time: `--n 10000 --threads 1 --out bench/results/training-1thread.json`
measures that configuration.
"""
import argparse, time
from pathlib import Path
import numpy as np, torch
from torch import nn
from robustness_study.data import cifar10_subset, cifar_dls, to_nchw
from robustness_study.models import CustomCNN, VGGStyle, zoo
from robustness_study.training import make_learner, set_seed
from benchio import write_json


def plain_epoch(model, x, y, bs, lr, precision):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    model.train().to(memory_format=torch.channels_last)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)   # uint8 NHWC: each batch is converted as it is drawn, like fastai's
    perm = torch.randperm(len(y)); n = 0
    t = time.perf_counter()
    for i in range(0, len(y) - bs + 1, bs):
        idx = perm[i:i + bs]
        xb = to_nchw(xt[idx]).contiguous(memory_format=torch.channels_last)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'): loss = nn.functional.cross_entropy(model(xb), yt[idx])
        opt.zero_grad(); loss.backward(); opt.step(); n += bs
    return n / (time.perf_counter() - t)


def fastai_epoch(model, x, y, bs, lr, precision):
    cfg = {**zoo('quick')[0], 'optimizer': 'adam', 'lr': lr, 'bs': bs, 'precision': precision}
    dls = cifar_dls(x, y, valid=(x[:0], y[:0]), bs=bs, seed=0)
    learn = make_learner(cfg, model, dls)
    n = (len(y) // bs) * bs
    with learn.no_bar(), learn.no_logging():
        t = time.perf_counter(); learn.fit_one_cycle(1, lr_max=lr); dt = time.perf_counter() - t
    return n / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument('--n', type=int, default=5000); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--precisions', nargs='+', default=['fp32', 'bf16'], choices=['fp32', 'bf16'])
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'training.json'), help='JSON to write')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    x, y = cifar10_subset(a.n, seed=0)
    rows = []
    nets = {'CustomCNN(depth=2, width=16)': lambda: CustomCNN(2, 16), 'CustomCNN(depth=3, width=32)': lambda: CustomCNN(3, 32), 'VGGStyle': VGGStyle}
    for name, net in nets.items():
        for prec in a.precisions:
            res = {'plain': [], 'fastai': []}
            for r in range(a.rounds):
                for kind, fn in (('plain', plain_epoch), ('fastai', fastai_epoch)):
                    set_seed(r); res[kind].append(fn(net(), x, y, a.bs, 1e-3, prec))
            p, f = float(np.median(res['plain'])), float(np.median(res['fastai']))
            rows.append({'model': name, 'precision': prec, 'plain_img_s': round(p, 1), 'fastai_img_s': round(f, 1), 'ratio': round(f / p, 3)})
    print(f"{'model':30s} {'precision':>9s} {'plain img/s':>12s} {'fastai img/s':>13s} {'fastai/plain':>13s}")
    for r in rows: print(f"{r['model']:30s} {r['precision']:>9s} {r['plain_img_s']:12.1f} {r['fastai_img_s']:13.1f} {r['ratio']:13.3f}")
    out = Path(a.out)
    write_json(out, {'n_images': a.n, 'bs': a.bs, 'threads': a.threads, 'rounds': a.rounds, 'rows': rows})
    print(f'wrote {out}')


if __name__ == '__main__': main()
