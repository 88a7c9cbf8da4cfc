"""What the speed benchmarks share: this machine's measured matmul peak, for model FLOPs utilisation.

The one measurement lives in cf_utils.plan (``make plan`` uses it too, with the utilisations these
benchmarks measure)."""

from cf_utils.plan import matmul_peak

__all__ = ["matmul_peak"]
