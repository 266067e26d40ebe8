"""Learning curves for the paper budget: the final accuracy of separate one-cycle runs at several budgets.

A one-cycle schedule's result depends on its total length, so the accuracy at epoch E of a long run is not what an
E-epoch run gives: every (config, budget) pair is its own training run of the paper preset (30,000 images, bf16, the
paper's batch size and seed), with the six representative configs of `benchio.REPRESENTATIVE`. Each run is an ordinary
zoo checkpoint (`zoo('paper', epochs=E)`), kept in the checkpoint cache, so the script resumes where it stopped (on another machine too: a run already in the table at `--out` is not trained again), and a
paper run with the chosen budget reuses the six. Runs go `--jobs` at a time with one torch thread each (the paper run's
layout), shortest budget first and, within a budget, largest model first, so a stopped run leaves whole budgets. The table is rewritten after every finished run: final train/test accuracy and loss, fit
seconds, and the per-epoch history (training loss, validation loss and accuracy on 1,000 test images).

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_curves.py [--budgets 3 6 10 15 20 30] [--jobs 2] [--out bench/results/learning_curves.json]
"""
import argparse, json, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path


def _train(cfg):
    import torch
    from robustness_study.runenv import tune_malloc
    from robustness_study.training import train_model
    torch.set_num_threads(1); tune_malloc()
    t = time.time(); train_model(cfg, progress=False)
    return cfg['id'], time.time() - t


def rows(jobs, kept=()):
    "One row per finished run, from its checkpoint's metadata."
    from robustness_study.training import load_checkpoint, CheckpointError
    from benchio import short_name
    out = []
    for cfg in jobs:
        try: _, m = load_checkpoint(cfg)
        except CheckpointError:   # not in this machine's cache: the committed table's row, if it has one
            out += [r for r in kept if r['id'] == cfg['id']]; continue
        out.append({'model': short_name(cfg), 'id': cfg['id'], **{k: cfg.get(k) for k in ('arch', 'depth', 'width', 'dropout', 'optimizer', 'lr', 'epochs')}, **{k: m[k] for k in
                    ('train_acc', 'train_loss', 'test_acc', 'test_loss', 'n_test', 'train_seconds', 'threads')}, 'history': m.get('history')})
    return sorted(out, key=lambda r: (r['model'], r['epochs']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--budgets', type=int, nargs='+', default=[3, 6, 10, 15, 20, 30]); ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'learning_curves.json'), help='JSON to write')
    a = ap.parse_args()
    from robustness_study.models import zoo
    from robustness_study.pipeline import schedule
    from robustness_study.training import is_trained
    from benchio import write_json, REPRESENTATIVE, grid_key, short_name
    jobs = [c for e in a.budgets for c in zoo('paper', epochs=e) if grid_key(c) in REPRESENTATIVE]
    kept = json.loads(Path(a.out).read_text())['rows'] if Path(a.out).exists() else []   # runs already in the table need no checkpoint
    have = {r['id'] for r in kept}
    todo = [c for e in sorted(a.budgets) for c in schedule([c for c in jobs if c['epochs'] == e and not is_trained(c) and c['id'] not in have])]
    print(f'{len(jobs)} runs, {len(jobs) - len(todo)} already trained', flush=True)
    save = lambda: write_json(a.out, {'budgets': a.budgets, 'precision': 'bf16', 'n_train': jobs[0]['n_train'], 'rows': rows(jobs, kept)})
    with ProcessPoolExecutor(a.jobs, mp_context=get_context('spawn')) as ex:
        futs = {ex.submit(_train, c): c for c in todo}
        for f in as_completed(futs):
            c = futs[f]; _, s = f.result()
            print(f"{short_name(c)} {c['epochs']} epochs: done in {s:.0f}s", flush=True); save()
    save()
    print(f"{'model':28s} " + ' '.join(f'{e:>6d}' for e in a.budgets) + '   (test accuracy by budget, epochs)')
    table = rows(jobs, kept)
    for name in sorted({r['model'] for r in table}):
        acc = {r['epochs']: r['test_acc'] for r in table if r['model'] == name}
        print(f'{name:28s} ' + ' '.join(f"{acc[e]:6.3f}" if e in acc else '     -' for e in a.budgets))
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
