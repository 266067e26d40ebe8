"""Learning rates at the paper budget: final accuracy of the zoo's hardest corners trained at candidate peak learning rates.

The paper grid keeps two peak learning rates per optimizer for the custom CNNs and three for the VGG. Which ones is a
question about the budget: a one-cycle run of E epochs must reach a usable model at the low end and stay stable at the
high end. This script trains, at `--epochs` E on the paper's 30,000 images (bf16, the paper's batch size and seed), the
slowest-learning corner of the CNN grid (CustomCNN(3, 16) with dropout 0.5) and the VGG at each candidate rate of each
optimizer, and writes final train/test accuracy and loss. The runs are ordinary configs of the paper preset with the
learning rate replaced (`config_id` of the changed dict), kept in the checkpoint cache: the script resumes (a run already in the table at `--out` is not trained again), and a grid
rate's run is the paper zoo's own checkpoint.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_lr.py [--epochs 10] [--jobs 2] [--out bench/results/lr_check.json]
"""
import argparse, json
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

CANDIDATES = {  # (arch, depth, width, dropout): {optimizer: candidate peak learning rates}
    ('cnn', 3, 16, 0.5): {'sgd': (0.01, 0.02, 0.05, 0.1), 'adam': (3e-4, 1e-3, 2e-3)},
    ('vgg', None, None, None): {'sgd': (0.01, 0.05, 0.2), 'adam': (3e-4, 1e-3, 5e-3)},
}


def configs(epochs):
    "The candidate configs: a paper-zoo member of the same architecture and optimizer with the learning rate replaced."
    from robustness_study.models import zoo, config_id
    from benchio import grid_key
    out = []
    for (arch, d, w, p), opts in CANDIDATES.items():
        for opt, lrs in opts.items():
            base = next(c for c in zoo('paper', epochs=epochs) if grid_key(c)[:2] == (arch, opt) and grid_key(c)[3:] == (d, w, p))
            for lr in lrs:
                c = {k: v for k, v in base.items() if k != 'id'} | {'lr': lr}
                out.append({'id': config_id(c), **c})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'lr_check.json'), help='JSON to write')
    a = ap.parse_args()
    from robustness_study.pipeline import schedule
    from robustness_study.training import is_trained
    from benchio import write_json, short_name, train_config, run_rows
    cfgs = configs(a.epochs)
    kept = json.loads(Path(a.out).read_text())['rows'] if Path(a.out).exists() else []   # runs already in the table need no checkpoint
    todo = schedule([c for c in cfgs if not is_trained(c) and c['id'] not in {r['id'] for r in kept}])
    print(f'{len(cfgs)} runs, {len(cfgs) - len(todo)} already trained', flush=True)
    save = lambda: write_json(a.out, {'epochs': a.epochs, 'precision': cfgs[0]['precision'], 'n_train': cfgs[0]['n_train'], 'rows': run_rows(cfgs, kept)})
    with ProcessPoolExecutor(a.jobs, mp_context=get_context('spawn')) as ex:
        futs = {ex.submit(train_config, c): c for c in todo}
        for f in as_completed(futs):
            print(f"{short_name(futs[f])}: done in {f.result():.0f}s", flush=True); save()
    save()
    for r in run_rows(cfgs, kept): print(f"{r['model']:32s} train {r['train_acc']:.3f}  test {r['test_acc']:.3f}  loss {r['train_loss']:.3f}")
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
