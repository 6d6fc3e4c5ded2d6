"""One row through LightGBM's single-row prediction (its C API's `SingleRowFast` calls).

`Booster.predict` spends most of a one-row call in Python: checking and converting its
input, building a predictor and parsing its parameters, every call. The service scores
one listing per request most of the time, so `RowPredictor` sets that up once per booster
and then hands LightGBM the row's buffer directly. The values are LightGBM's own, bit for
bit (`tests/training/test_row_predictor.py`). For several rows `Booster.predict` is the
faster: the setup it repeats is paid once per call, not per row.
"""

from __future__ import annotations

import ctypes
import threading

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

_PREDICT_NORMAL = 0  # the transformed output, as Booster.predict gives by default
_FLOAT64 = 1


class RowPredictor:
    """`booster.predict(row, num_threads=1)` for one row at a time, set up once for `booster`
    as it is (a booster trained further needs a new one).

    Only for a booster that predicts with all its trees, as `strikeout train` leaves it
    (trimmed to its best iteration): LightGBM keeps the number of trees to predict with on
    the booster itself, and any later `predict` call with another number would change the
    single-row path's answers behind its back.
    """

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster  # the handle below lives as long as this reference
        self.columns = booster.num_feature()
        if not uses_every_tree(booster):
            raise ValueError("the booster predicts with fewer trees than it holds (its best "
                             "iteration); LightGBM's single-row set-up would not stay so")
        self._config = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(_PREDICT_NORMAL), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.c_int(_FLOAT64), ctypes.c_int32(self.columns), b"num_threads=1",
            ctypes.byref(self._config)))
        self._length = ctypes.c_int64(0)
        # the C call releases the GIL and the set-up holds per-call buffers: one at a time
        self._lock = threading.Lock()

    def predict(self, row: np.ndarray) -> float:
        values = np.ascontiguousarray(row, dtype=np.float64)
        if values.shape != (self.columns,):
            raise ValueError(f"a row of {self.columns} features, got shape {values.shape}")
        out = ctypes.c_double(0.0)
        with self._lock:
            _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._config, values.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._length), ctypes.byref(out)))
        return out.value

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value is not None:
            _LIB.LGBM_FastConfigFree(config)


def uses_every_tree(booster: lgb.Booster) -> bool:
    """Whether `booster.predict` uses every tree by default (no best iteration short of them)."""
    return booster.best_iteration <= 0 or booster.best_iteration >= booster.current_iteration()
