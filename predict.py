"""Corpus-scale extraction: `python predict.py --model M --input IN --output OUT [--format ...]`.

The same command under `accelerate launch` shares the documents out over the processes; see
`python predict.py --help` and `prediction/` (readers, writers, the resumable runner).
"""

import sys

from prediction.cli import main

if __name__ == "__main__":
    sys.exit(main())
