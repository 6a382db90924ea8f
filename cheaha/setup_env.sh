# shellcheck shell=bash
# Loads the modules and activates the Python environment named by the variables a batch script sets:
#   MODULES        array of module names, e.g. (CUDA/12.2.0); loaded in order after `module reset`
#   CONDA_MODULE   module providing conda (e.g. Miniforge3); empty when ENV_PATH is a venv
#   ENV_PATH       a conda environment (name or prefix) or a venv folder (one with bin/activate)
# With DRY_RUN=1 it only prints what it would do (used by the tests, which have no modules).

cheaha_setup_env() {
    local -a mods=("${MODULES[@]}")
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
        echo "would load modules: ${CONDA_MODULE:+$CONDA_MODULE }${mods[*]}"
        echo "would activate: ${ENV_PATH:?ENV_PATH is not set}"
        return 0
    fi
    if command -v module >/dev/null 2>&1; then
        module reset
        if [[ -n "${CONDA_MODULE:-}" ]]; then module load "$CONDA_MODULE"; fi
        if ((${#mods[@]})); then module load "${mods[@]}"; fi
    else
        echo "warning: no 'module' command; using the current environment's CUDA" >&2
    fi
    if [[ -f "${ENV_PATH:?ENV_PATH is not set}/bin/activate" && ! -d "$ENV_PATH/conda-meta" ]]; then
        # shellcheck disable=SC1091
        source "$ENV_PATH/bin/activate"
    else
        eval "$(conda shell.bash hook)"
        conda activate "$ENV_PATH"
    fi
    local probe='import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())'
    echo "python: $(command -v python) ($(python -c "$probe"))"
}
