# make mutants: how strong the tests of the decision modules are, by mutation testing.
#
#   python3 tools/mutants.py [--out out/mutants/results.json] [--jobs 2] [module ...]
#
# For each decision module, mutmut (pinned in requirements-mutants.txt) changes the code one
# small step at a time (a comparison turned round, a constant off by one, a call dropped) and
# runs the tests that exercise it; a mutant the tests do not notice "survived". A mutant the
# tests cannot notice because it changes nothing the controller does (an equivalent mutant)
# is listed in tools/mutants_explained.txt with the reason; every other survivor is a gap.
#
# Each module runs in its own copy of the tree under out/mutants/<module>/, for two reasons:
# - mutmut 3 never mutates a decorated function, and MainsMonitor.process is viper code. In
#   the copy the `@micropython.viper` line is dropped: under CPython the decorator returns the
#   function unchanged (micropython.py), so the copy runs the same lines the tests run.
# - the tests chosen are the CPython ones that exercise the module. Tests that run the
#   MicroPython unix port would import mutmut's trampolines into the firmware bundle.
#
# The report: per module mutants, killed, survived, explained, timeouts, the share killed,
# and each survivor with its diff; written to --out as JSON.
import argparse
import ast
import difflib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPLAINED = os.path.join(ROOT, "tools", "mutants_explained.txt")

# module -> the CPython tests that decide it
MODULES = {
    "mains_monitor": [
        "unit/test_mains_cycles.py",
        "unit/test_mains_monitor.py",
        "scenario/test_iec61000_4_11.py",
    ],
    "transfer": ["unit/test_transfer.py"],
    "generator": ["unit/test_generator_sequence.py"],
    "battery": ["unit/test_battery.py"],
    "supervisor": [
        "scenario/test_inputs.py",
        "scenario/test_selftest.py",
        "scenario/test_modes.py",
        "scenario/test_generator.py",
        "scenario/test_faults.py",
        "scenario/test_watchdog.py",
    ],
}
COPIED = ("firmware", "boards", "tools", "scenarios")
TEST_SUPPORT = ("conftest.py", "helpers.py", "rigs.py", "mains_feed.py", "fakes.py")
GOAL_PCT = 90
SEED = 1
# Modules whose tests are whole scenarios (seconds each): a sample of their mutants.
SAMPLED = {"supervisor": 60}

KILLED = (1, 3)
SURVIVED = 0
NO_TESTS = (5, 33)  # no selected test runs the mutated function: a survivor too
TIMEOUT = (36, 24, -24, 152, 255)


