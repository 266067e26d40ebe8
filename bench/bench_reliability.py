"""Test-retest reliability of every OOD measurement: how many images (and Square queries) a target needs to rank the zoo.

Each model is evaluated on two disjoint class-balanced samples of the CIFAR-10 test set (half A: the images the
pipeline evaluates, `stages.test_subsets`; half B: other test images), with seed 0 on A and seed 1 on B for everything
random (attack restarts, Square's search, corruption noise). Per-image outcomes are computed once at the largest size;
every attack here treats images independently, so an n-image evaluation is n of these outcomes. A measurement is
reliable when two such evaluations rank the zoo alike: the Kendall tau across models between the targets of two
disjoint n-image samples. `tau` is its mean over 100 random pairs of disjoint samples drawn from the pool of both
halves (the same images for every model, as in a run), `tau_p10` the 10th percentile, and `tau_halves` the one pair
"first n of A" vs "first n of B". The targets are those of the analysis: relative robustness (OOD accuracy / clean
accuracy on the same images) for FGSM, BIM, PGD (also at eps 2/255), Square at 300 and 1,000 queries, transfer (mean
over the three surrogates) and the CIFAR-10-C mean over 19 corruptions x 5 severities, and the median minimal L2 norm
(`attacks.attack_report`'s `min_l2_median`) for DeepFool and CW, whose success rates are recorded too.

Models: the quick zoo (with the quick surrogates) and the six representative paper configs of the learning curves at
the paper budget (`--budgets`; with the paper surrogates). Per-model outcomes are cached, so the script resumes. The
table goes to bench/results/reliability.json with the measured seconds per image of every measurement, which price a
size, and today's mean per-model evaluation seconds (the committed paper table's stage times, training apart).

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_reliability.py [--budgets 10] [--jobs 2]
"""
import argparse, json, math, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

SIZES = {'fgsm': 1000, 'bim': 1000, 'pgd': 1000, 'pgd_eps2': 1000, 'deepfool': 1000, 'cw': 300, 'square300': 500, 'square1000': 500,
         'transfer': 1000, 'cifar10c': 500}   # images per half (the largest size measured)
GRID = (100, 200, 300, 500, 1000)                # sizes reported
VERSION = 1


def halves(n: int):
    "Test-set indices of half A (the pipeline's evaluation images, in order) and a disjoint class-balanced half B."
    import numpy as np
    from robustness_study.data import load_cifar10, balanced_indices
    _, yt = load_cifar10('test')
    a = balanced_indices(yt, n, seed=0)
    rest = np.setdiff1d(np.arange(len(yt)), a)
    return a, rest[balanced_indices(yt[rest], n, seed=7)]


def per_image(model, sample: str, cfg: dict, n_max: int) -> dict:
    "Per-image outcomes of every measurement on both halves, and the seconds per image of each."
    import numpy as np, torch
    from robustness_study.data import load_cifar10, to_nchw
    from robustness_study.attacks import run_attack, cached_attack, logit_margins, perturbation_norms
    from robustness_study.corruptions import CORRUPTIONS, corrupted_set
    from robustness_study.models import surrogates
    from robustness_study.training import load_trained
    xt, yt = load_cifar10('test')
    out, secs = {}, {}
    for h, idx, seed in zip('AB', halves(n_max), (0, 1)):
        x, y = to_nchw(xt[idx]), torch.from_numpy(yt[idx]).long()
        ok = lambda xa, k: (logit_margins(model, xa, y[:k]) > 0).numpy()
        out[f'{h}.clean'] = ok(x, n_max)
        def timed(name, f, k):
            t = time.perf_counter(); r = f(); secs.setdefault(name, []).append((time.perf_counter() - t) / k); out[f'{h}.{name}'] = r
        for name, kw in (('fgsm', {}), ('bim', {}), ('pgd', {}), ('pgd_eps2', dict(eps=2 / 255))):
            k = SIZES[name]; timed(name, lambda: ok(run_attack(model, x[:k], y[:k], name.split('_')[0], seed=seed, **kw), k), k)
        for name, kw in (('deepfool', dict(steps=50)), ('cw', dict(steps=100))):
            k = SIZES[name]
            def minimal():
                xa = run_attack(model, x[:k], y[:k], name, seed=seed, **kw)
                l2, _ = perturbation_norms(x[:k], xa)
                clean, fooled = logit_margins(model, x[:k], y[:k]) > 0, logit_margins(model, xa, y[:k]) <= 0
                return np.where(clean.numpy(), np.where(fooled.numpy(), l2.numpy(), np.inf), np.nan)
            timed(name, minimal, k)
        for q in (300, 1000):
            k = SIZES[f'square{q}']; timed(f'square{q}', lambda: ok(run_attack(model, x[:k], y[:k], 'square', seed=seed, n_queries=q), k), k)
        k = SIZES['transfer']
        def transfer():
            res = []
            for s in surrogates(sample):
                m, _ = load_trained(s)
                res.append(ok(cached_attack(m, x[:k], y[:k], 'pgd', model_id=s['id'], seed=seed), k))
            return np.mean(res, 0)
        timed('transfer', transfer, k)   # the surrogates' PGD sets are cached: the time is the evaluation's
        k = SIZES['cifar10c']
        def corr():
            imgs = xt[idx[:k]]
            return np.mean([ok(to_nchw(corrupted_set(imgs, c, s, seed=seed)), k) for c in CORRUPTIONS for s in range(1, 6)], 0)
        timed('cifar10c', corr, k)
    return {'outcomes': {k: v.tolist() for k, v in out.items()}, 'seconds_per_image': {k: float(np.mean(v)) for k, v in secs.items()}}


