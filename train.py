"""Train SciBertForJointNerRe: `accelerate launch train.py --dataset bc5cdr [--config run.yaml] [flags]`.

Thin entry point; the loop lives in `training/`. `python train.py --help` lists every setting.
"""

import sys

from biomed_nerre.training.main import cli

if __name__ == "__main__":
    sys.exit(cli())
