#!/usr/bin/env python3
"""Read the image summaries of a run directory with TensorBoard's own reader.

Usage: tb_images.py RUN_DIR

Loads every event file in RUN_DIR with TensorBoard's EventAccumulator (keeping every image)
and prints, as JSON on stdout,
{"tag": [{"step": S, "width": W, "height": H, "png": "<encoded bytes as hex>"}, ...], ...}
with each tag's images in the order TensorBoard keeps them.

Needs the `tensorboard` package. Exit status: 0 read, 2 usage or read error.
"""

import json
import os
import sys


def read_images(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"images": 0})
    acc.Reload()
    return {
        tag: [
            {
                "step": e.step,
                "width": e.width,
                "height": e.height,
                "png": e.encoded_image_string.hex(),
            }
            for e in acc.Images(tag)
        ]
        for tag in acc.Tags()["images"]
    }


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    run_dir = argv[1]
    if not os.path.isdir(run_dir):
        print(f"tb_images: {run_dir} is not a directory", file=sys.stderr)
        return 2
    print(json.dumps(read_images(run_dir), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
