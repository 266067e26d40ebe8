"""Benchmark `pac_bayes_measures`: seconds per model and the seed-to-seed spread of sigma and sigma' over 5 seeds.

Models: the smallest zoo model by parameter count (CustomCNN(depth=3, width=16), 0.20 M), the 0.55 M CNN
(CustomCNN(depth=3, width=32)) and the largest zoo model (VGGStyle, 1.13 M), each trained here with Adam for a few
epochs on a class-balanced CIFAR-10 subset (plain torch loop; cached under cache_dir('bench_sharpness'), so reruns
skip training).

Baseline: the original study took about 2 h per model. Its search (the paper-style one of the public implementations:
15 bisection steps x 10 Monte Carlo draws, each over the whole training set, for sigma and again for sigma') is not run
here; its cost is extrapolated from the forward throughput measured in the same run, for the study's 30k training set.

Usage:  ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_sharpness.py [--threads 1] [--seeds 5] [--out bench/results/sharpness.json]
Writes bench/results/sharpness.json.
"""
from __future__ import annotations
import argparse, os, platform, time
from pathlib import Path
import numpy as np
import torch
from torch import nn
from robustness_study.data import cache_dir
from robustness_study.models import CustomCNN, VGGStyle, n_params, predict
from robustness_study.metrics.sharpness import pac_bayes_measures
from benchio import cifar_tensors, write_json

MODELS = {
    'cnn-d3-w16': lambda: CustomCNN(depth=3, width=16),
    'cnn-d3-w32': lambda: CustomCNN(depth=3, width=32),
    'vgg': lambda: VGGStyle(),
}
N_TRAIN, EPOCHS, BS = 4000, 6, 128
LR = {'cnn-d3-w16': 2e-3, 'cnn-d3-w32': 2e-3, 'vgg': 1e-3}
PAPER_STYLE = dict(steps=15, draws=10, m=30000, searches=2)  # the public implementations' search, for the baseline

