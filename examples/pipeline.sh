#!/usr/bin/env sh
# rnncodec in a shell pipeline: an image in on stdin, 4-iteration preview PNG out on stdout,
# with the .rgc kept on the side by tee. Run from the repository root.
set -eu
cat examples/sunset.png \
  | rnncodec encode - -o - -q 4 \
  | tee /tmp/sunset-q4.rgc \
  | rnncodec decode - -o - > /tmp/sunset-q4.png
ls -l /tmp/sunset-q4.rgc /tmp/sunset-q4.png
