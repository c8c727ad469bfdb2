"""Evaluation harness: classical codecs, metrics, BD-rate, reports (see ``lnic bench --help``)."""