def pregen(name: str) -> float:
    "Generate (and cache) the corrupted sets of one corruption for both halves, once for all models; the seconds."
    import torch
    from robustness_study.data import load_cifar10
    from robustness_study.corruptions import corrupted_set
    torch.set_num_threads(1)
    xt, _ = load_cifar10('test'); k = SIZES['cifar10c']; t = time.time()
    for idx, seed in zip(halves(max(SIZES.values())), (0, 1)):
        for sev in range(1, 6): corrupted_set(xt[idx[:k]], name, sev, seed=seed)
    return time.time() - t


def model_job(sample: str, cfg: dict) -> dict:
    "Per-image outcomes of one model, from the cache or computed (one torch thread)."
    import torch
    from robustness_study.data import cache_dir
    from robustness_study.runenv import tune_malloc
    from robustness_study.training import load_trained
    torch.set_num_threads(1); tune_malloc()
    path = cache_dir('bench')/f"reliability-v{VERSION}-{cfg['id']}.json"
    if path.exists(): return json.loads(path.read_text())
    model, _ = load_trained(cfg)
    t = time.time(); r = per_image(model, sample, cfg, max(SIZES.values())); r['seconds'] = time.time() - t
    path.write_text(json.dumps(r)); return r


def target(out: dict, name: str, idx) -> float:
    "The analysis target of one measurement on the images `idx` of the pool (half A's images, then half B's)."
    import numpy as np
    k = len(out[f'A.{name}'])
    pool = lambda key: np.concatenate([np.asarray(out[f'A.{key}'][:k], float), np.asarray(out[f'B.{key}'][:k], float)])
    clean, v = pool('clean')[idx], pool(name)[idx]
    if name in ('deepfool', 'cw'): return float(np.median(v[~np.isnan(v)])) if (~np.isnan(v)).any() else math.nan
    return float(v.mean() / clean.mean()) if clean.mean() > 0 else math.nan