def stage(module, tests):
    # A copy of the tree with only what this module's run needs.
    where = os.path.join(ROOT, "out", "mutants", module)
    shutil.rmtree(where, ignore_errors=True)
    for name in COPIED:
        shutil.copytree(
            os.path.join(ROOT, name),
            os.path.join(where, name),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    shutil.copy(os.path.join(ROOT, "micropython.py"), where)  # const() under CPython
    for name in TEST_SUPPORT + tuple(tests):
        dest = os.path.join(where, "host_tests", name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.join(ROOT, "host_tests", name), dest)
    target = os.path.join(where, "firmware", module + ".py")
    with open(target) as f:
        text = f.read()
    with open(target, "w") as f:
        f.write(re.sub(r"^[ \t]*@micropython\.viper[ \t]*\n", "", text, flags=re.M))
    selection = "\n    ".join("host_tests/" + t for t in tests)
    with open(os.path.join(where, "setup.cfg"), "w") as f:
        f.write(
            "[mutmut]\n"
            "source_paths = firmware\n"
            "only_mutate = firmware/%s.py\n"
            "pytest_add_cli_args_test_selection =\n    %s\n"
            "pytest_add_cli_args = -p no:cacheprovider -p no:randomly\n"
            "also_copy =\n    host_tests\n    boards\n    tools\n    scenarios\n"
            "    micropython.py\n"
            "use_git_change_detection = false\n" % (module, selection)
        )
    return where


def explained():
    # "module | Class.function | the line as written | why" per line ('#' starts a comment
    # line). An explanation covers every mutant of that line in that function, so it
    # outlives the renumbering an edit causes.
    reasons = {}
    with open(EXPLAINED) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            if len(parts) != 4 or not all(parts):
                raise SystemExit(
                    "mutants: %s:%d: expected 'module | function | line | why'" % (EXPLAINED, n)
                )
            reasons[tuple(parts[:3])] = parts[3]
    return reasons


def _key(module, name, diff):
    # (module, Class.function, the original line) of a mutant; mutmut names a method
    # x\u01c1Class\u01c1method__mutmut_N and a function x_function__mutmut_N
    base = name.split("__mutmut_")[0].rsplit(".", 1)[-1]
    if base.startswith("x\u01c1"):
        func = ".".join(base[2:].split("\u01c1"))
    else:
        func = base[2:] if base.startswith("x_") else base
    removed = [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("-") and not ln.startswith("---")
    ]
    return (module, func, removed[0] if removed else "")


def _diffs(path):
    # mutant name -> its diff against the original function, read from the mutated source
    # mutmut writes (mutmut show costs a second a mutant). Each function f is there as
    # x_f__mutmut_orig and x_f__mutmut_N (methods x\u01c1Class\u01c1f__mutmut_N).
    with open(path) as f:
        src = f.read()
    lines = src.splitlines()
    funcs = {
        node.name: lines[node.lineno - 1 : node.end_lineno]
        for node in ast.walk(ast.parse(src))
        if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name
    }

    def diff(name):
        fn = name.rsplit(".", 1)[-1]
        base = fn.split("__mutmut_")[0]
        orig = funcs[base + "__mutmut_orig"]
        mutant = [ln.replace(fn, base + "__mutmut_orig") for ln in funcs[fn]]
        return "\n".join(
            difflib.unified_diff(orig, mutant, "original", "mutant", lineterm="", n=1)
        )

    return diff


def run(module, tests, jobs, sample=0):
    where = stage(module, tests)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
    meta = os.path.join(where, "mutants", "firmware", module + ".py.meta")
    t0 = time.monotonic()
    names = []
    total = None
    if sample:
        # mutmut generates every mutant (and times the tests) before it finds that no
        # mutant has this name; then a seeded sample of them is run.
        subprocess.run(
            [mutmut, "run", "no-such-mutant"],
            cwd=where,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not os.path.exists(meta):
            raise SystemExit("mutants: mutmut generated no mutants for " + module)
        with open(meta) as f:
            every = sorted(json.load(f)["exit_code_by_key"])
        total = len(every)
        names = random.Random(SEED).sample(every, min(sample, total))
    done = subprocess.run(
        [mutmut, "run", "--max-children", str(jobs)] + names,
        cwd=where,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.monotonic() - t0
    if done.returncode != 0 or not os.path.exists(meta):
        raise SystemExit("mutants: mutmut failed on %s:\n%s" % (module, done.stderr[-3000:]))
    with open(meta) as f:
        codes = json.load(f)["exit_code_by_key"]
    if names:
        codes = {k: codes[k] for k in names}
    reasons = explained()
    used = set()
    survivors = []
    diff_of = _diffs(os.path.join(where, "mutants", "firmware", module + ".py"))
    counts = {
        "mutants": len(codes),
        "killed": 0,
        "timeout": 0,
        "survived": 0,
        "explained": 0,
        "other": 0,
    }
    for name, code in sorted(codes.items()):
        if code in KILLED:
            counts["killed"] += 1
        elif code in TIMEOUT:
            counts["timeout"] += 1
        elif code == SURVIVED or code in NO_TESTS:
            diff = diff_of(name)
            key = _key(module, name, diff)
            why = reasons.get(key)
            used.add(key)
            counts["explained" if why else "survived"] += 1
            survivors.append(
                {
                    "name": name,
                    "key": " | ".join(key),
                    "explained": why,
                    "no_tests": code in NO_TESTS,
                    "diff": diff,
                }
            )
        else:
            counts["other"] += 1
    # A timeout is a mutant the tests noticed (it made the controller hang).
    caught = counts["killed"] + counts["timeout"]
    counts["killed_pct"] = round(100.0 * caught / max(1, counts["mutants"]), 1)
    counts["killed_or_explained_pct"] = round(
        100.0 * (caught + counts["explained"]) / max(1, counts["mutants"]), 1
    )
    counts["seconds"] = round(seconds)
    counts["tests"] = tests
    counts["sampled_from"] = total
    counts["survivors"] = survivors
    # an explanation no survivor needs any more (the line changed, or a test kills it now);
    # a sample cannot tell
    counts["stale_explanations"] = (
        [] if names else [" | ".join(k) for k in reasons if k[0] == module and k not in used]
    )
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "mutants", "results.json"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="run a seeded sample of N mutants per module (default: all; "
        "modules in SAMPLED are always sampled)",
    )
    ap.add_argument("module", nargs="*", help="modules (default: %s)" % " ".join(MODULES))
    args = ap.parse_args()
    unknown = [m for m in args.module if m not in MODULES]
    if unknown:
        raise SystemExit(
            "mutants: unknown module %s (allowed: %s)" % (", ".join(unknown), ", ".join(MODULES))
        )
    results = {}
    for module in args.module or MODULES:
        results[module] = r = run(
            module, MODULES[module], args.jobs, args.sample or SAMPLED.get(module, 0)
        )
        if r["sampled_from"]:
            print(
                "%s: a sample of %d of its %d mutants" % (module, r["mutants"], r["sampled_from"])
            )
        print(
            "%-14s %4d mutants %4d killed %3d timeout %3d explained %3d survived  "
            "%5.1f %% killed, %5.1f %% with explained  (%d s)"
            % (
                module,
                r["mutants"],
                r["killed"],
                r["timeout"],
                r["explained"],
                r["survived"],
                r["killed_pct"],
                r["killed_or_explained_pct"],
                r["seconds"],
            ),
            flush=True,
        )
        for s in r["survivors"]:
            if not s["explained"]:
                print(
                    "%s%s\n%s"
                    % (s["key"], " (no test runs it)" if s["no_tests"] else "", s["diff"])
                )
        for k in r["stale_explanations"]:
            print("stale explanation (no survivor of that line): " + k)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    total = sum(r["mutants"] for r in results.values())
    caught = sum(r["killed"] + r["timeout"] for r in results.values())
    print(
        "all: %d mutants, %.1f %% killed (goal %d %%); wrote %s"
        % (total, 100.0 * caught / max(1, total), GOAL_PCT, args.out)
    )


if __name__ == "__main__":
    import project_venv

    project_venv.enter()
    main()
