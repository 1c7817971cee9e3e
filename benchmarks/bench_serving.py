"""Real-time serving under wrk: Shipyard beside MLflow, BentoML and a bare Starlette floor.

Run: .venv/bin/python benchmarks/bench_serving.py [--quick] [--seconds 10] [--seconds-one 5]
     [--warmup 3] [--repeat 1] [--models lr,hgb] [--servers shipyard,...]

Needs Debian's `wrk` (`apt-get install wrk`): a Python load client saturates a 2-core
machine before the server does. The first run installs MLflow and BentoML into their own
environments (`benchmarks/.venv-mlflow`, `benchmarks/.venv-bentoml`, at the versions
pinned in `peer_env.py`).

Models: a scikit-learn LogisticRegression and a HistGradientBoostingClassifier, fitted on
the same synthetic data (5,000 rows x 20 normal features, a noisy linear label, fixed
seed) as a bare matrix in this process, pickled, and loaded by every server from that
pickle (scikit-learn is pinned at this environment's version beside each peer).

Servers, one at a time, each alone on 127.0.0.1 on a free port, one process, one native
thread per prediction (OMP_NUM_THREADS=1), warnings off:
- `shipyard`: `shipyard serve ENDPOINT`, an endpoint made with `ws.endpoints.create` from
  the registered model, capture at rate 0 (`shipyard`) and 1.0 (`shipyard+capture`);
  body `{"records": [{"f0": ..., ..., "f19": ...}]}`;
- `mlflow`: `mlflow models serve --env-manager local` on the model saved with
  `mlflow.sklearn.save_model` in MLflow's environment; body `{"dataframe_records": [...]}`;
- `bentoml`, `bentoml+batching`: `bentoml serve` of the services in `serving_bento.py`
  (one calling predict, one with `@bentoml.api(batchable=True)`); body `{"rows": [[...]]}`;
- `floor`: `serving_floor.py`, Starlette on uvicorn parsing the same body as Shipyard's,
  one NumPy row, `model.predict`.

Each server must first answer 20 one-row requests with the model's own predictions (else
it is reported as wrong and not measured). Then wrk posts one JSON row (`serving_post.lua`):
WARMUP seconds at 32 connections (not reported), SECONDS at 32 connections
(`wrk -t2 -c32 --latency`: requests/s, p50, p99) and SECONDS_ONE at 1 connection
(`-t1 -c1`: p50), REPEAT times (medians reported). Any non-2xx answer or socket error is
counted and printed. The summary gives the issue's ratios and goals. A benchmark, not a
test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peer_env import BENTOML, MLFLOW_SERVING, ensure_peer

# Top-level imports stay stdlib only: this file also runs in MLflow's environment to save
# the model there (--mlflow-save).

HERE = Path(__file__).resolve().parent
SEED = 20261215
ROWS = 5_000
FEATURES = [f"f{i}" for i in range(20)]
CHECK_ROWS = 20
MODELS = {"lr": "LogisticRegression", "hgb": "HistGradientBoostingClassifier"}
SERVERS = ("shipyard", "shipyard+capture", "mlflow", "bentoml", "bentoml+batching", "floor")
GOALS = {"floor": 0.70, "mlflow": 10.0, "bentoml": 3.0, "p50_ms": 1.0, "capture": 0.90}
READY_SECONDS = 180


# --- the models ---------------------------------------------------------------------------------


def make_data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(ROWS, len(FEATURES)))
    weights = rng.normal(size=len(FEATURES))
    y = (x @ weights + rng.normal(scale=2.0, size=ROWS) > 0).astype(np.int64)
    return x, y


def fit(kind: str, x: Any, y: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000) if kind == "lr" else HistGradientBoostingClassifier()
    return model.fit(x, y)  # a bare matrix: no feature-name checks on NumPy input


def mlflow_save(pickle_path: str, example_path: str, out: str) -> None:
    """In MLflow's environment: save the pickled model as an MLflow sklearn model."""
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature
    from mlflow.sklearn import save_model

    with open(pickle_path, "rb") as handle:
        model = pickle.load(handle)
    example = pd.DataFrame(json.loads(Path(example_path).read_text()), columns=FEATURES)
    save_model(
        model,
        out,
        signature=infer_signature(example, model.predict(example.to_numpy())),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],  # no inference pass
        # MLflow 3 saves with skops, which refuses the HistGradientBoosting's tree nodes
        # unless they are named as trusted (this file was made by this run)
        skops_trusted_types=[f"{cls.__module__}.{cls.__qualname__}" for cls in _tree_types()],
    )


