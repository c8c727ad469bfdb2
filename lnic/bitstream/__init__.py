"""The .lnic format: header, network weights (exp-Golomb) and range-coded latents.

``format`` holds every constant; ``container`` reads and writes whole files.
"""
