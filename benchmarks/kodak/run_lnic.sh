#!/bin/bash
# lnic on the Kodak images: two processes side by side, one thread each, niced, each over half
# of the images (the 8 images of the earlier record first, so that its comparison comes early);
# rows are appended as encodes end, and the same command resumes a killed run (finished rows
# are skipped).
#
#   bash benchmarks/kodak/run_lnic.sh                 # default preset, q1,3,5,8, all 24 -> lnic.csv
#   QUALITIES=7 bash benchmarks/kodak/run_lnic.sh     # a further point per image
#   PRESET=slow SET=record8 bash benchmarks/kodak/run_lnic.sh
#                                  # the slow preset on the earlier record's 8 images
#                                  # -> probes/lnic-slow.csv (kept out of the default's curve)
#   OUT=benchmarks/kodak/next bash benchmarks/kodak/run_lnic.sh
#                                  # a new record of a changed default, built beside the
#                                  # current one until it is complete
#
# Run it from a checkout at the commit whose encoder is measured; the rows record that commit.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
QUALITIES=${QUALITIES:-1,3,5,8}
PRESET=${PRESET:-default}
SHARED=${LNIC_SHARED:-$ROOT/../shared}
if [ "$PRESET" = default ]; then OUT=${OUT:-benchmarks/kodak}; else OUT=${OUT:-benchmarks/kodak/probes}; fi
case "${SET:-all}" in
  all)
    A=kodim01,kodim05,kodim13,kodim19,kodim03,kodim09,kodim11,kodim15,kodim17,kodim21,kodim04,kodim08
    B=kodim02,kodim07,kodim14,kodim23,kodim06,kodim10,kodim12,kodim16,kodim18,kodim20,kodim22,kodim24
    ;;
  record8)
    A=kodim23,kodim01,kodim13,kodim19
    B=kodim07,kodim02,kodim05,kodim14
    ;;
  *) echo "SET must be all or record8" >&2; exit 2 ;;
esac
for images in "$A" "$B"; do
  OMP_NUM_THREADS=1 PYTHONPATH="$ROOT" nice -n "${NICE:-10}" python -m lnic.cli bench \
    --dataset "$SHARED/datasets/kodak" --codecs "lnic:$PRESET" --settings "$QUALITIES" \
    --columns short --no-report --no-progress -o "$OUT" --images "$images" &
done
wait