def _tree_types() -> list[type]:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    return [TreePredictor]


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON or None) of a GET, or of a POST of a JSON body."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read(), error.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


@dataclass
class Server:
    """How to start one server and talk to it."""

    name: str
    command: list[str]
    path: str  # the invocation path
    ready_path: str
    body: Callable[[list[float]], Any]  # one row -> the JSON body
    answer: Callable[[Any], list[Any]]  # the parsed response -> the predictions
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    prepare: list[str] | None = None  # a command to run once before the first start
    port: int = 0


class Running:
    """A started server process; stopped with SIGTERM (then SIGKILL) when closed."""

    def __init__(self, server: Server, scratch: Path) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{server.port}"
        self.log = scratch / f"{server.name}-{server.port}.log"
        self._out = self.log.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **server.env)
        self.proc = subprocess.Popen(
            server.command, cwd=server.cwd, env=env, stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        began = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{self.tail()}")
            try:
                if http(self.base + server.ready_path, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - began > READY_SECONDS:
                self.close()
                raise RuntimeError(f"{server.name} not ready in {READY_SECONDS} s:\n{self.tail()}")
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - began

    def tail(self) -> str:
        self._out.flush()
        return self.log.read_text()[-3000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # BentoML and MLflow fork children
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


def check_predictions(running: Running, x: Any, expected: Any) -> str | None:
    """None when CHECK_ROWS one-row requests each get the model's own prediction."""
    server = running.server
    for i in range(CHECK_ROWS):
        body = json.dumps(server.body([float(v) for v in x[i]])).encode()
        status, answer = http(running.base + server.path, body)
        if status != 200:
            return f"row {i}: HTTP {status}: {str(answer)[:300]}"
        got = server.answer(answer)
        if [int(v) for v in got] != [int(expected[i])]:
            return f"row {i}: predicted {got}, the model says {[int(expected[i])]}"
    return None


# --- wrk ----------------------------------------------------------------------------------------


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def wrk(url: str, body_file: Path, threads: int, connections: int, seconds: float) -> dict:
    """Requests/s, p50 and p99 in ms, and errors (non-2xx answers + socket errors)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               "-s", str(HERE / "serving_post.lua"), url]  # fmt: skip
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file))
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=seconds + 60, check=True)  # fmt: skip
    out = done.stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        # no percentiles when no request finished (a peer too slow for the run): NaN
        "p50": _ms(latency["50"]) if "50" in latency else float("nan"),
        "p99": _ms(latency["99"]) if "99" in latency else float("nan"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": errors,
    }


# --- one run ------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    p50_one: float | None = None
    errors: int = 0
    requests: int = 0
    note: str = ""
    load: float = 0.0


def measure(running: Running, body_file: Path, args: argparse.Namespace) -> Result:
    url = running.base + running.server.path
    wrk(url, body_file, 2, 32, args.warmup)
    many, one = [], []
    load = os.getloadavg()[0]
    for _ in range(args.repeat):
        many.append(wrk(url, body_file, 2, 32, args.seconds))
        one.append(wrk(url, body_file, 1, 1, args.seconds_one))
    return Result(
        rps=statistics.median(r["rps"] for r in many),
        p50=statistics.median(r["p50"] for r in many),
        p99=statistics.median(r["p99"] for r in many),
        p50_one=statistics.median(r["p50"] for r in one),
        errors=sum(r["errors"] for r in [*many, *one]),
        requests=sum(r["requests"] for r in [*many, *one]),
        load=load,
    )


def servers_for(
    kind: str, scratch: Path, home: Path, pickle_path: Path, pythons: dict[str, str | None]
) -> dict[str, Server]:
    """Every server this run can start for one model, by name."""
    bin_dir = Path(sys.executable).parent
    records = lambda row: {"records": [dict(zip(FEATURES, row, strict=True))]}  # noqa: E731
    predictions = lambda answer: answer["predictions"]  # noqa: E731
    found: dict[str, Server] = {}
    for name, endpoint in (("shipyard", f"{kind}-c0"), ("shipyard+capture", f"{kind}-c1")):
        found[name] = Server(
            name, [str(bin_dir / "shipyard"), "--home", str(home), "serve", endpoint],
            f"/endpoints/{endpoint}/invocations", "/ready", records, predictions, scratch,
        )  # fmt: skip
    found["floor"] = Server(
        "floor", [sys.executable, str(HERE / "serving_floor.py"), str(pickle_path)],
        "/invocations", "/health", records, predictions, scratch,
    )  # fmt: skip
    if pythons["mlflow"]:
        model_dir = scratch / f"mlflow-{kind}"
        example = scratch / "example.json"
        save = [pythons["mlflow"], __file__, "--mlflow-save", str(pickle_path), str(example),
                str(model_dir)]  # fmt: skip
        mlflow_bin = str(Path(pythons["mlflow"]).parent / "mlflow")
        mlflow_path = f"{Path(mlflow_bin).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        found["mlflow"] = Server(
            "mlflow", [mlflow_bin, "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1",
                       "--env-manager", "local", "-w", "1", "-p"],
            "/invocations", "/ping",
            lambda row: {"dataframe_records": [dict(zip(FEATURES, row, strict=True))]},
            predictions, scratch,
            env={"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                 "PATH": mlflow_path},  # it runs `uvicorn` from PATH
            prepare=save,
        )  # fmt: skip
    if pythons["bentoml"]:
        bento_bin = str(Path(pythons["bentoml"]).parent / "bentoml")
        for name, service in (("bentoml", "Plain"), ("bentoml+batching", "Batched")):
            found[name] = Server(
                name, [bento_bin, "serve", f"serving_bento:{service}", "--host", "127.0.0.1",
                       "--port"],
                "/predict", "/readyz", lambda row: {"rows": [row]}, lambda answer: answer, HERE,
                env={"BENCH_SERVING_MODEL": str(pickle_path), "BENTOML_DO_NOT_TRACK": "True",
                     "BENTOML_HOME": str(scratch / "bentoml-home")},
            )  # fmt: skip
    return found


def start(server: Server, scratch: Path) -> Running:
    if server.prepare:
        env = dict(os.environ, **server.env)
        done = subprocess.run(server.prepare, cwd=scratch, env=env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"preparing it failed:\n{done.stderr[-1500:]}")
        server.prepare = None
    server.port = free_port()
    if server.name.startswith(("mlflow", "bentoml")):
        server.command = [*server.command, str(server.port)]  # their last option is the port
    elif server.name == "floor":
        server.command = [*server.command[:3], str(server.port), *FEATURES]
    else:
        server.command = [*server.command, "--port", str(server.port)]
    return Running(server, scratch)


def run_model(
    kind: str, args: argparse.Namespace, scratch: Path, pythons: dict[str, str | None]
) -> dict[str, Result]:
    import pandas as pd

    import shipyard

    scratch.mkdir(parents=True)
    x, y = make_data()
    model = fit(kind, x, y)
    expected = model.predict(x[:CHECK_ROWS])
    pickle_path = scratch / f"{kind}.pkl"
    pickle_path.write_bytes(pickle.dumps(model))
    (scratch / "example.json").write_text(json.dumps(x[:5].tolist()))
    home = scratch / "home"
    with shipyard.connect(home) as ws, warnings.catch_warnings():
        # the signature is taken from a named example; the model was fitted on a matrix
        warnings.filterwarnings("ignore", message="X has feature names")
        ws.models.register(kind, model, input_example=pd.DataFrame(x[:5], columns=FEATURES))
        ws.endpoints.create(f"{kind}-c0", f"{kind}@1", capture_rate=0.0)
        ws.endpoints.create(f"{kind}-c1", f"{kind}@1", capture_rate=1.0)
    servers = servers_for(kind, scratch, home, pickle_path, pythons)
    results: dict[str, Result] = {}
    row = [float(v) for v in x[CHECK_ROWS]]  # the row wrk posts: not one of the checked
    for name in args.servers:
        if name not in servers:
            results[name] = Result(note="skipped: its environment is not available")
            print(f"  {name:18} {results[name].note}", flush=True)
            continue
        server = servers[name]
        body_file = scratch / f"body-{name}.json"
        body_file.write_text(json.dumps(server.body(row)))
        try:
            running = start(server, scratch)
        except RuntimeError as exc:
            results[name] = Result(note=f"did not start: {str(exc)[-800:]}")
            print(f"  {name:18} {results[name].note}", flush=True)
            continue
        try:
            wrong = check_predictions(running, x, expected)
            if wrong:
                results[name] = Result(note=f"WRONG PREDICTIONS, not measured: {wrong}")
            else:
                results[name] = measure(running, body_file, args)
                results[name].note = f"ready in {running.start_seconds:.1f} s"
        finally:
            running.close()
        if name == "shipyard+capture" and results[name].rps is not None:
            results[name].note += "; " + captured(home, f"{kind}-c1", results[name].requests)
        print_row(name, results[name], flush=True)
    return results


def captured(home: Path, endpoint: str, requests: int) -> str:
    """How many of the measured requests the capture wrote (the checks and warm-up add some)."""
    from shipyard.serving.capture import read_capture

    rows = read_capture(home, endpoint).num_rows
    return f"{rows:,} captured rows for {requests:,} measured requests (+ warm-up, checks)"


# --- output -------------------------------------------------------------------------------------


def print_row(name: str, r: Result, flush: bool = False) -> None:
    if r.rps is None:
        print(f"  {name:18} {r.note}", flush=flush)
        return
    print(f"  {name:18} {r.rps:9,.0f} {r.p50:8.2f} {r.p99:8.2f} {r.p50_one:9.2f} {r.errors:7} "
          f"{r.load:5.2f}  {r.note}", flush=flush)  # fmt: skip


def header() -> None:
    print(f"  {'server':18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50@1 ms':>9} "
          f"{'errors':>7} {'load':>5}")  # fmt: skip
    print(f"  {'':18} {'(32 conn)':>9} {'(32)':>8} {'(32)':>8} {'(1 conn)':>9}")


def ratio(text: str, value: float | None, goal: float, at_least: bool = True) -> None:
    if value is None:
        print(f"    {text}: n/a")
        return
    met = value >= goal if at_least else value <= goal
    sign = ">=" if at_least else "<="
    unit = " ms" if not at_least else ""
    shown = f"{value:.2f}{unit}" if unit else f"{value:.2f}x"
    print(f"    {text}: {shown} (goal {sign} {goal:g}{unit or 'x'}) {'met' if met else 'NOT met'}")


def summary(kind: str, results: dict[str, Result]) -> None:
    def get(name: str, what: str) -> float | None:
        r = results.get(name)
        return None if r is None else getattr(r, what)

    def div(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    ship = get("shipyard", "rps")
    bento = [v for v in (get("bentoml", "rps"), get("bentoml+batching", "rps")) if v]
    print(f"\n  {MODELS[kind]}, ratios (Shipyard with capture off unless said):")
    ratio("Shipyard / floor throughput", div(ship, get("floor", "rps")), GOALS["floor"])
    ratio("Shipyard+capture / floor", div(get("shipyard+capture", "rps"), get("floor", "rps")),
          GOALS["floor"])  # fmt: skip
    ratio("Shipyard / MLflow throughput", div(ship, get("mlflow", "rps")), GOALS["mlflow"])
    ratio("Shipyard / BentoML (plain)", div(ship, get("bentoml", "rps")), GOALS["bentoml"])
    ratio("Shipyard / BentoML (batching)", div(ship, get("bentoml+batching", "rps")),
          GOALS["bentoml"])  # fmt: skip
    ratio("Shipyard / best BentoML", div(ship, max(bento) if bento else None), GOALS["bentoml"])
    one, floor_one = get("shipyard", "p50_one"), get("floor", "p50_one")
    gap = None if one is None or floor_one is None else one - floor_one
    ratio("Shipyard p50 @1 conn - floor's", gap, GOALS["p50_ms"], at_least=False)
    ratio("capture on / off throughput", div(get("shipyard+capture", "rps"), ship),
          GOALS["capture"])  # fmt: skip


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="each 32-connection run")
    parser.add_argument("--seconds-one", type=float, default=5, help="each 1-connection run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds at 32 connections first")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per server (medians)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up")
    parser.add_argument("--models", default="lr,hgb", help="comma-separated: lr, hgb")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated, in order")
    parser.add_argument("--mlflow-save", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mlflow_save:
        mlflow_save(*args.mlflow_save)
        return
    if shutil.which("wrk") is None:
        sys.exit(
            "bench_serving.py needs wrk, the HTTP load generator: on Debian or Ubuntu "
            "`sudo apt-get install wrk` (Homebrew: `brew install wrk`), then rerun."
        )
    if args.quick:
        args.seconds, args.seconds_one, args.warmup = 3, 3, 1
    args.models = [m for m in args.models.split(",") if m]
    args.servers = [s for s in args.servers.split(",") if s]
    unknown = sorted(set(args.models) - set(MODELS)) + sorted(set(args.servers) - set(SERVERS))
    if unknown:
        sys.exit(f"unknown model or server: {', '.join(unknown)} (models: {', '.join(MODELS)}; "
                 f"servers: {', '.join(SERVERS)})")  # fmt: skip

    pythons: dict[str, str | None] = {"mlflow": None, "bentoml": None}
    versions = {}
    for key, peer, wanted in (
        ("mlflow", MLFLOW_SERVING, "mlflow" in args.servers),
        ("bentoml", BENTOML, any(s.startswith("bentoml") for s in args.servers)),
    ):
        if not wanted:
            continue
        python, described = ensure_peer(peer)
        pythons[key] = None if python is None else str(python)
        versions[key] = described
        if python is None:
            print(f"{key}: not available: {described}")

    import sklearn

    import shipyard

    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; python "
        f"{sys.version.split()[0]}; shipyard {shipyard.__version__}; scikit-learn "
        f"{sklearn.__version__}; wrk {wrk_version[1] if len(wrk_version) > 1 else '?'}"
    )
    for key, described in versions.items():
        print(f"{key}: {described}")
    print(f"one JSON row of {len(FEATURES)} float features; wrk -t2 -c32 -d{args.seconds:g}s "
          f"--latency and -t1 -c1 -d{args.seconds_one:g}s, after {args.warmup:g} s of warm-up; "
          f"{args.repeat} measurement(s) per server (medians); seed {SEED}")  # fmt: skip
    all_results: dict[str, dict[str, Result]] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        for kind in args.models:
            print(f"\n{MODELS[kind]} ({kind})")
            header()
            all_results[kind] = run_model(kind, args, Path(tmp) / kind, pythons)
    for kind, results in all_results.items():
        summary(kind, results)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; "
          f"whole run {time.monotonic() - began:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
