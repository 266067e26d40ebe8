"""Two models at once or one at a time? Training-step throughput of the zoo's architectures on this machine.

For each architecture of the paper zoo (CustomCNN depth x width, VGGStyle) it times SGD training steps (forward,
backward, optimizer step; batch 128, channels-last, random data: the speed does not depend on the pixels) in
three ways, each in fresh processes:

- `seq-2t`: one process with 2 threads (what `--backend local` does: models one after another, all cores);
- `seq-1t`: one process with 1 thread;
- `par-2x1t`: two processes at the same time, 1 thread each (what `--backend ray --jobs 2` does).

It reports seconds per epoch of 30,000 images and, for the parallel case, the *effective* seconds per model
(wall time / 2). speed-up = seq-2t / effective par-2x1t; above 1 means running two models at once gets more out of
the cores. Zoo totals weight each architecture by its count in the paper zoo (12 of each CNN, 6 VGG).

    .venv/bin/python bench/bench_parallel.py [--steps 12] [--out bench/results/parallel.json]
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path
from benchio import write_json

ARCHS = {'cnn2x16': 12, 'cnn2x32': 12, 'cnn3x16': 12, 'cnn3x32': 12, 'vgg': 6}   # architecture: models in the paper zoo

def worker(arch, threads, steps, bs=128):
    "Time `steps` training steps (after 2 warm-up steps); print seconds per 30k-image epoch as JSON."
    import torch
    from robustness_study.models import CustomCNN, VGGStyle
    torch.set_num_threads(threads); torch.manual_seed(0)
    m = VGGStyle() if arch == 'vgg' else CustomCNN(int(arch[3]), int(arch.split('x')[1]))
    m = m.train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), 0.01, momentum=0.9)
    x = torch.rand(bs, 3, 32, 32).contiguous(memory_format=torch.channels_last); y = torch.randint(0, 10, (bs,))
    for i in range(steps + 2):
        if i == 2: t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
    print(json.dumps({'s_per_epoch': (time.perf_counter() - t) / steps * 30000 / bs}))

def spawn(arch, threads, steps):
    return subprocess.Popen([sys.executable, __file__, '--worker', arch, str(threads), '--steps', str(steps)], stdout=subprocess.PIPE, text=True)

def result(p):
    out, _ = p.communicate()
    if p.returncode: raise SystemExit(f'worker failed (exit {p.returncode})')
    return json.loads(out.strip().splitlines()[-1])['s_per_epoch']

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=12); ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'parallel.json'))
    ap.add_argument('--worker', nargs=2, metavar=('ARCH', 'THREADS'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a.worker[0], int(a.worker[1]), a.steps)
    print(f'{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {a.steps} timed steps per measurement\n')
    rows = {}
    for arch in ARCHS:
        seq2 = result(spawn(arch, 2, a.steps))
        seq1 = result(spawn(arch, 1, a.steps))
        t = time.perf_counter(); ps = [spawn(arch, 1, a.steps) for _ in range(2)]; par = [result(p) for p in ps]
        rows[arch] = dict(seq_2t=seq2, seq_1t=seq1, par_2x1t_each=sum(par) / 2, par_effective=sum(par) / 4, speedup=seq2 / (sum(par) / 4))
    print(f"{'arch':8s} {'seq-2t':>8s} {'seq-1t':>8s} {'par each':>9s} {'par eff.':>9s} {'speed-up':>9s}   (s per 30k-image epoch)")
    for k, r in rows.items():
        print(f"{k:8s} {r['seq_2t']:8.1f} {r['seq_1t']:8.1f} {r['par_2x1t_each']:9.1f} {r['par_effective']:9.1f} {r['speedup']:8.2f}x")
    zoo_seq = sum(ARCHS[k] * r['seq_2t'] for k, r in rows.items()); zoo_par = sum(ARCHS[k] * r['par_effective'] for k, r in rows.items())
    print(f'\nwhole paper zoo, one epoch: {zoo_seq:.0f} s one at a time (2 threads), {zoo_par:.0f} s two at a time (1 thread each): '
          f'{zoo_seq / zoo_par:.2f}x')
    res = dict(cores=os.cpu_count(), load_avg_1min=round(os.getloadavg()[0], 2), steps=a.steps, batch_size=128, machine=platform.processor() or platform.machine(),
               rows={k: {kk: round(v, 2) for kk, v in r.items()} for k, r in rows.items()}, zoo_epoch_seconds_seq_2t=round(zoo_seq), zoo_epoch_seconds_par_2x1t=round(zoo_par),
               zoo_speedup=round(zoo_seq / zoo_par, 3))
    write_json(a.out, res)
    print('wrote', a.out)

if __name__ == '__main__': main()
