"""Learning curves for the paper budget: the final accuracy of separate one-cycle runs at several budgets.

A one-cycle schedule's result depends on its total length, so the accuracy at epoch E of a long run is not what an
E-epoch run gives: every (config, budget) pair is its own training run of the paper preset (30,000 images, bf16, the
paper's batch size and seed), with the six representative configs of `benchio.REPRESENTATIVE`. Each run is an ordinary
zoo checkpoint (`zoo('paper', epochs=E)`), kept in the checkpoint cache, so the script resumes where it stopped (on another machine too: a run already in the table at `--out` is not trained again), and a
paper run with the chosen budget reuses the six. Runs go `--jobs` at a time with one torch thread each (the paper run's
layout), shortest budget first and, within a budget, largest model first, so a stopped run leaves whole budgets. The table is rewritten after every finished run: final train/test accuracy and loss, fit
seconds, and the per-epoch history (training loss, validation loss and accuracy on 1,000 test images).

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_curves.py [--budgets 3 6 10 15 20 30] [--jobs 2] [--out bench/results/learning_curves.json]

`--precision` trains in another precision than the paper preset's (for instance fp32 on a CPU that only emulates bf16,
where a bf16 run takes 12-15x as long), and `--models` restricts the runs to some of the six (their short names); both
belong in a table of their own (`--out`), since the paper budget is read from the preset-precision table.
"""
import argparse, json
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path


def by_model(rows): return sorted(rows, key=lambda r: (r['model'], r['epochs']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--budgets', type=int, nargs='+', default=[3, 6, 10, 15, 20, 30]); ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'learning_curves.json'), help='JSON to write')
    ap.add_argument('--precision', default=None, help="training precision (default: the paper preset's)")
    ap.add_argument('--models', nargs='+', default=None, help='only these representative configs, by short name (e.g. cnn-d3-w16-sgd-0.02-do0.5)')
    a = ap.parse_args()
    from robustness_study.models import zoo
    from robustness_study.pipeline import schedule
    from robustness_study.training import is_trained
    from benchio import write_json, REPRESENTATIVE, grid_key, short_name, train_config, run_rows
    over = {'precision': a.precision} if a.precision else {}
    jobs = [c for e in a.budgets for c in zoo('paper', epochs=e, **over) if grid_key(c) in REPRESENTATIVE]
    if a.models:
        names = {short_name(c) for c in jobs}
        if bad := [m for m in a.models if m not in names]: raise SystemExit(f'unknown model(s) {bad}; choose from {sorted(names)}')
        jobs = [c for c in jobs if short_name(c) in a.models]
    kept = json.loads(Path(a.out).read_text())['rows'] if Path(a.out).exists() else []   # runs already in the table need no checkpoint
    have = {r['id'] for r in kept}
    todo = [c for e in sorted(a.budgets) for c in schedule([c for c in jobs if c['epochs'] == e and not is_trained(c) and c['id'] not in have])]
    print(f'{len(jobs)} runs, {len(jobs) - len(todo)} already trained', flush=True)
    save = lambda: write_json(a.out, {'budgets': a.budgets, 'precision': jobs[0]['precision'], 'n_train': jobs[0]['n_train'], 'rows': by_model(run_rows(jobs, kept, history=True))})
    with ProcessPoolExecutor(a.jobs, mp_context=get_context('spawn')) as ex:
        futs = {ex.submit(train_config, c): c for c in todo}
        for f in as_completed(futs):
            c = futs[f]; s = f.result()
            print(f"{short_name(c)} {c['epochs']} epochs: done in {s:.0f}s", flush=True); save()
    save()
    print(f"{'model':28s} " + ' '.join(f'{e:>6d}' for e in a.budgets) + '   (test accuracy by budget, epochs)')
    table = by_model(run_rows(jobs, kept))
    for name in sorted({r['model'] for r in table}):
        acc = {r['epochs']: r['test_acc'] for r in table if r['model'] == name}
        print(f'{name:28s} ' + ' '.join(f"{acc[e]:6.3f}" if e in acc else '     -' for e in a.budgets))
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
