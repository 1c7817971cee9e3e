"""Seed every random number generator a training run touches, and say which.

Seeding is what makes a rerun give the same numbers; the returned record is kept
with the run so a reader can see what was (and was not) seeded.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np


def seed_everything(seed: int) -> dict[str, Any]:
    """Seed ``random``, NumPy's global RNG and PyTorch (if importable); return what was done.

    ``PYTHONHASHSEED`` is set in ``os.environ`` so child processes started afterwards hash
    strings the same way (the current process's hash seed is fixed at start-up and cannot
    change). Estimators given an explicit ``random_state`` do not need this; those left at
    ``None`` draw from NumPy's global RNG, which this seeds.

    >>> done = seed_everything(7)
    >>> a = random.random(), float(np.random.rand())
    >>> _ = seed_everything(7)
    >>> a == (random.random(), float(np.random.rand())), done["numpy"]
    (True, True)
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        from shipyard.errors import InvalidInput

        raise InvalidInput(f"A seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    # NumPy's legacy seeding accepts only 32-bit seeds.
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    done: dict[str, Any] = {
        "seed": seed,
        "random": True,
        "numpy": True,
        "pythonhashseed_for_children": str(seed),
        "torch": False,
    }
    try:
        import torch  # optional: seeded only when the user has it
    except ImportError:
        return done
    torch.manual_seed(seed)
    done["torch"] = True
    return done
