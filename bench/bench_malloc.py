"""Training steps and evaluation passes with glibc's default allocator settings against `runenv.tune_malloc`.

Baseline = the default `malloc` settings (dynamic mmap threshold, heap trimmed back to the kernel), what a process has
without `tune_malloc`. Each measurement is a fresh process (allocator settings cannot be undone inside one), on one torch
thread, channels-last, as a `--backend ray --jobs 2` task runs:

- `train`: SGD steps of batch 128 (forward, backward, step);
- `eval`: no-grad forward passes of 500 images (what CIFAR-10-C and the accuracy evaluations do, batch after batch).

Per process it reports wall seconds per step (best of the process's timed steps), user and system CPU seconds per step
and minor page faults per step. `--pairs` also runs two processes of the same setting at once, the paper run's layout
on 2 cores (each of the two is timed; their mean is reported). Settings alternate round by round, so a drift of the
machine hits both alike.

    .venv/bin/python bench/bench_malloc.py [--rounds 2] [--steps 8] [--pairs] [--out bench/results/malloc.json]
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path
from benchio import write_json

ARCHS = {'cnn2x16': 'CustomCNN(2, 16)', 'cnn3x32': 'CustomCNN(3, 32)', 'vgg': 'VGGStyle()'}

def child(setting, arch, mode, steps):
    "Runs in a fresh process: time `steps` steps after two warm-up steps; prints one JSON line."
    import resource, torch
    from robustness_study.models import CustomCNN, VGGStyle
    from robustness_study.runenv import tune_malloc
    torch.set_num_threads(1); torch.manual_seed(0)
    if setting == 'tuned': assert tune_malloc(), 'mallopt is not available here'
    m = eval(ARCHS[arch]).to(memory_format=torch.channels_last)
    if mode == 'train':
        opt = torch.optim.SGD(m.parameters(), 0.01, momentum=0.9)
        x = torch.rand(128, 3, 32, 32).contiguous(memory_format=torch.channels_last); y = torch.randint(0, 10, (128,))
        def step(): opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
    else:
        m.eval(); x = torch.rand(500, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        def step():
            with torch.no_grad(): m(x)
    for _ in range(2): step()
    r0, best = resource.getrusage(resource.RUSAGE_SELF), float('inf')
    for _ in range(steps):
        t = time.perf_counter(); step(); best = min(best, time.perf_counter() - t)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({'wall_s': best, 'user_s': (r1.ru_utime - r0.ru_utime) / steps, 'sys_s': (r1.ru_stime - r0.ru_stime) / steps,
                      'faults': (r1.ru_minflt - r0.ru_minflt) / steps}))

def spawn(setting, arch, mode, steps):
    return subprocess.Popen([sys.executable, __file__, '--child', setting, arch, mode, str(steps)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))

def collect(ps):
    outs = []
    for p in ps:
        o, _ = p.communicate()
        if p.returncode: raise RuntimeError(f'benchmark child failed with status {p.returncode}')
        outs.append(json.loads(o.strip().splitlines()[-1]))
    return {k: sum(o[k] for o in outs) / len(outs) for k in outs[0]}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--steps', type=int, default=8)
    ap.add_argument('--pairs', action='store_true', help='also two processes at once')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'malloc.json'))
    ap.add_argument('--child', nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(*a.child[:3], int(a.child[3]))
    layouts = ['one'] + (['two'] if a.pairs else [])
    res = {}
    for _ in range(a.rounds):
        for layout in layouts:
            for arch in ARCHS:
                for mode in ('train', 'eval'):
                    for setting in ('default', 'tuned'):
                        r = collect([spawn(setting, arch, mode, a.steps) for _ in range(1 if layout == 'one' else 2)])
                        key = (layout, arch, mode, setting); old = res.get(key)
                        res[key] = r if old is None or r['wall_s'] < old['wall_s'] else old   # best round
    rows = {}
    print(f'{"layout":6} {"arch":8} {"mode":5} {"default s":>9} {"tuned s":>8} {"speedup":>7} {"sys s default":>13} {"sys s tuned":>11} {"faults default":>14} {"faults tuned":>12}')
    for layout in layouts:
        for arch in ARCHS:
            for mode in ('train', 'eval'):
                d, t = res[layout, arch, mode, 'default'], res[layout, arch, mode, 'tuned']
                row = {'default': {k: round(v, 4) for k, v in d.items()}, 'tuned': {k: round(v, 4) for k, v in t.items()},
                       'speedup': round(d['wall_s'] / t['wall_s'], 3)}
                rows[f'{layout}/{arch}/{mode}'] = row
                print(f'{layout:6} {arch:8} {mode:5} {d["wall_s"]:9.3f} {t["wall_s"]:8.3f} {row["speedup"]:7.3f} {d["sys_s"]:13.4f} '
                      f'{t["sys_s"]:11.4f} {d["faults"]:14,.0f} {t["faults"]:12,.0f}')
    import torch
    out = {'threads': 1, 'rounds': a.rounds, 'steps': a.steps, 'machine': platform.machine(), 'libc': platform.libc_ver(),
           'load_avg_1min': round(os.getloadavg()[0], 2), 'torch': torch.__version__, 'rows': rows}
    print(f'wrote {write_json(a.out, out)}')

if __name__ == '__main__': main()
