"""Evaluation harness: classical codecs, metrics, BD-rate, reports (see ``lnic bench --help``).

Public API::

    from lnic.bench import bd_rate, bd_psnr
    bd_rate(anchor_bpp, anchor_psnr, test_bpp, test_psnr)   # percent, negative = fewer bits
"""

from lnic.bench.bdrate import BDError, bd_psnr, bd_rate, rate_gap

__all__ = ["BDError", "bd_psnr", "bd_rate", "rate_gap"]
