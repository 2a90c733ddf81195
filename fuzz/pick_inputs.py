#!/usr/bin/env python3
"""Picks a few inputs from a fuzzing run's corpus for the checked-in seeds.

A libFuzzer run leaves thousands of inputs; the checked-in corpus should stay
at tens of small files. Given the control file of a set-cover merge, this
starts from the features of the checked-in seeds and greedily takes the input
that adds the most new features (ties: the smaller file), N times, printing
"path<TAB>new features<TAB>bytes" per pick:

    mkdir -p /tmp/fz/merged
    build-fuzz2/fuzz/trace_reader_fuzz -set_cover_merge=1 \\
        -merge_control_file=/tmp/fz/mcf /tmp/fz/merged \\
        fuzz/corpus/trace_reader_fuzz /tmp/fz/trace
    fuzz/pick_inputs.py /tmp/fz/mcf fuzz/corpus/trace_reader_fuzz 25

(Run from the directory the fuzzer ran in: the control file names inputs by
the paths it was given. With -set_cover_merge=1 each input's FT line lists all
of its features; with -merge=1 only the ones no earlier input had.)
"""
import os
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: pick_inputs.py CONTROL_FILE SEED_DIR N")
    control, seed_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = open(control).read().split("\n")
    nfiles = int(lines[0])
    files = lines[2:2 + nfiles]
    features = {}
    for line in lines[2 + nfiles:]:
        parts = line.split()
        if parts and parts[0] == "FT":
            features[int(parts[1])] = set(map(int, parts[2:]))
    seed_dir = os.path.abspath(seed_dir)
    seeds = {i for i, f in enumerate(files)
             if os.path.dirname(os.path.abspath(f)) == seed_dir}
    have = set().union(*(features.get(i, set()) for i in seeds))
    total = set().union(*features.values())
    print(f"seeds: {len(seeds)} files, {len(have)} of {len(total)} features",
          file=sys.stderr)
    cand = {i: s for i, s in features.items() if i not in seeds}
    for _ in range(n):
        if not cand:
            break
        best = max(cand, key=lambda i: (len(cand[i] - have),
                                        -os.path.getsize(files[i])))
        gain = len(cand[best] - have)
        if gain == 0:
            break
        have |= cand.pop(best)
        print(f"{files[best]}\t{gain}\t{os.path.getsize(files[best])}")
    print(f"picked: {len(have)} of {len(total)} features", file=sys.stderr)


if __name__ == "__main__":
    main()
