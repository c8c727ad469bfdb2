#!/bin/bash
# lnic's default preset on all 24 Kodak images: two processes side by side, one thread each,
# niced, each over half of the images (the 8 images of the earlier record first, so that its
# comparison comes early); rows are appended to benchmarks/kodak/lnic.csv as
# encodes end, and the same command resumes a killed run (finished rows are skipped).
#
#   bash benchmarks/kodak/run_lnic.sh                 # qualities 1,3,5,8 (the curve's span)
#   QUALITIES=7 bash benchmarks/kodak/run_lnic.sh     # a further point per image
#
# Run it from a checkout at the commit whose encoder is measured; the rows record that commit.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
QUALITIES=${QUALITIES:-1,3,5,8}
SHARED=${LNIC_SHARED:-$ROOT/../shared}
A=kodim01,kodim05,kodim13,kodim19,kodim03,kodim09,kodim11,kodim15,kodim17,kodim21,kodim04,kodim08
B=kodim02,kodim07,kodim14,kodim23,kodim06,kodim10,kodim12,kodim16,kodim18,kodim20,kodim22,kodim24
for images in "$A" "$B"; do
  OMP_NUM_THREADS=1 PYTHONPATH="$ROOT" nice -n "${NICE:-10}" python -m lnic.cli bench \
    --dataset "$SHARED/datasets/kodak" --codecs lnic:default --settings "$QUALITIES" \
    --columns short --no-report --no-progress -o benchmarks/kodak --images "$images" &
done
wait
