#!/usr/bin/env python3
"""Writes tests/data/python_written.safetensors with the reference `safetensors`
package, so the C++ reader is tested on a file it did not write itself.

Run: /usr/bin/python3 -m pip install --target .deps/python safetensors
     /usr/bin/python3 tests/reference/make_safetensors_reference.py
"""
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
sys.path.append(str(root / ".deps" / "python"))
import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

tensors = {
    "enc1.0.weight": (np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) - 11.5) / 4,
    "enc1.0.bias": np.array([0.1, -0.2], dtype=np.float64),
    "step": np.array([1234, -5], dtype=np.int64),
    "mask": np.array([[1, 0, 255]], dtype=np.uint8),
    "half": np.array([1.0, -2.0, 0.5], dtype=np.float16),
}
save_file(tensors, str(root / "tests" / "data" / "python_written.safetensors"),
          metadata={"format": "np", "note": "made by make_safetensors_reference.py"})
