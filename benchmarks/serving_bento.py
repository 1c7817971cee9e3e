"""BentoML services for bench_serving.py, run in BentoML's own environment.

Serve: bentoml serve serving_bento:Plain (or serving_bento:Batched), with the
pickled scikit-learn model's path in BENCH_SERVING_MODEL.

Both take ``{"rows": [[...20 floats...]]}`` at ``POST /predict`` and return the
predictions as a JSON array: a NumPy array in, the model's ``predict``, a NumPy
array out, one worker process. ``Batched`` differs only in BentoML's adaptive
batching (``batchable=True``, its default batch size and latency bounds), which
combines concurrent requests into one ``predict`` call.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import bentoml
import numpy as np


def load_model() -> Any:
    with open(os.environ["BENCH_SERVING_MODEL"], "rb") as handle:
        return pickle.load(handle)


@bentoml.service(workers=1)
class Plain:
    def __init__(self) -> None:
        self.model = load_model()

    @bentoml.api
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)


@bentoml.service(workers=1)
class Batched:
    def __init__(self) -> None:
        self.model = load_model()

    @bentoml.api(batchable=True)
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)
