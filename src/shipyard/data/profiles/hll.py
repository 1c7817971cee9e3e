"""A HyperLogLog distinct-count sketch updated with whole arrays.

DataSketches' Python HLL takes one value per call, which made it the largest
cost of profiling a numeric column (about 0.7 s of 1.1 s for 500,000 x 25).
This sketch hashes a batch with pandas' vectorised 64-bit hash and updates its
registers with NumPy, so a batch costs a few vector operations.

Same estimator as the classic paper (Flajolet et al., 2007): 2**12 registers,
the harmonic-mean estimate with linear counting for small cardinalities; 64-bit
hashes need no large-range correction. Relative standard error 1.04 / 64 = 1.6%.
Merging is the register-wise maximum, so it is exact: the sketch of A + B is
the same whichever way it was assembled.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

LG_K = 12
REGISTERS = 1 << LG_K
_MAGIC = b"SYHLL1"
_ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)
RELATIVE_STANDARD_ERROR = 1.04 / math.sqrt(REGISTERS)


class VectorHLL:
    """Distinct count of the values seen, within about 1.6% (one standard error).

    >>> sketch = VectorHLL()
    >>> sketch.update_values(np.arange(100_000) % 5_000)
    >>> abs(sketch.get_estimate() - 5_000) < 5_000 * 0.05
    True
    """

    def __init__(self, registers: np.ndarray | None = None) -> None:
        self.registers = (
            np.zeros(REGISTERS, dtype=np.uint8) if registers is None else registers.copy()
        )

    def update_values(self, values: Any) -> None:
        """Add an array of numbers or strings (nulls must already be removed)."""
        array = np.asarray(values)
        if array.size:
            self.update_hashes(pd.util.hash_array(array))

    def update_hashes(self, hashes: np.ndarray) -> None:
        """Add 64-bit hashes: the top bits pick a register, the rest's leading zeros rank."""
        h = hashes.astype(np.uint64, copy=False)
        index = (h >> np.uint64(64 - LG_K)).astype(np.intp)
        # A guard bit below the remaining bits caps the rank at 64 - LG_K + 1.
        rest = (h << np.uint64(LG_K)) | np.uint64(1 << (LG_K - 1))
        rank = _leading_zeros(rest) + 1
        np.maximum.at(self.registers, index, rank.astype(np.uint8))

    def union(self, other: VectorHLL) -> VectorHLL:
        """A new sketch of both inputs' values."""
        return VectorHLL(np.maximum(self.registers, other.registers))

    def get_estimate(self) -> float:
        inverse = np.ldexp(1.0, -self.registers.astype(np.int64)).sum()
        estimate = _ALPHA * REGISTERS * REGISTERS / inverse
        zeros = int(np.count_nonzero(self.registers == 0))
        if estimate <= 2.5 * REGISTERS and zeros:
            return REGISTERS * math.log(REGISTERS / zeros)  # linear counting
        return float(estimate)

    def get_lower_bound(self, num_std: int) -> float:
        return max(0.0, self.get_estimate() * (1 - num_std * RELATIVE_STANDARD_ERROR))

    def get_upper_bound(self, num_std: int) -> float:
        return self.get_estimate() * (1 + num_std * RELATIVE_STANDARD_ERROR)

    def serialize_compact(self) -> bytes:
        return _MAGIC + bytes([LG_K]) + self.registers.tobytes()

    @classmethod
    def deserialize(cls, data: bytes) -> VectorHLL:
        if (
            not data.startswith(_MAGIC)
            or len(data) != len(_MAGIC) + 1 + REGISTERS
            or data[len(_MAGIC)] != LG_K
        ):
            raise InvalidInput("Not a Shipyard HLL sketch (or one of another size).")
        return cls(np.frombuffer(data, dtype=np.uint8, offset=len(_MAGIC) + 1))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VectorHLL) and bool(
            np.array_equal(self.registers, other.registers)
        )


def _leading_zeros(x: np.ndarray) -> np.ndarray:
    """Leading zero bits of each (non-zero) uint64, from its float64 exponent.

    The conversion rounds to 53 bits, which changes the exponent only when the 53
    bits below the leading one are all ones: a chance of 2**-52 per value.
    """
    _, exponent = np.frexp(x.astype(np.float64))
    return np.maximum(64 - exponent.astype(np.int64), 0)
