#!/usr/bin/env python3
"""Recall of asynclint against the peers' own test suites (ruff, flake8-async, pyright).

The peers' files are read from where they were fetched (never copied into this repository): SUITES holds
  ruff/fixtures/*.py and ruff/snapshots/*.snap   (crates/ruff_linter/resources/test/fixtures/{flake8_async,ruff},
                                                   crates/ruff_linter/src/rules/{flake8_async,ruff}/snapshots)
  flake8-async/*.py                               (tests/eval_files, with their `# ASYNCxxx:` markers)
  pyright/unusedCoroutine1.py                     (packages/pyright-internal/src/tests/samples)
Our own data is rows.csv (every peer row: expected, peer-error or deliberate-difference, with a reason) and
extras.csv (our findings on those files that no peer row expects, each judged right or wrong).
"""
import csv
import glob
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))

# Which of our codes report what each peer code reports (README, "Suppressing findings", and the rule docs).
MAPPING = {
    "ASYNC210": {"AL102"}, "ASYNC211": {"AL102"}, "ASYNC212": {"AL102"},
    "ASYNC220": {"AL103"}, "ASYNC221": {"AL103"}, "ASYNC222": {"AL103"},
    "ASYNC230": {"AL104"}, "ASYNC231": {"AL104"}, "ASYNC232": {"AL104"}, "ASYNC240": {"AL104"},
    "ASYNC250": {"AL107"}, "ASYNC251": {"AL101"},
    # flake8-async's configurable list of blocking calls; ours is `extra-blocking-calls`, so any AL1 code.
    "ASYNC200": {"AL101", "AL102", "AL103", "AL104", "AL105", "AL106", "AL107"},
    "ASYNC300": {"AL201"},
    "ASYNC105": {"AL204"},
    "RUF006": {"AL201", "AL202"},
    "reportUnusedCoroutine": {"AL204"},
}
# The files of each suite that test those codes.
RUFF_FILES = re.compile(r"^(ASYNC105|ASYNC2\w*|RUF006)\.py$")
FLAKE8_FILES = re.compile(r"^async(2\w*|300)\.py$")


def ruff_rows(suites):
    rows = []
    for snap in sorted(glob.glob(os.path.join(suites, "ruff", "snapshots", "*.snap"))):
        text = open(snap, encoding="utf-8").read()
        for m in re.finditer(r"^(\w+?\d+) .*\n\s*--> (\S+?\.py):(\d+):\d+", text, re.M):
            code, name, line = m.group(1), m.group(2), int(m.group(3))
            if RUFF_FILES.match(name) and code in MAPPING:
                rows.append(("ruff", name, line, code))
    return rows


def flake8_rows(suites):
    """The test harness's own reading of its markers: code (an `_asyncio` variant is the same code) and line."""
    rows = []
    for path in sorted(glob.glob(os.path.join(suites, "flake8-async", "*.py"))):
        name = os.path.basename(path)
        if not FLAKE8_FILES.match(name):
            continue
        test_code = "ASYNC" + name[5:8]
        for lineno, line in enumerate(open(path, encoding="utf-8").read().split("\n"), start=1):
            line = line.replace("\\n", "\n").strip()
            if not line or line[0] == "#" or "#" not in line:
                continue
            for code, _alt, _args in re.findall(r"(error|ASYNC...)(_.*)?:([^#]*)(?=#|$)", line):
                rows.append(("flake8-async", name, lineno, test_code if code == "error" else code))
    return rows


def pyright_rows(suites):
    rows = []
    path = os.path.join(suites, "pyright", "unusedCoroutine1.py")
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        if "This should generate an error" in line:
            j = i + 1
            while not lines[j].strip():
                j += 1
            rows.append(("pyright", os.path.basename(path), j + 1, "reportUnusedCoroutine"))
    return rows


def suite_dir(suites, suite):
    return {"ruff": os.path.join(suites, "ruff", "fixtures"), "flake8-async": os.path.join(suites, "flake8-async"),
            "pyright": os.path.join(suites, "pyright")}[suite]


def our_findings(asynclint, path):
    """(start line, end line, code, message) of each finding asynclint makes on one file, checked on its own."""
    out = subprocess.run([asynclint, "check", "--no-cache", "--output-format", "json", path],
                         capture_output=True, text=True, cwd=os.path.dirname(path))
    if out.returncode not in (0, 1):
        sys.exit(f"asynclint failed on {path}: {out.stderr}")
    return [(d["location"]["row"], d["end_location"]["row"], d["code"], d["message"]) for d in json.loads(out.stdout)]


def read_table(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["suite"], r["file"], int(r["line"]), r["code"]): r for r in csv.DictReader(f)}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: recall.py SUITES_DIR")
    suites = sys.argv[1]
    asynclint = os.environ.get("ASYNCLINT", os.path.join(HERE, "..", "..", "target", "release", "asynclint"))
    verbose = os.environ.get("VERBOSE")
    rows = ruff_rows(suites) + flake8_rows(suites) + pyright_rows(suites)
    table, extras = read_table("rows.csv"), read_table("extras.csv")
    findings = {}
    for suite, name in sorted({(r[0], r[1]) for r in rows}):
        findings[(suite, name)] = our_findings(asynclint, os.path.join(suite_dir(suites, suite), name))

    counts = defaultdict(lambda: [0, 0])
    excluded = defaultdict(int)
    problems = []
    # A line may carry two expected findings of one code (`requests.get(requests.get())`): each needs one of ours.
    for (suite, name, line, code), n in sorted(Counter(rows).items()):
        entry = table.get((suite, name, line, code))
        if entry is None:
            problems.append(f"unclassified row (counted as expected): {suite},{name},{line},{code}")
            status = "expected"
        else:
            status = entry["status"]
            if status != "expected" and not entry["reason"].strip():
                problems.append(f"excluded row without a reason: {suite},{name},{line},{code}")
        if status != "expected":
            excluded[(suite, status, entry["reason"])] += n
            continue
        found = sum(start <= line <= end and c in MAPPING[code] for start, end, c, _ in findings[(suite, name)])
        counts[suite][0] += min(found, n)
        counts[suite][1] += n
        if found < n:
            print(f"MISSED {suite} {name}:{line} {code}" + (f" ({found} of {n})" if n > 1 else ""))
    for key in table:
        if key not in {tuple(r) for r in rows}:
            problems.append(f"rows.csv names a row the suites do not have: {','.join(map(str, key))}")

    # Our findings on lines where the peer expects nothing of a code we map from.
    expected_lines = defaultdict(set)
    for suite, name, line, code in rows:
        expected_lines[(suite, name)].add(line)
    extra_count = defaultdict(lambda: defaultdict(int))
    for (suite, name), found in sorted(findings.items()):
        for start, end, code, message in found:
            if any(start <= line <= end for line in expected_lines[(suite, name)]):
                continue
            judged = extras.get((suite, name, start, code))
            verdict = judged["verdict"] if judged else "unjudged"
            extra_count[suite][verdict] += 1
            if verdict == "unjudged" or verbose:
                print(f"EXTRA {verdict} {suite} {name}:{start} {code} {message}")

    print()
    for (suite, status, reason), n in sorted(excluded.items()):
        print(f"excluded {suite} {status} x{n}: {reason}")
    print()
    for suite in ("ruff", "flake8-async", "pyright"):
        hit, total = counts[suite]
        ratio = hit / total if total else 1.0
        extra = ", ".join(f"{v} {n}" for v, n in sorted(extra_count[suite].items())) or "none"
        print(f"{suite}: recall {hit}/{total} = {ratio:.3f}; extra findings: {extra}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
