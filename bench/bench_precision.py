"""Parity of bf16 and fp32 training: the same configs, seeds and data trained in both precisions, compared on test accuracy.

The quick zoo at its own budget, and six representative paper configs (the slowest learners: SGD at the low learning
rate with dropout 0.5 at both depths; a fast CNN(3,32) with Adam; a middle CNN(2,32) with SGD; two VGGs) at a short
budget (`--epochs`, default 2, on the paper's 30,000 training images). Goal: mean paired test-accuracy difference within
1 point, no model more than 3 points apart. Trained checkpoints are kept under the cache (`bench/precision/`), so a rerun
only trains what is missing.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_precision.py [--epochs 2] [--threads 2] [--out bench/results/precision_parity.json]
"""
import argparse, time
from pathlib import Path
import numpy as np, torch
from robustness_study.data import cache_dir
from robustness_study.models import zoo
from robustness_study.training import train_model, train_data, bf16_native
from benchio import write_json, REPRESENTATIVE, grid_key as key, short_name as name


def configs(epochs):
    "(group, config pairs fp32/bf16) for the quick zoo and the representative paper configs."
    out = [('quick', a, b) for a, b in zip(zoo('quick', precision='fp32'), zoo('quick', precision='bf16'))]
    p32, p16 = zoo('paper', epochs=epochs, precision='fp32'), zoo('paper', epochs=epochs, precision='bf16')
    for r in REPRESENTATIVE:
        a = next(c for c in p32 if key(c) == r); b = next(c for c in p16 if key(c) == r)
        out.append((f'paper, {epochs} epochs', a, b))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=2); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'precision_parity.json'), help='JSON to write')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    ck, rows, data = cache_dir('bench/precision'), [], {}
    for group, c32, c16 in configs(a.epochs):
        if c32['n_train'] not in data: data = {c32['n_train']: train_data(c32)}
        row = {'group': group, 'model': name(c32)}
        for tag, c in (('fp32', c32), ('bf16', c16)):
            t = time.time(); _, m = train_model(c, data=data[c32['n_train']], ckpt_dir=ck, progress=False)
            row[f'{tag}_test_acc'], row[f'{tag}_train_seconds'] = m['test_acc'], m['train_seconds']
            print(f"  {row['model']} {tag}: test acc {m['test_acc']:.4f}, fit {m['train_seconds']:.0f}s ({time.time() - t:.0f}s with loading)", flush=True)
        row['diff_points'] = round(100 * (row['bf16_test_acc'] - row['fp32_test_acc']), 2)
        row['speedup'] = round(row['fp32_train_seconds'] / row['bf16_train_seconds'], 2)
        rows.append(row)
    d = np.array([r['diff_points'] for r in rows])
    summary = {'mean_diff_points': round(float(d.mean()), 2), 'max_abs_diff_points': round(float(np.abs(d).max()), 2),
               'goal_mean_within_1': bool(abs(d.mean()) <= 1), 'goal_max_within_3': bool(np.abs(d).max() <= 3)}
    print(f"\n{'group':18s} {'model':28s} {'fp32 acc':>9s} {'bf16 acc':>9s} {'diff (pt)':>9s} {'fit speed-up':>12s}")
    for r in rows: print(f"{r['group']:18s} {r['model']:28s} {r['fp32_test_acc']:9.4f} {r['bf16_test_acc']:9.4f} {r['diff_points']:9.2f} {r['speedup']:11.2f}x")
    print(f"mean paired difference {summary['mean_diff_points']:+.2f} points, largest {summary['max_abs_diff_points']:.2f}")
    write_json(a.out, {'epochs_paper_configs': a.epochs, 'threads': a.threads, 'bf16_native': bf16_native(),
                       'rows': rows, 'summary': summary})
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
