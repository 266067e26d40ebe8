"""Training-step throughput in fp32 and with bf16 autocast on this CPU: what bf16 training costs where it is emulated.

One thread (the paper run's layout), batch 128, `training.train_step_seconds` (channels-last, SGD); the two precisions
alternate for `--rounds` rounds of `--steps` timed steps after a warm-up step, and the best round counts. The table (images per
second per architecture and precision, and the bf16/fp32 step-time ratio) is written to
`bench/results/bf16_step-<cpu capability>.json`, so machines with and without native bf16 keep separate files.

    .venv/bin/python bench/bench_bf16_step.py [--steps 6] [--rounds 2]
"""
import argparse
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=6); ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--out', default=None, help='JSON to write (default bench/results/bf16_step-<capability>.json)')
    a = ap.parse_args()
    import torch
    from robustness_study.models import CustomCNN, VGGStyle
    from robustness_study.training import bf16_native, train_step_seconds
    from benchio import write_json
    torch.set_num_threads(1); torch.manual_seed(0)
    cap = torch.backends.cpu.get_cpu_capability()
    rows = []
    for name, make in [('CustomCNN(depth=2, width=16)', lambda: CustomCNN(depth=2, width=16)), ('CustomCNN(depth=3, width=32)', lambda: CustomCNN(depth=3, width=32)),
                       ('VGGStyle', VGGStyle)]:
        m, best = make(), {}
        for _ in range(a.rounds):
            for p in ('fp32', 'bf16'): best[p] = min(best.get(p, float('inf')), train_step_seconds(m, p == 'bf16', bs=128, steps=a.steps))
        rows.append({'model': name, 'fp32_img_s': round(128 / best['fp32'], 1), 'bf16_img_s': round(128 / best['bf16'], 1),
                     'bf16_over_fp32_step_time': round(best['bf16'] / best['fp32'], 2)})
        print(f"{name:30s} fp32 {rows[-1]['fp32_img_s']:8.1f} img/s   bf16 {rows[-1]['bf16_img_s']:8.1f} img/s   bf16 step = {rows[-1]['bf16_over_fp32_step_time']:.2f} x fp32", flush=True)
    out = a.out or Path(__file__).parent/'results'/f'bf16_step-{cap.lower()}.json'
    write_json(out, {'cpu_capability': cap, 'bf16_native': bf16_native(), 'threads': 1, 'bs': 128, 'steps': a.steps, 'rounds': a.rounds,
                     'torch': torch.__version__, 'rows': rows})
    print(f'cpu capability {cap}, native bf16 {bf16_native()}; wrote {out}')


if __name__ == '__main__': main()
