"""Evaluation passes with the model in the default (NCHW-contiguous) memory format against channels-last, for two input layouts.

`load_checkpoint` returns channels-last models. With NCHW-contiguous inputs that makes evaluation faster, but the
stages do not pass NCHW-contiguous tensors: `robustness_study.data.to_nchw` turns the decoded uint8 NHWC arrays into a
permuted view, which is already channels-last in memory, and PyTorch runs a convolution channels-last when either its
input or its weight is. So this times both layouts:

- `nchw`: NCHW-contiguous inputs (`torch.rand`), where the model's format decides the kernel;
- `stage`: the inputs as the stages build them (`to_nchw` of uint8 NHWC images), the layout that matters.

For each, on one thread (what a `--backend ray --jobs 2` task has) and for each architecture of the paper zoo:

- `eval`: a no-grad forward pass of 500 images (what CIFAR-10-C and the accuracy evaluations do, batch after batch);
- `grad`: a forward and backward pass to the input of 200 images (one step of a gradient attack).

Baseline = contiguous model, measured in the same process, alternating, best of `--rounds`. A speedup near 1 in the
`stage` rows means the channels-last model buys nothing in the pipeline. It also reports the largest difference of the
logits between the two model formats (float rounding: the kernels sum in another order).

    .venv/bin/python bench/bench_memory_format.py [--rounds 5] [--out bench/results/memory_format.json]
"""
import argparse, os, platform, time
from pathlib import Path
from benchio import write_json

def timeit(f, rounds):
    f(); best = float('inf')
    for _ in range(rounds):
        t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
    return best

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'memory_format.json'))
    a = ap.parse_args()
    import torch
    from robustness_study.models import CustomCNN, VGGStyle
    torch.set_num_threads(1); torch.manual_seed(0)
    archs = {'cnn2x16': lambda: CustomCNN(2, 16), 'cnn2x32': lambda: CustomCNN(2, 32), 'cnn3x16': lambda: CustomCNN(3, 16),
             'cnn3x32': lambda: CustomCNN(3, 32), 'vgg': lambda: VGGStyle()}
    from robustness_study.data import to_nchw
    g = torch.Generator().manual_seed(0)
    inputs = {'nchw': (torch.rand(500, 3, 32, 32, generator=g), torch.rand(200, 3, 32, 32, generator=g)),
              'stage': tuple(to_nchw(torch.randint(0, 256, (n, 32, 32, 3), generator=g, dtype=torch.uint8)) for n in (500, 200))}
    rows = {}
    print(f'{"arch":8} {"input":6} {"eval contig s":>13} {"eval CL s":>10} {"ratio":>6} {"grad contig s":>13} {"grad CL s":>10} {"ratio":>6} {"max |dlogit|":>12}')
    for name, make in archs.items():
        m = make().eval()
        for layout, (x_eval, x_grad) in inputs.items():
            def ev():
                with torch.no_grad(): m(x_eval)
            def gr():
                x = x_grad.clone(memory_format=torch.preserve_format).requires_grad_(True); torch.autograd.grad(m(x).sum(), x)
            r = {fmt: {'eval': float('inf'), 'grad': float('inf')} for fmt in ('contig', 'cl')}
            for _ in range(a.rounds):   # one round of each format in turn, so a drift of the machine hits both
                for fmt, mf in (('contig', torch.contiguous_format), ('cl', torch.channels_last)):
                    m.to(memory_format=mf)
                    r[fmt]['eval'] = min(r[fmt]['eval'], timeit(ev, 1)); r[fmt]['grad'] = min(r[fmt]['grad'], timeit(gr, 1))
            with torch.no_grad():
                m.to(memory_format=torch.contiguous_format); a_ = m(x_eval[:100])
                m.to(memory_format=torch.channels_last); b_ = m(x_eval[:100])
            row = {'input': layout, 'input_is_channels_last': x_eval.is_contiguous(memory_format=torch.channels_last),
                   'eval_contig_s': round(r['contig']['eval'], 4), 'eval_cl_s': round(r['cl']['eval'], 4),
                   'eval_speedup': round(r['contig']['eval'] / r['cl']['eval'], 2),
                   'grad_contig_s': round(r['contig']['grad'], 4), 'grad_cl_s': round(r['cl']['grad'], 4),
                   'grad_speedup': round(r['contig']['grad'] / r['cl']['grad'], 2), 'max_abs_logit_diff': float((a_ - b_).abs().max())}
            rows[f'{name}/{layout}'] = row
            print(f'{name:8} {layout:6} {row["eval_contig_s"]:13.3f} {row["eval_cl_s"]:10.3f} {row["eval_speedup"]:6.2f} '
                  f'{row["grad_contig_s"]:13.3f} {row["grad_cl_s"]:10.3f} {row["grad_speedup"]:6.2f} {row["max_abs_logit_diff"]:12.2e}')
    out = {'threads': 1, 'rounds': a.rounds, 'machine': platform.machine(), 'load_avg_1min': round(os.getloadavg()[0], 2),
           'torch': torch.__version__, 'rows': rows}
    print(f'wrote {write_json(a.out, out)}')

if __name__ == '__main__': main()
