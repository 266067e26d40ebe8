"""What the label-free predictors add to a model's evaluation: their seconds against the evaluation stages' seconds, in the same run.

One trained paper config (default: CustomCNN(3, 32) with Adam, the zoo's most expensive CNN, at `--epochs` on the paper's
30,000 images, trained or taken from the checkpoint cache) goes through the evaluation stages of the paper preset
(`perf`, `cifar10_1`, `cifar10c`, `attacks`, and `norms`, `sharpness`, `avgcase` for the total) into a throw-away results
folder. The label-free work is timed inside that run by wrapping its three parts where the stages call them: the
held-out forward pass and fit (`stages.fit_labelfree` with its `predict`), the predictions from each set's logits
(`stages.labelfree_predictions`) and the prediction file (`pipeline.write_predictions`). Goal: at most 10% of the
evaluation stages' time. The file sizes of the prediction file are reported too.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_labelfree.py [--epochs 3] [--threads 1] [--out bench/results/labelfree.json]
"""
import argparse, os, tempfile, time
from pathlib import Path
import torch
from benchio import write_json, short_name, grid_key


def timed(mod, name, acc):
    "Replace `mod.name` by a wrapper adding its seconds to `acc[name]`."
    f = getattr(mod, name)
    def g(*a, **kw):
        t = time.perf_counter()
        try: return f(*a, **kw)
        finally: acc[name] = acc.get(name, 0.0) + time.perf_counter() - t
    setattr(mod, name, g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'labelfree.json'), help='JSON to write')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    from robustness_study import stages, pipeline
    from robustness_study.models import zoo
    from robustness_study.pipeline import run_model, prepare_run
    from robustness_study.results import preds_file
    cfg = next(c for c in zoo('paper', epochs=a.epochs) if grid_key(c) == ('cnn', 'adam', 2e-3, 3, 32, 0.0))
    acc = {}
    for mod, name in ((stages, 'labelfree_predictions'), (pipeline, 'write_predictions')): timed(mod, name, acc)
    fit = stages.ModelContext.lf_fit.fget               # the held-out fit, including its forward pass
    def lf_fit(self):
        if hasattr(self, '_lf'): return self._lf
        t = time.perf_counter(); r = fit(self); acc['fit_labelfree'] = acc.get('fit_labelfree', 0.0) + time.perf_counter() - t; return r
    stages.ModelContext.lf_fit = property(lf_fit)
    run, _, _ = prepare_run('paper')
    run.zoo = [c for c in run.zoo if c['id'] != cfg['id']][:1] + [cfg]     # transfer surrogate: the paper zoo's first model
    with tempfile.TemporaryDirectory() as out:
        for c in run.zoo: run_model(run, c, out, stages=('train',))          # training (or the cached checkpoint) is not timed
        t0 = time.perf_counter(); rec = run_model(run, cfg, out); wall = time.perf_counter() - t0
        size = preds_file(out, cfg['id']).stat().st_size
    eval_s = {k: v['seconds'] for k, v in rec['stages'].items() if k != 'train'}
    lf = sum(acc.values()); total = sum(eval_s.values())
    res = {'model': short_name(cfg), 'id': cfg['id'], 'epochs': a.epochs, 'threads': a.threads, 'load_avg_1min': os.getloadavg()[0],
           'stage_seconds': eval_s, 'eval_seconds': round(total, 2), 'labelfree_seconds': {k: round(v, 3) for k, v in acc.items()},
           'labelfree_total': round(lf, 3), 'share': round(lf / total, 4), 'goal_share': 0.10, 'preds_file_bytes': size,
           'note': "the attacks stage includes crafting the transfer images on the surrogate, which a run does once for all models"}
    print(f"{res['model']}: evaluation stages {total:.1f}s, label-free {lf:.2f}s = {100 * lf / total:.1f}% (goal <= 10%); "
          f"prediction file {size / 1e3:.0f} kB")
    for k, v in acc.items(): print(f'  {k:24s} {v:7.3f}s')
    print(f"wrote {write_json(a.out, res)}")


if __name__ == '__main__': main()
