#!/usr/bin/env bash
# The main job on an embedded default: build BC5CDR and the ChemDisGene sample from ../shared/data.
set -euo pipefail
cd "$(dirname "$0")"
DATA_ROOT=${DATA_ROOT:-../shared/data}
python -m loaders build bc5cdr --data-dir "$DATA_ROOT/bc5cdr" --out data/bc5cdr
python -m loaders build chem_dis_gene --data-dir "$DATA_ROOT/chem_dis_gene/sample" --out data/chem_dis_gene
