"""Serving during a deployment: a canary, a shadow and full capture beside a plain endpoint.

Run: .venv/bin/python benchmarks/bench_deploy.py [--quick] [--seconds 10] [--seconds-one 5]
     [--warmup 3] [--repeat 3]

Needs Debian's `wrk` (`apt-get install wrk`), like `bench_serving.py`, whose data, server
start/stop and wrk runner this script imports.

Model: a scikit-learn LogisticRegression fitted on bench_serving's synthetic data (5,000
rows x 20 normal features, a noisy linear label, fixed seed), registered twice in a fresh
temporary Shipyard home: version 1 at C=1.0, version 2 at
C=0.0001 (they disagree on 4 of the 20 checked rows, so the check sees which model answered).

Endpoints, made with `ws.endpoints`:
- `plain`: `m@1` as its one variant, capture rate 0;
- `deployed`: capture rate 1.0; `primary` serving `m@1` and `candidate` serving `m@2` at
  weights 1:1 (a canary at 50%), and a shadow variant `mirror` serving `m@2` with no
  `sample` in its spec (a copy of every request, run after the answer has gone, and
  captured too).

Each endpoint is served by its own `shipyard serve ENDPOINT` process, one at a time, alone
on 127.0.0.1, OMP_NUM_THREADS=1. After each start, 20 one-row requests must answer 200
with the predictions of the model of the variant that answered (else it is reported as
wrong and not measured). Then wrk posts one JSON row (`serving_post.lua`): WARMUP seconds
at 32 connections (not reported), SECONDS at 32 connections (`wrk -t2 -c32 --latency`:
requests/s, p50, p99) and SECONDS_ONE at 1 connection (`-t1 -c1`: p50). REPEAT rounds,
each `plain` then `deployed` (each started afresh); medians reported. The summary gives
deployed / plain throughput against the issue's goal (>= 0.90), and the load average
before and after. After the run, the capture of `deployed` is read back and counted per
variant. A benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench_serving import (
    CHECK_ROWS,
    FEATURES,
    SEED,
    Running,
    Server,
    http,
    make_data,
    start,
    wrk,
)

HERE = Path(__file__).resolve().parent
ENDPOINTS = ("plain", "deployed")
GOAL = 0.90  # deployed / plain throughput, at least
VERSIONS = {
    1: 1.0,
    2: 1e-4,
}  # m@2 differs from m@1 on 4 of the 20 checked rows  # model version -> LogisticRegression's C


def fit(c: float, x: Any, y: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000).fit(x, y)  # a bare matrix, as bench_serving


def make_home(home: Path, x: Any, y: Any, shadow_sample: float = 1.0) -> dict[str, Any]:
    """Register m@1 and m@2 and create both endpoints; each variant's expected predictions.
    The shadow gets a copy of ``shadow_sample`` of the requests (stably by request id)."""
    import pandas as pd

    import shipyard

    expected = {}
    with shipyard.connect(home) as ws, warnings.catch_warnings():
        # the signature is taken from a named example; the models were fitted on a matrix
        warnings.filterwarnings("ignore", message="X has feature names")
        example = pd.DataFrame(x[:5], columns=FEATURES)
        for version, c in VERSIONS.items():
            model = fit(c, x, y)
            registered = ws.models.register("m", model, input_example=example)
            assert registered.version == version, registered
            expected[version] = model.predict(x[:CHECK_ROWS])
        ws.endpoints.create("plain", "m@1", capture_rate=0.0)
        ws.endpoints.create("deployed", "m@1", capture_rate=1.0)
        ws.endpoints.add_variant("deployed", "candidate", "m@2")
        ws.endpoints.set_weights("deployed", {"primary": 1, "candidate": 1})
        ws.endpoints.add_variant("deployed", "mirror", "m@2", role="shadow")
        if shadow_sample < 1.0:  # as `shipyard deploy --strategy shadow --sample` sets it
            import dataclasses

            found = ws.endpoints.get("deployed")
            sampled = [dataclasses.replace(v, spec={"sample": shadow_sample})
                       if v.role == "shadow" else v for v in found.variants]  # fmt: skip
            ws.runtime.control.update_endpoint(
                "deployed", expected_revision=found.revision, by=ws.principal,
                event="variants", variants=sampled,
            )  # fmt: skip
        variants = {v.name: v for v in ws.endpoints.get("deployed").variants}
    by_variant = {name: expected[v.version] for name, v in variants.items()}
    differ = int((expected[1] != expected[2]).sum())
    print(f"m@1 (C={VERSIONS[1]:g}) and m@2 (C={VERSIONS[2]:g}) differ on {differ} of the "
          f"{CHECK_ROWS} checked rows; deployed: "
          + ", ".join(f"{v.name} m@{v.version} {v.role} w={v.weight:g}"
                      f"{' sample=' + str(v.spec.get('sample', 1.0)) if v.role == 'shadow' else ''}"
                      for v in variants.values()))  # fmt: skip
    return by_variant


def server_for(endpoint: str, home: Path, scratch: Path) -> Server:
    records = lambda row: {"records": [dict(zip(FEATURES, row, strict=True))]}  # noqa: E731
    bin_dir = Path(sys.executable).parent
    return Server(
        endpoint, [str(bin_dir / "shipyard"), "--home", str(home), "serve", endpoint],
        f"/endpoints/{endpoint}/invocations", "/ready", records, lambda a: a, scratch,
    )  # fmt: skip


def check(running: Running, x: Any, by_variant: dict[str, Any]) -> tuple[str | None, dict]:
    """(None or what was wrong, answers per variant) for CHECK_ROWS one-row requests, each
    answered with the predictions of the model of the variant that answered it."""
    server = running.server
    seen: dict[str, int] = {}
    for i in range(CHECK_ROWS):
        body = json.dumps(server.body([float(v) for v in x[i]])).encode()
        status, answer = http(running.base + server.path, body)
        if status != 200:
            return f"row {i}: HTTP {status}: {str(answer)[:300]}", seen
        variant = answer.get("variant")
        if variant not in by_variant or by_variant[variant] is None:
            return f"row {i}: answered by unexpected variant {variant!r}", seen
        seen[variant] = seen.get(variant, 0) + 1
        want = [int(by_variant[variant][i])]
        if [int(v) for v in answer["predictions"]] != want:
            return f"row {i}: {variant} predicted {answer['predictions']}, its model {want}", seen
    return None, seen


def one_round(
    endpoint: str, home: Path, scratch: Path, body_file: Path, x: Any, expected: dict,
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    server = server_for(endpoint, home, scratch)
    running = start(server, scratch)
    try:
        wrong, seen = check(running, x, expected)
        if wrong:
            return {"wrong": wrong}
        url = running.base + server.path
        warm = wrk(url, body_file, 2, 32, args.warmup)
        load = os.getloadavg()[0]
        many = wrk(url, body_file, 2, 32, args.seconds)
        one = wrk(url, body_file, 1, 1, args.seconds_one)
    finally:
        running.close()  # SIGTERM: the capture writer writes what is queued
    return {
        "rps": many["rps"], "p50": many["p50"], "p99": many["p99"], "p50_one": one["p50"],
        "errors": warm["errors"] + many["errors"] + one["errors"],
        "sent": CHECK_ROWS + warm["requests"] + many["requests"] + one["requests"],
        "load": load, "ready": running.start_seconds, "seen": seen,
    }  # fmt: skip


def src_state() -> str:
    """HEAD and any uncommitted change under src/ (shipyard is an editable install: each
    `shipyard serve` runs what is on disk when it starts)."""
    root = HERE.parent
    try:
        git = {"cwd": root, "capture_output": True, "text": True, "check": True}
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **git).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], **git).stdout
        diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], **git).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    if not dirty:
        return head
    digest = hashlib.sha256(diff.encode()).hexdigest()[:8]
    return f"{head} (+{len(dirty.splitlines())} uncommitted under src/, diff {digest})"


def loads() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="each 32-connection run")
    parser.add_argument("--seconds-one", type=float, default=5, help="each 1-connection run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds at 32 connections first")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, plain then deployed")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up, 1 round")
    parser.add_argument(
        "--shadow-sample", type=float, default=1.0,
        help="the share of requests the shadow gets a copy of (the issue's example: 0.2)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "bench_deploy.py needs wrk, the HTTP load generator: on Debian or Ubuntu "
            "`sudo apt-get install wrk` (Homebrew: `brew install wrk`), then rerun."
        )
    if args.quick:
        args.seconds, args.seconds_one, args.warmup, args.repeat = 3, 3, 1, 1

    import sklearn

    import shipyard

    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    before_src = src_state()
    print(f"machine: {os.cpu_count()} cores, load average {loads()} (1/5/15 min) before; "
          f"python {sys.version.split()[0]}; shipyard {shipyard.__version__} at {before_src}; "
          f"scikit-learn {sklearn.__version__}; "
          f"wrk {wrk_version[1] if len(wrk_version) > 1 else '?'}")  # fmt: skip
    print(f"one JSON row of {len(FEATURES)} float features; wrk -t2 -c32 -d{args.seconds:g}s "
          f"--latency and -t1 -c1 -d{args.seconds_one:g}s, after {args.warmup:g} s of warm-up; "
          f"{args.repeat} round(s) of plain then deployed (medians); seed {SEED}")  # fmt: skip
    began = time.monotonic()
    rounds: dict[str, list[dict[str, Any]]] = {e: [] for e in ENDPOINTS}
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        scratch = Path(tmp)
        home = scratch / "home"
        x, y = make_data()
        by_variant = make_home(home, x, y, args.shadow_sample)
        expected = {
            "plain": {"primary": by_variant["primary"]},
            "deployed": {**by_variant, "mirror": None},  # a shadow never answers
        }
        body_file = scratch / "body.json"
        row = [float(v) for v in x[CHECK_ROWS]]  # the row wrk posts: not one of the checked
        body_file.write_text(json.dumps({"records": [dict(zip(FEATURES, row, strict=True))]}))
        print(f"\n  {'round':5} {'endpoint':9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'p50@1 ms':>8} {'errors':>6} {'load':>5}  answered the check")  # fmt: skip
        for i in range(args.repeat):
            for endpoint in ENDPOINTS:
                try:
                    r = one_round(endpoint, home, scratch, body_file, x, expected[endpoint], args)
                except RuntimeError as exc:
                    r = {"wrong": f"did not start: {str(exc)[-800:]}"}
                rounds[endpoint].append(r)
                if "wrong" in r:
                    print(f"  {i + 1:5} {endpoint:9} NOT MEASURED: {r['wrong']}", flush=True)
                    continue
                print(f"  {i + 1:5} {endpoint:9} {r['rps']:7,.0f} {r['p50']:7.2f} "
                      f"{r['p99']:7.2f} {r['p50_one']:8.2f} {r['errors']:6} {r['load']:5.2f}  "
                      f"{r['seen']} (ready in {r['ready']:.1f} s)", flush=True)  # fmt: skip
        summary(rounds)
        counts(home, rounds["deployed"])
    after_src = src_state()
    print(f"\nload average after: {loads()}; whole run {time.monotonic() - began:.0f} s")
    if after_src != before_src:
        print(
            f"NOTE: the source changed during the run ({before_src} -> {after_src}): "
            "servers started at different times may have run different code."
        )


def summary(rounds: dict[str, list[dict[str, Any]]]) -> None:
    medians: dict[str, dict[str, float]] = {}
    print(f"\n  medians      {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p50@1 ms':>8} "
          f"{'errors':>6}  rounds")  # fmt: skip
    for endpoint, found in rounds.items():
        good = [r for r in found if "wrong" not in r]
        if not good:
            print(f"  {endpoint:12} not measured")
            continue
        medians[endpoint] = {k: statistics.median(r[k] for r in good)
                             for k in ("rps", "p50", "p99", "p50_one")}  # fmt: skip
        m = medians[endpoint]
        print(f"  {endpoint:12} {m['rps']:7,.0f} {m['p50']:7.2f} {m['p99']:7.2f} "
              f"{m['p50_one']:8.2f} {sum(r['errors'] for r in good):6}  {len(good)}")  # fmt: skip
    if len(medians) < 2:
        print("\n  deployed / plain throughput: n/a")
        return
    ratio = medians["deployed"]["rps"] / medians["plain"]["rps"]
    per_round = [
        d["rps"] / p["rps"]
        for p, d in zip(rounds["plain"], rounds["deployed"], strict=True)
        if "wrong" not in p and "wrong" not in d
    ]
    print(f"\n  deployed / plain throughput (medians): {ratio:.2f}x (goal >= {GOAL:.2f}x) "
          f"{'met' if ratio >= GOAL else 'NOT met'}; per round: "
          + ", ".join(f"{v:.2f}" for v in per_round))  # fmt: skip
    gap = medians["deployed"]["p50_one"] - medians["plain"]["p50_one"]
    print(f"  p50 at 1 connection, deployed minus plain: {gap:+.2f} ms")


def counts(home: Path, deployed: list[dict[str, Any]]) -> None:
    """Captured rows of `deployed` per variant, against the requests sent to it."""
    from shipyard.serving.capture import read_capture

    table = read_capture(home, "deployed")
    per: dict[str, int] = {}
    for name in table.column("variant").to_pylist():
        per[name] = per.get(name, 0) + 1
    sent = sum(r.get("sent", 0) for r in deployed)
    answered = per.get("primary", 0) + per.get("candidate", 0)
    print(f"\n  capture of deployed: {table.num_rows:,} rows; per variant "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(per.items()))
          + f"; {sent:,} requests sent and answered per wrk and the checks (wrk does not count "
        "those in flight when it stops: up to 65 per round, 32 + 32 + 1)")  # fmt: skip
    missing = [v for v in ("primary", "candidate", "mirror") if not per.get(v)]
    if missing:
        print(f"  CAPTURE MISSING for: {', '.join(missing)}")
    else:
        print(f"  answered (primary + candidate) {answered:,} = {answered / max(sent, 1):.1%} of "
              f"sent; mirror {per['mirror']:,} = {per['mirror'] / max(answered, 1):.1%} of "
              f"answered; candidate share {per['candidate'] / max(answered, 1):.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
