"""Summarise py-spy's folded stacks (``bench/load.py --py-spy``): the share of samples under each
function (inclusive) and in each function (self), so a profile can be read without a flame graph.

    .venv/bin/python bench/folded.py /tmp/spy-64.txt --top 40 [--under _flush_state]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    parts = Path(m["file"]).parts
    where = "/".join(parts[parts.index("site-packages") + 1:] if "site-packages" in parts else parts[-2:])
    return f"{m['func']} ({where})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--under", default=None, help="only stacks through a function whose name contains this")
    args = p.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(args.path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [short(f) for f in stack.split(";")]
        if args.under and not any(args.under in f for f in frames):
            continue
        count = int(count_text)
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {count / total * 100:5.1f}%  {frame}")
    print("self:")
    for frame, count in own.most_common(args.top):
        print(f"  {count / total * 100:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