def trained(name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    "`(trained model, model at initialisation)`; trains with Adam on (x, y) the first time, then loads from the cache."
    path = cache_dir('bench_sharpness')/f'{name}-n{N_TRAIN}-e{EPOCHS}.pt'
    torch.manual_seed(0)
    init = MODELS[name]().eval(); model = MODELS[name]()
    model.load_state_dict(init.state_dict())
    if path.exists():
        model.load_state_dict(torch.load(path)); return model.eval(), init
    opt = torch.optim.Adam(model.parameters(), lr=LR[name])
    g = torch.Generator().manual_seed(0); t0 = time.perf_counter()
    model.train(); model.to(memory_format=torch.channels_last)
    for ep in range(EPOCHS):
        perm = torch.randperm(len(y), generator=g); tot = 0.
        for i in range(0, len(y) - BS + 1, BS):
            idx = perm[i:i + BS]
            loss = nn.functional.cross_entropy(model(x[idx].contiguous(memory_format=torch.channels_last)), y[idx])
            opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
        print(f'  {name} epoch {ep + 1}/{EPOCHS} loss {tot / (len(y) // BS):.3f} ({time.perf_counter() - t0:.0f} s)', flush=True)
    model.eval(); model.to(memory_format=torch.contiguous_format)
    torch.save(model.state_dict(), path)
    return model, init

@torch.no_grad()
def throughput(model: nn.Module, dtype, bs: int = 256, n: int = 2048) -> float:
    "Forward images/s in eval mode, channels-last, batches of `bs` (as the search runs them)."
    m = model.eval().to(dtype).to(memory_format=torch.channels_last)
    x = torch.rand(n, 3, 32, 32, dtype=dtype).contiguous(memory_format=torch.channels_last)
    m(x[:bs]); t = time.perf_counter()
    for i in range(0, n, bs): m(x[i:i + bs])
    return n / (time.perf_counter() - t)

def spread(v):
    v = np.asarray(v, float)
    return dict(mean=float(v.mean()), cv=float(v.std(ddof=1) / v.mean()), range_rel=float(np.ptp(v) / v.mean()),
                values=[float(a) for a in v])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1, help='torch threads (1: the machine is shared; see bench/README.md)')
    ap.add_argument('--seeds', type=int, default=5)
    ap.add_argument('--models', nargs='*', default=list(MODELS))
    ap.add_argument('--dtypes', nargs='*', default=['float32', 'bfloat16'], help='float32 is the default of pac_bayes_measures')
    ap.add_argument('--train-only', action='store_true')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'sharpness.json'))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y = cifar_tensors(N_TRAIN, 'train', seed=0)
    rows = []
    for name in args.models:
        model, init = trained(name, x, y)
        acc = (predict(model, x).argmax(1) == y).float().mean().item()
        print(f'{name}: {n_params(model):,} parameters, train accuracy {acc:.3f} ({N_TRAIN} examples, {EPOCHS} epochs)', flush=True)
        if args.train_only: continue
        for dt in args.dtypes:
            dtype = getattr(torch, dt)
            tp = throughput(MODELS[name]().float(), dtype)
            load0 = os.getloadavg()[0]
            res, cpu = [], []
            for seed in range(args.seeds):
                c0 = time.process_time()
                res.append(pac_bayes_measures(model, x, y, init_model=init, seed=seed, m=len(y),
                                              dtype=None if dt == 'float32' else dtype))
                cpu.append(time.process_time() - c0)
                r = res[-1]
                print(f'  {dt} seed {seed}: sigma {r["sigma"]:.4f} sigma_mag {r["sigma_mag"]:.4f} '
                      f'({r["sigma_evals"]}+{r["sigma_mag_evals"]} evals) {r["seconds"]:.1f} s wall, {cpu[-1]:.1f} s cpu', flush=True)
            paper_s = PAPER_STYLE['searches'] * PAPER_STYLE['steps'] * PAPER_STYLE['draws'] * PAPER_STYLE['m'] / tp
            row = dict(model=name, n_params=n_params(model), train_acc=acc, dtype=dt, threads=args.threads,
                       seconds=spread([r['seconds'] for r in res]), cpu_seconds=spread(cpu),
                       sigma=spread([r['sigma'] for r in res]), sigma_mag=spread([r['sigma_mag'] for r in res]),
                       evals=float(np.mean([r['sigma_evals'] + r['sigma_mag_evals'] for r in res])),
                       base_error=float(np.mean([r['base_error'] for r in res])),
                       throughput_img_s=tp, paper_style_seconds_extrapolated=paper_s,
                       loadavg_start=load0, loadavg_end=os.getloadavg()[0],
                       settings={k: res[0][k] for k in ('n_examples', 'n_draws')})
            rows.append(row)
    if args.train_only: return
    hdr = f'{"model":<11} {"params":>9} {"dtype":<8} {"s/model":>8} {"max s":>6} {"cpu s":>6} {"sigma":>7} {"cv":>6} {"range":>6} {"sigma_mag":>9} {"cv":>6} {"range":>6} {"evals":>5} {"paper-style s":>13} {"speed-up":>8} {"load":>5}'
    print('\n' + hdr); print('-' * len(hdr))
    for r in rows:
        print(f'{r["model"]:<11} {r["n_params"]:>9,} {r["dtype"]:<8} {r["seconds"]["mean"]:>8.1f} {max(r["seconds"]["values"]):>6.1f} '
              f'{r["cpu_seconds"]["mean"]:>6.1f} {r["sigma"]["mean"]:>7.4f} {r["sigma"]["cv"]:>6.1%} {r["sigma"]["range_rel"]:>6.1%} '
              f'{r["sigma_mag"]["mean"]:>9.4f} {r["sigma_mag"]["cv"]:>6.1%} {r["sigma_mag"]["range_rel"]:>6.1%} {r["evals"]:>5.1f} '
              f'{r["paper_style_seconds_extrapolated"]:>13,.0f} {r["paper_style_seconds_extrapolated"] / r["seconds"]["mean"]:>7.0f}x '
              f'{(r["loadavg_start"] + r["loadavg_end"]) / 2:>5.1f}')
    print('cv = std/mean over seeds (ddof=1); range = (max-min)/mean; paper-style s = extrapolated cost of 2 searches x 15 '
          'bisection steps x 10 draws x 30k examples at the measured throughput; load = 1-min load average (2 cores, shared)')
    out = dict(bench='sharpness', torch=torch.__version__, machine=platform.machine(), cpu_count=os.cpu_count(),
               threads=args.threads, seeds=args.seeds, n_train=N_TRAIN, epochs=EPOCHS, paper_style=PAPER_STYLE, rows=rows)
    write_json(args.out, out)
    print('wrote', args.out)

if __name__ == '__main__': main()