def kendall(a, b) -> float:
    import numpy as np
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float); ok = ~np.isnan(a) & ~np.isnan(b)
    return float(stats.kendalltau(a[ok], b[ok]).statistic) if ok.sum() >= 3 else math.nan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--budgets', type=int, nargs='+', default=[10], help='learning-curve budgets (epochs) of the paper sample')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'reliability.json'), help='JSON to write')
    a = ap.parse_args()
    import numpy as np
    from robustness_study.models import zoo, surrogates, model_name
    from robustness_study.training import is_trained
    from benchio import write_json, REPRESENTATIVE, grid_key, train_config
    models = [('quick', c) for c in zoo('quick')] + [('paper', c) for e in a.budgets for c in zoo('paper', epochs=e) if grid_key(c) in REPRESENTATIVE]
    need = [c for c in [*surrogates('quick'), *surrogates('paper'), *(c for _, c in models)] if not is_trained(c)]
    res = {}
    with ProcessPoolExecutor(a.jobs, mp_context=get_context('spawn')) as ex:
        from robustness_study.corruptions import CORRUPTIONS
        for f in as_completed([ex.submit(train_config, c) for c in need] + [ex.submit(pregen, c) for c in CORRUPTIONS]):
            print(f'prepared in {f.result():.0f}s', flush=True)
        futs = {ex.submit(model_job, s, c): (s, c) for s, c in models}
        for f in as_completed(futs):
            s, c = futs[f]; res[c['id']] = f.result()
            print(f"{s} {model_name(c)} ({c['epochs']} epochs): {res[c['id']].get('seconds', 0):.0f}s", flush=True)
    rows, summary, success = [], [], []
    rng = np.random.default_rng(0)
    for s in ('quick', 'paper'):
        ms = [c for t, c in models if t == s]
        for name, nmax in SIZES.items():
            sec = float(np.mean([res[c['id']]['seconds_per_image'][name] for c in ms]))
            for n in [g for g in GRID if g <= nmax]:
                A, B = np.arange(n), nmax + np.arange(n)   # the two halves as measured: different images and seeds
                va, vb = [target(res[c['id']]['outcomes'], name, A) for c in ms], [target(res[c['id']]['outcomes'], name, B) for c in ms]
                rows += [{'sample': s, 'model': model_name(c), 'id': c['id'], 'epochs': c['epochs'], 'measurement': name, 'n': n, 'A': x, 'B': y}
                         for c, x, y in zip(ms, va, vb)]
                splits = []   # random disjoint pairs of n-image samples from the pool of both halves, the same for every model
                for _ in range(100):
                    p = rng.permutation(2 * nmax); i, j = p[:n], p[n:2 * n]
                    splits.append(kendall([target(res[c['id']]['outcomes'], name, i) for c in ms], [target(res[c['id']]['outcomes'], name, j) for c in ms]))
                summary.append({'sample': s, 'measurement': name, 'n': n, 'models': len(ms), 'tau_halves': kendall(va, vb),
                                'tau': float(np.nanmean(splits)), 'tau_p10': float(np.nanpercentile(splits, 10)),
                                'seconds_per_model': sec * n, 'spread_sd': float(np.nanstd(va))})
        for c in ms:
            o = res[c['id']]['outcomes']
            for name in ('deepfool', 'cw'):   # share of correctly classified points the attack flipped, both halves
                v = np.concatenate([np.asarray(o[f'{h}.{name}'], float) for h in 'AB']); v = v[~np.isnan(v)]
                success.append({'sample': s, 'model': model_name(c), 'id': c['id'], 'attack': name, 'n': len(v), 'success_rate': float(np.isfinite(v).mean())})
    import pandas as pd   # the baseline per-model evaluation time: the 3-epoch paper run's stage seconds, training apart
    t = pd.read_csv(Path(__file__).parent.parent/'results'/'paper-3ep'/'results.csv')
    base = float(t[[c for c in t.columns if c.startswith('time.') and c != 'time.train']].sum(axis=1).mean())
    write_json(a.out, {'baseline_eval_seconds': base, 'sizes': SIZES, 'grid': GRID, 'budgets': a.budgets, 'summary': summary, 'success': success, 'rows': rows,
                       'seconds_per_image': {c['id']: res[c['id']]['seconds_per_image'] for _, c in models}})
    print(f"{'measurement':12s} {'n':>5s} {'tau quick':>9s} {'tau paper':>9s} {'(p10)':>6s} {'halves':>6s} {'s/model':>8s}")
    for name, nmax in SIZES.items():
        for n in [g for g in GRID if g <= nmax]:
            q, p = ([x for x in summary if x['sample'] == s and x['measurement'] == name and x['n'] == n][0] for s in ('quick', 'paper'))
            print(f"{name:12s} {n:5d} {q['tau']:9.2f} {p['tau']:9.2f} {p['tau_p10']:6.2f} {p['tau_halves']:6.2f} {p['seconds_per_model']:8.1f}")
    for name in ('deepfool', 'cw'):
        r = [x['success_rate'] for x in success if x['attack'] == name]
        print(f'{name} success on correctly classified points: min {min(r):.3f}, median {np.median(r):.3f} over {len(r)} models')
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
