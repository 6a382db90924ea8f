# shellcheck shell=bash
# Builds the `accelerate launch` command line for a SLURM job on Cheaha. Source it, then call
#   cheaha_build_launch MODE ACCELERATE_CONFIG [train.py arguments...]
# MODE is single | multi_gpu | multi_node. The command is left in the array LAUNCH_CMD and printed
# (shell-quoted) on stdout, so a test can set SLURM_* variables and check it without SLURM.
#
# Read from the environment (all set by SLURM inside a job; MAIN_PROCESS_* may be preset by you):
#   SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_NODEID      nodes of the job, this node's rank
#   SLURM_GPUS_ON_NODE | SLURM_GPUS_PER_NODE | CUDA_VISIBLE_DEVICES   GPUs per node
#   SLURM_JOB_ID                                        picks a job-specific port
#   MAIN_PROCESS_IP, MAIN_PROCESS_PORT                  rendezvous host and port (multi_node)
#   TRAIN_SCRIPT (default train.py), ACCELERATE (default accelerate)

# First host name of a SLURM node list, e.g. "c0[101-104,200],d7" -> "c0101".
# Uses `scontrol show hostnames` when it exists; otherwise expands the first entry itself.
cheaha_first_host() {
    local nodelist="${1:?cheaha_first_host: node list required}"
    if command -v scontrol >/dev/null 2>&1; then
        scontrol show hostnames "$nodelist" | head -n 1
        return
    fi
    local first prefix inner suffix
    # the first comma-separated entry outside brackets
    first="${nodelist%%,*}"
    if [[ "$first" == *"["* && "$first" != *"]"* ]]; then
        first="${nodelist%%]*}]"
    fi
    if [[ "$first" =~ ^([^\[]*)\[([^]]*)\](.*)$ ]]; then
        prefix="${BASH_REMATCH[1]}"
        inner="${BASH_REMATCH[2]}"
        suffix="${BASH_REMATCH[3]}"
        inner="${inner%%,*}"   # first range or single number
        inner="${inner%%-*}"   # its start (keeps leading zeros)
        printf '%s%s%s\n' "$prefix" "$inner" "$suffix"
    else
        printf '%s\n' "$first"
    fi
}

# GPUs allocated on this node.
cheaha_gpus_per_node() {
    if [[ -n "${SLURM_GPUS_ON_NODE:-}" ]]; then
        printf '%s\n' "$SLURM_GPUS_ON_NODE"
    elif [[ -n "${SLURM_GPUS_PER_NODE:-}" ]]; then
        printf '%s\n' "${SLURM_GPUS_PER_NODE##*:}"   # "a100:2" -> "2"
    elif [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
        local -a ids
        IFS=, read -r -a ids <<<"$CUDA_VISIBLE_DEVICES"
        printf '%s\n' "${#ids[@]}"
    else
        printf '1\n'
    fi
}

cheaha_build_launch() {
    local mode="${1:?cheaha_build_launch: MODE (single|multi_gpu|multi_node) required}"
    local config="${2:?cheaha_build_launch: accelerate config file required}"
    shift 2
    local gpus nnodes
    gpus="$(cheaha_gpus_per_node)"
    LAUNCH_CMD=("${ACCELERATE:-accelerate}" launch --config_file "$config")
    case "$mode" in
        single)
            LAUNCH_CMD+=(--num_processes 1 --num_machines 1)
            ;;
        multi_gpu)
            LAUNCH_CMD+=(--multi_gpu --num_processes "$gpus" --num_machines 1)
            ;;
        multi_node)
            nnodes="${SLURM_NNODES:?SLURM_NNODES is not set (run inside a SLURM job)}"
            : "${SLURM_NODEID:?SLURM_NODEID is not set (run once per node with srun)}"
            local ip="${MAIN_PROCESS_IP:-}"
            if [[ -z "$ip" ]]; then
                ip="$(cheaha_first_host "${SLURM_JOB_NODELIST:?SLURM_JOB_NODELIST is not set}")"
            fi
            local port="${MAIN_PROCESS_PORT:-$((29500 + ${SLURM_JOB_ID:-0} % 1000))}"
            LAUNCH_CMD+=(--multi_gpu
                --num_machines "$nnodes"
                --machine_rank "$SLURM_NODEID"
                --main_process_ip "$ip"
                --main_process_port "$port"
                --num_processes "$((nnodes * gpus))")
            ;;
        *)
            echo "cheaha_build_launch: unknown mode '$mode' (single, multi_gpu or multi_node)" >&2
            return 2
            ;;
    esac
    LAUNCH_CMD+=("${TRAIN_SCRIPT:-train.py}" "$@")
    printf '%q ' "${LAUNCH_CMD[@]}"
    printf '\n'
}

# What each srun task of a multi-node job runs: build this node's line (rank from SLURM_NODEID) and
# exec it; with DRY_RUN=1 only print it. ACCELERATE_CONFIG names the accelerate config file.
cheaha_node_launch() {
    local line
    line="$(cheaha_build_launch multi_node "${ACCELERATE_CONFIG:?ACCELERATE_CONFIG is not set}" "$@")" || return
    echo "node ${SLURM_NODEID}: $line"
    if [[ "${DRY_RUN:-0}" == 1 ]]; then return 0; fi
    cheaha_build_launch multi_node "$ACCELERATE_CONFIG" "$@" >/dev/null
    exec "${LAUNCH_CMD[@]}"
}
