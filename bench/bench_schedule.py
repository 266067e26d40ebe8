"""Start order of a parallel run: replay the measured per-model seconds of a finished run on J slots, in zoo
order and in `robustness_study.pipeline.schedule` order (largest expected cost first), against a perfect split.

    .venv/bin/python bench/bench_schedule.py                      # results/paper/results.csv, 2 slots
    .venv/bin/python bench/bench_schedule.py --table results/quick/results.csv --jobs 2

Greedy list scheduling, as the Ray backend does it: each model starts on the first slot that frees up. A model's
duration is the sum of its stage seconds (the `time.<stage>` columns; the `diag.*` seconds are parts of those
stages, not added). Needs no data and no model work: seconds to run.
Prints a table and writes bench/results/schedule.json.
"""
from __future__ import annotations
import argparse, heapq
from pathlib import Path
from benchio import write_json

HERE = Path(__file__).resolve().parent

def makespan(durations, jobs: int) -> float:
    "Wall time of greedy list scheduling of `durations` (in that order) on `jobs` slots."
    slots = [0.0] * jobs
    for d in durations: heapq.heappush(slots, heapq.heappop(slots) + d)
    return max(slots)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--table', default='results/paper/results.csv', help='a finished run\'s results.csv')
    ap.add_argument('--jobs', type=int, default=2, help='parallel slots (default 2)')
    ap.add_argument('--out', default=str(HERE/'results'/'schedule.json'))
    a = ap.parse_args(argv)
    if a.jobs < 1: raise SystemExit(f'--jobs must be positive, got {a.jobs}')
    from robustness_study.pipeline import schedule
    from robustness_study.results import read_results, STAGE_ORDER, TIMING_PREFIX
    from robustness_study.models import find_config
    df = read_results(a.table)
    cols = [f'{TIMING_PREFIX}{s}' for s in STAGE_ORDER if f'{TIMING_PREFIX}{s}' in df.columns]
    dur = dict(zip(df['id'], df[cols].fillna(0).sum(axis=1)))
    cfgs = [find_config(i) for i in df['id']]                    # table rows are in zoo order
    zoo_order = [dur[c['id']] for c in cfgs]
    lpt = [dur[c['id']] for c in schedule(cfgs)]
    total = sum(zoo_order)
    rows = {'perfect split': total / a.jobs, 'zoo order': makespan(zoo_order, a.jobs), 'schedule() order': makespan(lpt, a.jobs),
            'measured longest first (oracle)': makespan(sorted(zoo_order, reverse=True), a.jobs)}
    print(f'{len(cfgs)} models from {a.table}, {total:,.0f} stage core-seconds, {a.jobs} slots')
    print(f'{"order":34s} {"wall s":>9s} {"vs perfect":>10s}')
    for k, v in rows.items(): print(f'{k:34s} {v:9,.0f} {v / rows["perfect split"]:10.4f}')
    print(f'schedule() saves {rows["zoo order"] - rows["schedule() order"]:,.0f} s of wall against zoo order')
    write_json(a.out, dict(table=a.table, jobs=a.jobs, models=len(cfgs), stage_core_seconds=total, stage_columns=cols,
                           makespan_seconds=rows, saving_vs_zoo_order=rows['zoo order'] - rows['schedule() order']))

if __name__ == '__main__': main()
