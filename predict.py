"""Corpus-scale extraction: `python predict.py --model M --input IN --output OUT [--format ...]`.

The same command under `accelerate launch` shares the documents out over the processes; see
`python predict.py --help` and `prediction/` (readers, writers, the resumable runner).
"""

import gc
import sys

gc.disable()  # importing torch and transformers makes no garbage, and full collections over it take ~0.7 s
from biomed_nerre.prediction.cli import main  # noqa: E402

gc.enable()

if __name__ == "__main__":
    status = main()
    gc.freeze()  # the process ends here: no final collection over everything it loaded (over a second)
    sys.exit(status)
