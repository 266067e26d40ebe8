"""Time per 256 images and strength of every attack in robustness_study.attacks, plus the Square query budget.

Model: the same briefly trained 0.55 M-parameter CustomCNN(depth=3, width=32) as bench_deepfool.py (`benchio.ATTACK_CNN`,
weights cached under cache_dir('bench')); a second one (other seed, half the steps) is the transfer surrogate. Images: 256
class-balanced CIFAR-10 test images. Square is run with several query budgets to show success vs queries and cost.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_attacks.py [--threads 2] [--queries 100,300,1000,3000] [--out bench/results/attacks.json]
Writes bench/results/attacks.json.
"""
import argparse, os, time
from pathlib import Path
import torch
from robustness_study.attacks import ATTACKS, run_attack, attack_report
from benchio import ATTACK_CNN, cifar_tensors, trained_cnn, write_json

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--n', type=int, default=256)
    ap.add_argument('--train-steps', type=int, default=600)
    ap.add_argument('--queries', default='100,300,1000,3000')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'attacks.json'))
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = trained_cnn(ATTACK_CNN, steps=a.train_steps)
    surrogate, _ = trained_cnn(ATTACK_CNN, steps=a.train_steps // 2, seed=1)
    torch.set_num_threads(a.threads)
    x, y = cifar_tensors(1000, 'test', seed=1); x, y = x[:a.n], y[:a.n]
    print(f'CustomCNN(3, 32), {a.n} test images, {a.threads} threads, load avg {os.getloadavg()[0]:.1f}')
    rows = []
    def run(name, label=None, **kw):
        t = time.perf_counter(); adv = run_attack(model, x, y, name, **kw); dt = time.perf_counter() - t
        r = dict(attack=label or name, seconds=round(dt, 2), seconds_per_256=round(dt * 256 / a.n, 2),
                 **{k: round(v, 4) if isinstance(v, float) else v for k, v in attack_report(model, x, y, adv).items()})
        rows.append(r)
        print(f"{r['attack']:16s} {r['seconds']:8.2f}s  robust acc {r['robust_acc']:.4f}  success {r['success_rate']:.4f}  "
              f"median L2 {r['median_l2']:.4f}  median Linf {r['median_linf']:.4f}", flush=True)
    for name in ATTACKS:
        if name == 'square': continue
        run(name, **(dict(surrogate=surrogate) if name == 'transfer' else {}))
    for q in map(int, a.queries.split(',')): run('square', f'square-{q}', n_queries=q)
    write_json(a.out, dict(model='CustomCNN(depth=3, width=32)', train_steps=a.train_steps, n_images=a.n, threads=a.threads,
                           load_avg_1min=os.getloadavg()[0], torch=torch.__version__, rows=rows))
    print('wrote', a.out)

if __name__ == '__main__': main()
