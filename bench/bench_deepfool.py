"""Batched DeepFool (robustness_study.attacks.deepfool) vs torchattacks.DeepFool, same model, same images, same run.

Model: the 0.55 M-parameter CustomCNN(depth=3, width=32), briefly trained (`benchio.ATTACK_CNN`: Adam 2e-3, batch 64,
--train-steps steps on a 10k class-balanced CIFAR-10 training subset; weights cached under cache_dir('bench')), so
that DeepFool needs several steps. Images: 256 class-balanced CIFAR-10 test images. Runs ours, torchattacks, ours
again (the machine is shared, so the ratio uses the mean of our two runs against the torchattacks run in between),
then ours restricted to the top-3 candidate classes; PGD-10 for scale.

    ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_deepfool.py [--threads 2] [--n 256] [--out bench/results/deepfool.json]
Writes bench/results/deepfool.json.
"""
import argparse, os, platform, time
from pathlib import Path
import torch
import torchattacks
from robustness_study.attacks import deepfool, run_attack, attack_report
from robustness_study.models import n_params, predict
from benchio import ATTACK_CNN, cifar_tensors, trained_cnn, write_json

def margins(m, x, y):
    L = predict(m, x, bs=256)   # batches of 256, as attack_report classifies them
    ar = torch.arange(len(y)); ly = L[ar, y].clone(); L[ar, y] = -torch.inf
    return ly - L.max(1).values

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--n', type=int, default=256)
    ap.add_argument('--train-steps', type=int, default=600)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'deepfool.json'))
    a = ap.parse_args()
    torch.set_num_threads(1)  # training (once, then cached) is not what is measured
    model, how = trained_cnn(ATTACK_CNN, steps=a.train_steps)
    torch.set_num_threads(a.threads)
    x, y = cifar_tensors(1000, 'test', seed=1); x, y = x[:a.n], y[:a.n]
    print(f'CustomCNN(3, 32): {n_params(model):,} params ({how}), {a.n} test images, {a.threads} threads, load avg {os.getloadavg()[0]:.1f}')
    runs = {}
    def timed(label, f):
        t = time.perf_counter(); out = f(); dt = time.perf_counter() - t
        runs.setdefault(label, []).append(dt); return out
    timed('pgd10', lambda: run_attack(model, x, y, 'pgd'))
    adv, nsteps = timed('ours', lambda: deepfool(model, x, y, steps=50, overshoot=0.02, return_steps=True))
    ta = timed('torchattacks', lambda: torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y))
    timed('ours', lambda: deepfool(model, x, y, steps=50, overshoot=0.02))
    top3 = timed('ours_top3', lambda: deepfool(model, x, y, steps=50, overshoot=0.02, n_candidates=3))
    advs = {'torchattacks': ta, 'ours': adv, 'ours_top3': top3}
    rep = {k: attack_report(model, x, y, v) for k, v in advs.items()}
    tol = {k: attack_report(model, x, y, v, tie_tol=1e-4) for k, v in advs.items()}
    same = {k: ((v - ta).flatten(1).abs().amax(1) < 1e-4).float().mean().item() for k, v in advs.items()}
    near = {k: int((margins(model, v, y).abs() < 1e-4).sum()) for k, v in advs.items()}
    # evaluation noise floor: the same adversarial images, classified one at a time instead of in batches of 256
    # (CPU kernels round differently by batch size, which decides the images that sit on the boundary)
    rep1 = {k: attack_report(model, x, y, v, batch_size=1) for k, v in advs.items()}
    noise = {k: abs(rep1[k]['robust_acc'] - rep[k]['robust_acc']) for k in advs}
    t = {k: sum(v) / len(v) for k, v in runs.items()}
    print(f"\n{'method':13s} {'time (s)':>9s} {'robust acc':>11s} {'success':>8s} {'median L2':>10s} | {'with ties (|margin| <= 1e-4) as fooled':s}  {'same images':>11s}")
    for k in advs:
        r, q = rep[k], tol[k]
        print(f"{k:13s} {t[k]:9.2f} {r['robust_acc']:11.4f} {r['success_rate']:8.4f} {r['median_l2']:10.4f} | robust acc {q['robust_acc']:.4f}, "
              f"median L2 {q['median_l2']:.4f}, {near[k]:3d} near boundary  {same[k]:10.1%}")
    print(f"{'pgd-10':13s} {t['pgd10']:9.2f}")
    ratio, ratio3 = t['torchattacks'] / t['ours'], t['torchattacks'] / t['ours_top3']
    d = lambda rr, key, k='ours': abs(rr[k][key] - rr['torchattacks'][key])
    print(f"\nspeed-up {ratio:.1f}x exact, {ratio3:.1f}x with top-3 candidate classes (ours: {', '.join(f'{v:.2f}s' for v in runs['ours'])})")
    print(f"robust acc differs by {100 * d(rep, 'robust_acc'):.2f} points (ties as fooled: {100 * d(tol, 'robust_acc'):.2f}); median L2 by "
          f"{100 * d(rep, 'median_l2') / rep['torchattacks']['median_l2']:.2f}% (ties as fooled: {100 * d(tol, 'median_l2') / tol['torchattacks']['median_l2']:.2f}%)")
    print(f"evaluation noise floor (robust acc, batch 1 vs 256): " + ', '.join(f'{k} {100 * v:.2f} points' for k, v in noise.items())
          + f"; torchattacks vs ours at batch 1: {100 * d(rep1, 'robust_acc'):.2f} points")
    print(f"DeepFool steps per image (ours): mean {nsteps.float().mean():.2f}, max {int(nsteps.max())}; clean accuracy {rep['ours']['clean_acc']:.3f}")
    rnd = lambda dd: {kk: round(vv, 5) if isinstance(vv, float) else vv for kk, vv in dd.items()}
    res = dict(model='CustomCNN(depth=3, width=32)', n_params=n_params(model), train_steps=a.train_steps, n_images=a.n, threads=a.threads,
               load_avg_1min=round(os.getloadavg()[0], 2), torch=torch.__version__, torchattacks=torchattacks.__version__,
               machine=platform.processor() or platform.machine(), seconds={k: [round(v, 3) for v in vv] for k, vv in runs.items()},
               speedup=round(ratio, 2), speedup_top3=round(ratio3, 2), same_images_frac=same, near_boundary=near,
               mean_steps=round(nsteps.float().mean().item(), 3), report={k: rnd(v) for k, v in rep.items()},
               report_ties_as_fooled={k: rnd(v) for k, v in tol.items()}, report_batch1={k: rnd(v) for k, v in rep1.items()},
               eval_noise_points={k: round(100 * v, 3) for k, v in noise.items()})
    write_json(a.out, res)
    print('wrote', a.out)

if __name__ == '__main__': main()
