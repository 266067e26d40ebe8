"""Benchmark CIFAR-10-C generation: seconds per corruption and severity for N test images (default 2,000).

Budget: all 19 corruptions x 5 severities for a 2,000-image test subset within a few minutes on 2 cores; the script
compares the total with a 180 s budget. Baseline for the slowest corruption: glass blur written
like the original `make_cifar_c.py` (one image at a time: blur, a Python loop over 30 x 30 pixel positions, blur),
timed on the same images in the same run against the vectorised `corrupt(..., 'glass_blur', ...)`.

Thread settings: torch single-threaded (torch is not used by the corruptions); numpy/BLAS and OpenCV are left at
their defaults, which the script reports (OpenCV's pool is `cv2.getNumThreads()`).

Usage: ROBUSTNESS_STUDY_DATA=/work/shared/data .venv/bin/python bench/bench_corruptions.py [--n 2000] [--baseline-n 200] [--out bench/results/corruptions.json]
Writes bench/results/corruptions.json.
"""
from __future__ import annotations
import argparse, os, platform, time
from pathlib import Path
import cv2
import numpy as np
import scipy, skimage
import torch
from robustness_study.data import cifar10_subset
from robustness_study.corruptions import CORRUPTIONS, PARAMS, corrupt, frost_images, _blur
from benchio import write_json

BUDGET_S = 180.0

def glass_blur_loop(images: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    "Glass blur the way the original script runs it: per image, with a Python loop over pixel positions."
    sigma, delta, passes = PARAMS['glass_blur'][severity - 1]
    rng, out = np.random.default_rng(seed), np.empty_like(images)
    for n, img in enumerate(images):
        x = (_blur(img[None].astype(np.float32) / 255, sigma) * 255).astype(np.uint8)[0]
        for _ in range(passes):
            for h in range(32 - delta, delta, -1):
                for w in range(32 - delta, delta, -1):
                    dx, dy = rng.integers(-delta, delta, size=2)
                    h2, w2 = h + dy, w + dx
                    x[h, w], x[h2, w2] = x[h2, w2], x[h, w]
        out[n] = np.rint(np.clip(_blur(x[None].astype(np.float32) / 255, sigma)[0], 0, 1) * 255)
    return out

def thread_info() -> dict:
    info = {'cv2_threads': cv2.getNumThreads(), 'torch_threads': torch.get_num_threads(), 'cpu_count': os.cpu_count(),
            'env': {k: os.environ[k] for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS') if k in os.environ}}
    try:
        import threadpoolctl
        np.ones((64, 64)) @ np.ones((64, 64))
        info['blas'] = [{k: p.get(k) for k in ('internal_api', 'num_threads')} for p in threadpoolctl.threadpool_info()]
    except ImportError: pass
    return info

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=2000, help='test images (class-balanced subset)')
    ap.add_argument('--baseline-n', type=int, default=200, help='images for the per-image glass-blur baseline')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'corruptions.json'))
    a = ap.parse_args()
    torch.set_num_threads(1)
    x, _ = cifar10_subset(a.n, split='test')
    frost_images()  # read the overlays once, outside the timings
    threads = thread_info()
    load_before = os.getloadavg()
    print(f'N={len(x)} images; cv2 threads {threads["cv2_threads"]}, torch threads {threads["torch_threads"]}, '
          f'BLAS {threads.get("blas")}, {threads["cpu_count"]} CPUs')
    times = {}
    print(f'{"corruption":18s}' + ''.join(f'{"s" + str(s):>8s}' for s in range(1, 6)) + f'{"total":>9s}')
    for name in CORRUPTIONS:
        ts = []
        for s in range(1, 6):
            t = time.perf_counter(); corrupt(x, name, s); ts.append(time.perf_counter() - t)
        times[name] = {'per_severity_s': [round(v, 4) for v in ts], 'total_s': round(sum(ts), 3)}
        print(f'{name:18s}' + ''.join(f'{v:8.2f}' for v in ts) + f'{sum(ts):9.2f}')
    total = sum(v['total_s'] for v in times.values())
    print(f'total 19 x 5 for {len(x)} images: {total:.1f} s = {total / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget '
          f'({len(x) * 95 / total:,.0f} images/s)')

    xb = x[:a.baseline_n]
    t = time.perf_counter(); glass_blur_loop(xb, 5); t_loop = time.perf_counter() - t
    t = time.perf_counter(); corrupt(xb, 'glass_blur', 5); t_vec = time.perf_counter() - t
    print(f'glass_blur severity 5 on {len(xb)} images: per-image loop (original style) {t_loop:.2f} s, '
          f'vectorised {t_vec:.3f} s, speed-up {t_loop / t_vec:.0f}x')

    res = {'n_images': len(x), 'budget_s': BUDGET_S, 'total_s': round(total, 2), 'ratio_to_budget': round(total / BUDGET_S, 3),
           'per_corruption': times,
           'glass_blur_baseline': {'n_images': len(xb), 'severity': 5, 'loop_s': round(t_loop, 3),
                                   'vectorised_s': round(t_vec, 4), 'speedup': round(t_loop / t_vec, 1)},
           'threads': threads, 'load_average_1min': {'before': round(load_before[0], 2), 'after': round(os.getloadavg()[0], 2)},
           'versions': {'python': platform.python_version(), 'numpy': np.__version__, 'scipy': scipy.__version__,
                        'skimage': skimage.__version__, 'cv2': cv2.__version__},
           'machine': platform.machine(), 'command': 'python bench/bench_corruptions.py ' + f'--n {a.n} --baseline-n {a.baseline_n}'}
    write_json(a.out, res)
    print(f'load average (1 min) before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs')
    print(f'wrote {a.out}')

if __name__ == '__main__': main()
