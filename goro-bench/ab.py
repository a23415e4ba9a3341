#!/usr/bin/env python3
"""A/B in alternation: two builds of the harness, the same goro workloads.

    goro-bench/ab.py A_BIN B_BIN ROUNDS WORKLOAD[:N] ... [--runs R] [--taskset CPUS]

A_BIN and B_BIN are two `goro-bench` binaries (say, `target/release/goro-bench`
copied aside before and after a change). Each round runs, for every workload,
one worker process of A and one of B (`goro-bench worker --runtime goro
--workload W --runs R --warmup 1 [--n N]`), A first on even rounds and B first
on odd ones, so drift and outside load land on both alike. It prints, per
workload, the median over the rounds of each build's per-process median (ns
per operation, or ms for the workloads whose figure is a total) and B/A.
`--taskset 0` pins both to one core (with GOMAXPROCS=1 for one P).
"""
import json
import statistics
import subprocess
import sys

TOTALS = ('sieve', 'thread_ring', 'skynet', 'sleepers')  # figures in ms, not per op


def main(argv):
    runs, taskset = 3, None
    if '--runs' in argv:
        i = argv.index('--runs')
        runs = int(argv[i + 1])
        del argv[i:i + 2]
    if '--taskset' in argv:
        i = argv.index('--taskset')
        taskset = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) < 4:
        sys.exit(__doc__)
    a, b, rounds, loads = argv[0], argv[1], int(argv[2]), argv[3:]
    samples = {}
    for r in range(rounds):
        for wl in loads:
            name, _, n = wl.partition(':')
            order = [('A', a), ('B', b)] if r % 2 == 0 else [('B', b), ('A', a)]
            for tag, binary in order:
                cmd = [binary, 'worker', '--runtime', 'goro', '--workload', name,
                       '--runs', str(runs), '--warmup', '1']
                if n:
                    cmd += ['--n', n]
                if taskset:
                    cmd = ['taskset', '-c', taskset] + cmd
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                lines = [l for l in out.stdout.splitlines() if l.startswith('{')]
                if not lines:
                    print('FAIL', tag, wl, out.stderr[-500:])
                    continue
                j = json.loads(lines[-1])
                if j.get('error'):
                    print('ERROR', tag, wl, j['error'])
                    continue
                per = j['median_ns'] / (1e6 if name in TOTALS else j['n'])
                samples.setdefault((wl, tag), []).append(per)
        print(f'round {r + 1} of {rounds} done', file=sys.stderr, flush=True)
    print(f"{'workload':26} {'A':>10} {'B':>10} {'B/A':>6}   samples A | B")
    for wl in loads:
        sa, sb = samples.get((wl, 'A'), []), samples.get((wl, 'B'), [])
        if not sa or not sb:
            continue
        ma, mb = statistics.median(sa), statistics.median(sb)
        unit = 'ms' if wl.split(':')[0] in TOTALS else 'ns'
        print(f"{wl:26} {ma:8.1f}{unit} {mb:8.1f}{unit} {mb / ma:6.3f}   "
              f"{' '.join(f'{x:.1f}' for x in sa)} | {' '.join(f'{x:.1f}' for x in sb)}")


if __name__ == '__main__':
    main(sys.argv[1:])
