"""Tables for the average-case robustness report (nbs/21_average_case.ipynb): p_robust of one trained paper-zoo CNN.

Picks the paper-zoo CustomCNN(depth=3, width=32) (0.55 M parameters) with the best test accuracy among the models
in results/paper/results.csv (the paper run's table) whose checkpoint loads (or the model given with --model), evaluates it on a fixed
class-balanced subset of CIFAR-10 test images (`balanced_indices(y_test, n, seed=0)`, the pipeline's evaluation
subset) with the estimator that bench/results/avgcase.json found most accurate among those whose speed it measured,
at sigma in {0.01, 0.02, 0.05, 0.1}, plus the softmax confidence, and writes (atomically)

    results/avgcase/points.csv      one row per image: test-set index, label, prediction, softmax, p_robust per sigma
    results/avgcase/class_bias.csv  per true class and sigma: n, mean p_robust, 95% percentile-bootstrap CI
    results/avgcase/meta.json       model id, config, test accuracy, estimator, n points, seconds, code version

Nothing is trained. Rerun (e.g. when a more accurate CNN(3, 32) has finished training) with

    ROBUSTNESS_STUDY_DATA=/work/shared/data nice -n 19 .venv/bin/python bench/avgcase_report.py [--model ID] [--n 1000]
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from benchio import write_json, write_text

ROOT = Path(__file__).resolve().parent.parent   # the repository: default locations of the tables read and written

SIGMAS = (0.01, 0.02, 0.05, 0.1)
# estimator names in bench/results/avgcase.json -> p_robust arguments
ESTIMATORS = {
    'taylor': ('taylor', {}),
    'taylor_mvs': ('taylor_mvs', {}),
    'mmse N=10': ('mmse', dict(n_samples=10)),
    'mmse_mvs N=10': ('mmse_mvs', dict(n_samples=10)),
    'mmse-vr N=2+16fwd': ('mmse', dict(n_samples=2, n_forward=16, noise='antithetic')),
    'mmse-vr N=2+32fwd': ('mmse', dict(n_samples=2, n_forward=32, noise='antithetic')),
    'mmse-vr N=2+64fwd': ('mmse', dict(n_samples=2, n_forward=64, noise='antithetic')),
}

def best_estimator(bench: dict) -> str:
    "The estimator with the lowest MAE vs MC averaged over sigmas, among those whose speed the benchmark measured."
    timed = {k[len('ours: '):] for k in bench['speed']['ms_per_point'] if k.startswith('ours: ')}
    cands = [k for k in ESTIMATORS if k in timed and all(k in bench['accuracy'][s]['mae'] for s in bench['accuracy'])]
    return min(cands, key=lambda k: np.mean([bench['accuracy'][s]['mae'][k] for s in bench['accuracy']]))

def row_config(row) -> dict:
    "The zoo config of a results-table row: the paper zoo trained with that row's overrides (precision, training seed), which give other ids."
    from robustness_study.models import zoo
    over = {k: (int(row[f'cfg.{k}']) if k == 'seed' else row[f'cfg.{k}']) for k in ('precision', 'seed') if pd.notna(row.get(f'cfg.{k}'))}
    hits = [c for c in zoo('paper', **over) if c['id'] == row['id']]
    if not hits: raise ValueError(f"model {row['id']} is not in the paper zoo with {over}")
    return hits[0]

def pick_model(results_csv: Path) -> tuple[dict, float]:
    "Config and test accuracy of the most accurate trained paper-zoo CNN(3, 32) in the results table whose checkpoint loads."
    from robustness_study.training import load_trained, CheckpointError
    if not results_csv.exists(): raise SystemExit(f'{results_csv} does not exist: run the paper preset first, or pass --model ID')
    t = pd.read_csv(results_csv, dtype={'id': str})
    t = t[(t['cfg.arch'] == 'cnn') & (t['cfg.depth'] == 3) & (t['cfg.width'] == 32)].sort_values('train.test_acc', ascending=False)
    for _, row in t.iterrows():
        try: cfg = row_config(row); load_trained(cfg); return cfg, float(row['train.test_acc'])
        except (CheckpointError, ValueError) as e: print(f"skipping {row['id']}: {e}", file=sys.stderr)
    raise SystemExit(f'no trained CNN(depth=3, width=32) with a usable checkpoint in {results_csv}; pass --model ID')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', help='zoo model id (or unique prefix); default: best trained paper CNN(3, 32)')
    ap.add_argument('--n', type=int, default=1000, help='class-balanced test images (multiple of 10)')
    ap.add_argument('--sigmas', type=float, nargs='+', default=list(SIGMAS))
    ap.add_argument('--estimator', choices=list(ESTIMATORS), help='default: the best in bench/results/avgcase.json')
    ap.add_argument('--bench', default=str(ROOT/'bench/results/avgcase.json'))
    ap.add_argument('--results', default=str(ROOT/'results/paper/results.csv'), help="the paper run's results table")
    ap.add_argument('--out', default=str(ROOT/'results/avgcase'))
    ap.add_argument('--n-boot', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from robustness_study.avgcase import p_robust, class_robustness
    from robustness_study.data import load_cifar10, balanced_indices, to_nchw, CLASSES
    from robustness_study.models import find_config, n_params
    from robustness_study.training import load_trained
    from robustness_study.results import code_version

    t0 = time.perf_counter()
    bench = json.loads(Path(a.bench).read_text())
    est = a.estimator or best_estimator(bench)
    method, kw = ESTIMATORS[est]
    if a.model: mcfg, acc, src = find_config(a.model), None, 'checkpoint metadata'
    else: (mcfg, acc), src = pick_model(Path(a.results)), str(Path(a.results).resolve().relative_to(ROOT)) if Path(a.results).resolve().is_relative_to(ROOT) else a.results
    mid = mcfg['id']
    model, meta = load_trained(mcfg)
    cfg = meta['config']
    if acc is None: acc = meta.get('test_acc')
    src += f" ({meta.get('n_test', 10000):,} test images)"
    print(f'model {mid} ({cfg["arch"]} depth={cfg.get("depth")} width={cfg.get("width")} {cfg["optimizer"]} lr={cfg["lr"]} '
          f'dropout={cfg.get("dropout")}), test acc {acc}; estimator {est}', flush=True)

    xt, yt = load_cifar10('test', download=False)
    idx = balanced_indices(yt, a.n, seed=0)
    x = to_nchw(xt[idx])
    sm, info = p_robust(model, x, None, 'softmax', return_info=True)
    pts = pd.DataFrame({'idx': idx, 'label': yt[idx], 'pred': info['target'].numpy(), 'softmax': sm.double().numpy()})
    secs = {}
    for s in a.sigmas:
        ts = time.perf_counter()
        pts[f'p_s{s:g}'] = p_robust(model, x, s, method, seed=a.seed, **kw).double().numpy()
        secs[f'{s:g}'] = round(time.perf_counter() - ts, 2)
        print(f'sigma {s:g}: mean p_robust {pts[f"p_s{s:g}"].mean():.4f} ({secs[f"{s:g}"]:.1f} s)', flush=True)

    rows = []
    for s in a.sigmas:
        cb = class_robustness(pts[f'p_s{s:g}'].to_numpy(), pts.label.to_numpy(), n_boot=a.n_boot, seed=a.seed)
        for c, r in cb.iterrows():
            rows.append(dict(sigma=s, label=int(c), cls=CLASSES[int(c)], n=int(r.n), mean=r['mean'], low=r.low, high=r.high))
    cbias = pd.DataFrame(rows)

    out = Path(a.out)
    write_text(out/'points.csv', pts.to_csv(index=False, float_format='%.6g'))
    write_text(out/'class_bias.csv', cbias.to_csv(index=False, float_format='%.6g'))
    total = time.perf_counter() - t0
    m = dict(model_id=mid, config=cfg, n_params=n_params(model), test_acc=acc, test_acc_source=src,
             subset_acc=float((pts.label == pts.pred).mean()), estimator=est, method=method, estimator_kwargs=kw,
             estimator_rule='lowest MAE vs MC averaged over sigmas among the estimators whose speed bench/results/avgcase.json measured',
             sigmas=list(a.sigmas), n_points=int(len(pts)), subset='balanced_indices(y_test, n, seed=0)', class_bias_by='true label',
             n_boot=a.n_boot, seed=a.seed, threads=a.threads, seconds_per_sigma=secs, seconds=round(total, 1),
             code_version=code_version(), torch=torch.__version__,
             command=f'python bench/avgcase_report.py --model {mid} --n {a.n}')
    write_json(out/'meta.json', m)
    print(f'wrote {out}/points.csv, class_bias.csv, meta.json in {total:.0f} s')

if __name__ == '__main__': main()
