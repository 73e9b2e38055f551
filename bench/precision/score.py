#!/usr/bin/env python3
"""Scores asynclint's findings on the precision corpus against bench/precision/judgments.csv.

    score.py [--cache DIR] [--projects NAME...] [--peers]

Reads DIR/findings/NAME.json (written by bench/precision/run.sh) and prints, per rule and per family, how many
findings were judged right, acceptable or wrong, and precision = (right + acceptable) / judged; then the findings
that have no judgment yet (new after a code change), and the judged findings no longer reported (per verdict).
With --peers it also compares with ruff's ASYNC and RUF006 findings (DIR/findings/NAME.ruff.json) line by line.
Always exits 0: it reports, it does not gate.
"""

import argparse
import collections
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERDICTS = ("right", "acceptable", "wrong")


def load_findings(cache, projects):
    """{(project, path, line, code): message} of every asynclint finding, path relative to the project dir."""
    found = {}
    for project in projects:
        root = os.path.join(cache, "corpus", project)
        try:
            with open(os.path.join(cache, "findings", project + ".json")) as handle:
                items = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"warning: no findings for {project}: {error}", file=sys.stderr)
            continue
        for item in items:
            path = os.path.relpath(os.path.realpath(item["filename"]), os.path.realpath(root)) if os.path.isabs(item["filename"]) else item["filename"]
            key = (project, path, item["location"]["row"], item["code"])
            found[key] = item["message"]
    return found


def load_judgments(path):
    judged = {}
    if not os.path.exists(path):
        return judged
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            verdict = row["verdict"].strip()
            if verdict not in VERDICTS:
                print(f"warning: bad verdict {verdict!r} in {row}", file=sys.stderr)
                continue
            key = (row["project"], row["path"], int(row["line"]), row["code"])
            judged[key] = (verdict, row["reason"])
    return judged


def table(found, judged):
    per_rule = collections.defaultdict(collections.Counter)
    for key in found:
        code = key[3]
        verdict = judged.get(key, ("unjudged",))[0]
        for group in (code, code[:3] + "xx", "all"):
            per_rule[group][verdict] += 1

    def order(group):
        return (group == "all", group[:3], not group.endswith("xx"), group)

    print(f"{'rule':<7} {'found':>5} {'right':>5} {'accept':>6} {'wrong':>5} {'unjdg':>5} {'precision':>9}")
    for group in sorted(per_rule, key=order):
        counts = per_rule[group]
        judged_n = sum(counts[v] for v in VERDICTS)
        precision = f"{(counts['right'] + counts['acceptable']) / judged_n:.0%}" if judged_n else "-"
        total = sum(counts.values())
        print(f"{group:<7} {total:>5} {counts['right']:>5} {counts['acceptable']:>6} {counts['wrong']:>5} "
              f"{counts['unjudged']:>5} {precision:>9}")


def load_ruff(cache, projects):
    """{(project, path, line, code): message} of ruff's findings."""
    found = {}
    for project in projects:
        root = os.path.join(cache, "corpus", project)
        try:
            with open(os.path.join(cache, "findings", project + ".ruff.json")) as handle:
                items = json.load(handle)
        except (OSError, ValueError):
            print(f"warning: no ruff findings for {project}", file=sys.stderr)
            continue
        for item in items:
            path = os.path.relpath(os.path.realpath(item["filename"]), os.path.realpath(root)) if os.path.isabs(item["filename"]) else item["filename"]
            found[(project, path, item["location"]["row"], item["code"])] = item["message"]
    return found


def peers(found, ruff, judged, limit):
    ours = {(p, f, line) for (p, f, line, _) in found}
    theirs = {(p, f, line) for (p, f, line, _) in ruff}
    only_ruff = sorted(key for key in ruff if key[:3] not in ours)
    only_ours = sorted(key for key in found if key[:3] not in theirs)

    def listing(title, keys, messages, verdicts):
        print(f"\n== {title}: {len(keys)}")
        by_code = collections.defaultdict(list)
        for key in keys:
            by_code[key[3]].append(key)
        for code in sorted(by_code):
            print(f"  {code}: {len(by_code[code])}")
        for code in sorted(by_code):
            shown = by_code[code] if limit <= 0 else by_code[code][:limit]
            for key in shown:
                project, path, line, _ = key
                verdict = f"[{verdicts[key][0]}] " if key in verdicts else ""
                print(f"  {code} {project}/{path}:{line} {verdict}{messages[key][:140]}")
            if len(shown) < len(by_code[code]):
                print(f"  {code} ... and {len(by_code[code]) - len(shown)} more (--peers-limit 0 lists all)")

    listing("ruff finds, asynclint does not report on the same line", only_ruff, ruff, {})
    listing("asynclint finds, ruff does not report on the same line", only_ours, found, judged)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=os.environ.get("ASYNCLINT_PRECISION_CACHE",
                                                          os.path.expanduser("~/.cache/asynclint-precision")))
    parser.add_argument("--projects", nargs="*", help="default: every project with findings in the cache")
    parser.add_argument("--judgments", default=os.path.join(HERE, "judgments.csv"))
    parser.add_argument("--peers", action="store_true", help="compare with ruff (NAME.ruff.json)")
    parser.add_argument("--peers-limit", type=int, default=20, help="findings listed per code in --peers (0: all)")
    args = parser.parse_args()
    projects = args.projects
    if not projects:
        directory = os.path.join(args.cache, "findings")
        projects = sorted(name[:-5] for name in os.listdir(directory)
                          if name.endswith(".json") and not name.endswith(".ruff.json"))

    found = load_findings(args.cache, projects)
    judged = load_judgments(args.judgments)
    print(f"\n== {len(found)} findings in {len(projects)} projects, {len(judged)} judgments")
    table(found, judged)

    unjudged = sorted(key for key in found if key not in judged)
    print(f"\n== findings with no judgment: {len(unjudged)}")
    for project, path, line, code in unjudged:
        print(f"  {project},{path},{line},{code}  {found[(project, path, line, code)][:160]}")

    gone = sorted(key for key in judged if key not in found and key[0] in projects)
    print(f"\n== judged findings no longer reported: {len(gone)}")
    labels = {"wrong": "wrong findings fixed", "right": "right findings lost", "acceptable": "acceptable findings lost"}
    counts = collections.Counter(judged[key][0] for key in gone)
    for verdict in VERDICTS:
        print(f"  {labels[verdict]}: {counts[verdict]}")
    for key in gone:
        project, path, line, code = key
        verdict, reason = judged[key]
        print(f"  {verdict:<10} {project}/{path}:{line} {code}  {reason[:120]}")

    if args.peers:
        peers(found, load_ruff(args.cache, projects), judged, args.peers_limit)
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - a scoring report never fails the run
        print(f"score.py: {error}", file=sys.stderr)
    sys.exit(0)
