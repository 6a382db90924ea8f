"""ONNX Runtime backend for the encoder of `SciBertForJointNerRe`: export, int8 copy, session wrapper.

Only the encoder (`input_ids`, `attention_mask` -> `last_hidden_state`; plus `feature_ids` and the token-feature
embeddings for a model with token shape or gazetteer features) moves to ONNX Runtime; windows,
the NER and relation heads, decoding and linking stay in torch, so both backends share all post-processing.
`SciBertForJointNerRe.use_backend("onnx")` is the entry point; `OnnxEncoder.for_model` finds or writes
`<model folder>/onnx/model.onnx` (the Hub convention) or a cache file keyed by the encoder's weights.

Module-level imports are torch, transformers and the standard library only: this file ships with the model
(`trust_remote_code`); a Hub repository's `onnx/` is looked up with huggingface_hub (a dependency of transformers). `onnxruntime` (and `onnx`, for int8 quantization) are imported inside `try` blocks
when first needed, which transformers' import check of remote code skips, so models load without them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .outputs_joint_ner_re import InputError
from .preprocessing_joint_ner_re import token_feature_sizes

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"  # the name Optimum and transformers.js give the dynamic int8 copy
INFO_FILE = "export_info.json"  # which encoder weights the files were exported from
OPSET = 17
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
INSTALL_HINT = "pip install onnxruntime (onnxruntime-gpu for the CUDA provider), or pip install -r requirements-onnx.txt"
# Largest difference from the torch encoder that an export may show on its check batch (float32 gives ~1e-5)
EXPORT_TOLERANCE = 1e-3
# Rows x length^2 of one ONNX Runtime run on the CPU: its attention materialises a rows x heads x length x length
# score tensor, which the arena keeps at its largest size. A batch above this budget runs in slices of rows (two
# 512-token rows, eight of 256, ...): with the quick-start model an 8 x 512 batch added 155 MiB to the process in
# one run and 43 MiB in slices of 2, at about the same seconds per row (results/benchmarks.md, section 10).
CPU_ATTENTION_BUDGET = 2 * 512 * 512


class OnnxBackendError(RuntimeError):
    """The ONNX backend cannot run as asked (missing package, provider, or an export that fails its check)."""


class OnnxFileError(OnnxBackendError, InputError):
    """An ONNX file that ONNX Runtime cannot load (cut short, overwritten): an `InputError` naming the file."""


def import_onnxruntime() -> Any:
    """The `onnxruntime` module, or `OnnxBackendError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise OnnxBackendError(f"the ONNX backend needs the onnxruntime package, which is not installed: {INSTALL_HINT}") from err
    return onnxruntime


def encoder_fingerprint(encoder: nn.Module, feature_embeddings: nn.Module | None = None) -> str:
    """A hash of the encoder's float32 weights (and their names), and of the token-feature embeddings when the
    model has them: the key that ties an export to them."""
    digest = hashlib.blake2b(digest_size=16)
    state = dict(encoder.state_dict())
    if feature_embeddings is not None:
        state.update({f"token_feature_embeddings.{k}": v for k, v in feature_embeddings.state_dict().items()})
    for name, tensor in state.items():
        data = tensor.detach().to("cpu", torch.float32 if tensor.is_floating_point() else tensor.dtype).contiguous()
        digest.update(name.encode())
        if data.numel():
            digest.update(data.reshape(-1).view(torch.uint8).numpy())  # the tensor's own buffer: no copy
    return digest.hexdigest()


class _EncoderForExport(nn.Module):
    """The encoder's forward as `(input_ids, attention_mask[, feature_ids]) -> last_hidden_state` (what `encode`
    computes; with `feature_embeddings`, their sum is added to the word embeddings as `embed_inputs` does)."""

    def __init__(self, encoder: nn.Module, feature_embeddings: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_embeddings = feature_embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                feature_ids: torch.Tensor | None = None) -> torch.Tensor:
        embeds = None
        if self.feature_embeddings is not None:
            embeds = self.encoder.get_input_embeddings()(input_ids) + self.feature_embeddings(feature_ids).sum(-2)
        return self.encoder(input_ids=input_ids if embeds is None else None, inputs_embeds=embeds,
                            attention_mask=attention_mask).last_hidden_state


def _check_features(input_ids: torch.Tensor, rows: int, num_features: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + 1000)
    return torch.randint(0, rows, (*input_ids.shape, num_features), generator=generator)


def _check_batch(vocab_size: int, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with every row but the first padded to a different length (so the mask matters)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, max(6, vocab_size), (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    for row in range(1, batch):
        attention_mask[row, max(1, length - row * length // (batch + 1)) :] = 0
    return input_ids, attention_mask


def _max_difference(session: Any, wrapper: _EncoderForExport, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    feature_ids: torch.Tensor | None = None) -> float:
    """Largest |ONNX - torch| over the real (unpadded) tokens."""
    with torch.inference_mode():
        expected = wrapper(input_ids, attention_mask, feature_ids)
    feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
    if feature_ids is not None:
        feeds["feature_ids"] = feature_ids.numpy()
    got = torch.from_numpy(session.run(None, feeds)[0])
    return (got - expected)[attention_mask.bool()].abs().max().item()


def export_encoder(encoder: nn.Module, path: str | os.PathLike, opset: int = OPSET,
                   feature_embeddings: nn.Embedding | None = None, num_features: int = 0, fuse: bool = True) -> str:
    """Write `encoder` (a transformers BERT-like model) to the ONNX file `path` with dynamic batch and length, and
    check it against torch on two padded batches of other shapes (`OnnxBackendError` past `EXPORT_TOLERANCE`).
    With `feature_embeddings` (a model with token features; `num_features` of them per token) the file takes a
    third input, `feature_ids` `[batch, sequence, num_features]`.

    The export traces a float32 CPU copy with eager attention: through SDPA it gave wrong outputs without any
    error (the difference was 2.08 on MiniLM). The live encoder is left as it was. With `fuse` (and the `onnx`
    package installed) the traced graph is then rewritten by ONNX Runtime's transformer optimizer into its fused
    `Attention` / `SkipLayerNormalization` / `BiasGelu` operators (less memory, faster; `fuse_bert_graph`); the
    fused file passes the same check or the plain one is kept, with a warning. The file is written next to
    `path` and renamed into place, so processes sharing a folder never read half a file. Returns the graph
    written: `"fused"` or `"plain"`.
    """
    onnxruntime = import_onnxruntime()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    traced = copy.deepcopy(encoder).to("cpu", torch.float32)
    if hasattr(traced, "set_attn_implementation"):
        traced.set_attn_implementation("eager")
    else:  # transformers before set_attn_implementation
        traced.config._attn_implementation = "eager"
    features = None if feature_embeddings is None else copy.deepcopy(feature_embeddings).to("cpu", torch.float32)
    if features is not None and num_features < 1:
        raise ValueError("export_encoder: feature_embeddings need num_features >= 1")
    wrapper = _EncoderForExport(traced, features).eval()  # a new Module is in training mode, and export restores that mode
    vocab_size = int(getattr(traced.config, "vocab_size", 100))

    def check_inputs(batch: int, length: int, seed: int) -> tuple[torch.Tensor, ...]:
        input_ids, attention_mask = _check_batch(vocab_size, batch, length, seed)
        if features is None:
            return input_ids, attention_mask
        return input_ids, attention_mask, _check_features(input_ids, features.num_embeddings, num_features, seed)

    example = check_inputs(2, 16, 0)
    input_names = ["input_ids", "attention_mask"] + (["feature_ids"] if features is not None else [])
    dynamic = {"batch": 0, "sequence": 1}
    axes = {name: {i: axis for axis, i in dynamic.items()} for name in (*input_names, "last_hidden_state")}

    def difference_from_torch(file: str) -> tuple[float, str]:
        """The largest difference over the check batches, and the batch's shape."""
        session = onnxruntime.InferenceSession(file, providers=["CPUExecutionProvider"])
        found = [(_max_difference(session, wrapper, *check_inputs(batch, length, seed)), f"{batch}x{length}")
                 for batch, length, seed in ((3, 41, 1), (1, 7, 2))]
        return max(found, key=lambda item: item[0] if item[0] == item[0] else float("inf"))  # NaN is the worst

    handle, partial = tempfile.mkstemp(prefix=path.name + ".", suffix=".partial", dir=path.parent)
    os.close(handle)
    fused = partial + ".fused"
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # the tracer's warnings about Python values in transformers' mask code: the check below tests the trace
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*aten::index.*")
            torch.onnx.export(
                wrapper, example, partial, dynamo=False, opset_version=opset, do_constant_folding=True,
                input_names=input_names, output_names=["last_hidden_state"], dynamic_axes=axes,
            )
        difference, shape = difference_from_torch(partial)
        if not difference <= EXPORT_TOLERANCE:
            raise OnnxBackendError(
                f"the ONNX export of {type(encoder).__name__} differs from torch by {difference:.3g} "
                f"(> {EXPORT_TOLERANCE}) on a {shape} batch; not written to {path}"
            )
        graph = "plain"
        if fuse and fuse_bert_graph(partial, fused, traced.config):
            difference, shape = difference_from_torch(fused)
            if difference <= EXPORT_TOLERANCE:
                os.replace(fused, partial)
                graph = "fused"
            else:
                logger.warning("the fused ONNX graph of %s differs from torch by %.3g on a %s batch; keeping the "
                               "plain export", type(encoder).__name__, difference, shape)
        os.replace(partial, path)
    finally:
        for leftover in (partial, fused):
            if os.path.exists(leftover):
                os.remove(leftover)
    return graph


def fuse_bert_graph(source: str | os.PathLike, target: str | os.PathLike, config: Any) -> bool:
    """Rewrite the BERT-like encoder graph `source` into `target` with ONNX Runtime's transformer optimizer
    (`onnxruntime.transformers.optimizer`): each layer's attention becomes one `Attention` node, residual adds
    with layer norms `SkipLayerNormalization`, the feed-forward activation `BiasGelu`. These are ONNX Runtime
    contrib operators with CPU and CUDA kernels; the fusion is the optimizer's own pattern matching
    (`opt_level=0`: no provider-specific rewrites are baked into the file), so a graph it does not recognise
    comes out unfused but correct. False, with `target` not written, when the optimizer cannot run (it needs
    the `onnx` package, an optional dependency).
    """
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as err:
        logger.info("ONNX graph fusion skipped (%s): pip install onnx for the fused graph", err)
        return False
    optimized = optimize_model(str(source), model_type="bert", opt_level=0, use_gpu=False,
                               num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                               hidden_size=int(getattr(config, "hidden_size", 0) or 0))
    optimized.save_model_to_file(str(target))
    return True


def quantize_int8(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """ONNX Runtime dynamic int8 quantization of `source`'s MatMul and fused `Attention` weights (one scale per
    output channel, activations quantized on the fly), as `quantize_for_cpu` does for the torch Linear layers;
    written to `target`. In a fused graph each `Attention` becomes a `QAttention` (CPU only)."""
    import_onnxruntime()
    try:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:  # onnxruntime's quantization tools need the onnx package
        raise OnnxBackendError(f"int8 quantization needs the onnx package too: pip install onnx ({err})") from err
    target = Path(target)
    handle, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        # shape inference gives no type to the outputs of the fused graph's contrib operators: they are float32
        quantize_dynamic(str(source), partial, op_types_to_quantize=["MatMul", "Attention"], per_channel=True,
                         weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": TensorProto.FLOAT})
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def _cache_root() -> Path:
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                     "huggingface")
    return Path(home) / "joint_ner_re_onnx"


def _read_info(folder: Path) -> dict:
    try:
        return json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _writable(folder: Path) -> bool:
    probe = folder if folder.exists() else folder.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def _hub_onnx_folder(name_or_path: str) -> Path | None:
    """The Hub repository's `onnx/` folder in the local cache, when the repository has one."""
    from huggingface_hub.utils import HfHubHTTPError

    from .modeling_joint_ner_re import hub_file

    try:
        files = [hub_file(name_or_path, f"{ONNX_DIR}/{name}") for name in (INFO_FILE, ONNX_FILE)]
    except (ValueError, HfHubHTTPError):  # not a Hub id (a moved folder), no such repository, no access: the
        return None                      # cache export takes over
    return Path(files[1]).parent if all(files) else None


def onnx_file_for(model: nn.Module, int8: bool = False, folder: str | os.PathLike | None = None) -> Path:
    """The ONNX file of `model`'s encoder, exported (and quantized) first when no file matches its weights.

    Looked for in `folder`, else `<model folder>/onnx/` (a local `name_or_path`), the Hub repository's `onnx/`,
    then `~/.cache/huggingface/joint_ner_re_onnx/<weights hash>/` (`HF_HOME` moves it). A file is used only if
    its `export_info.json` names the same encoder weights; otherwise the encoder is exported into `folder` or the
    model folder when writable, else into the cache.
    """
    feature_embeddings = getattr(model, "token_feature_embeddings", None)
    fingerprint = encoder_fingerprint(model.encoder, feature_embeddings)
    wanted = INT8_FILE if int8 else ONNX_FILE
    name_or_path = str(getattr(model, "name_or_path", "") or "")
    candidates: list[Path] = []
    if folder is not None:
        candidates.append(Path(folder))
    elif name_or_path and os.path.isdir(name_or_path):
        candidates.append(Path(name_or_path) / ONNX_DIR)
    elif name_or_path:
        hub = _hub_onnx_folder(name_or_path)
        if hub is not None:
            candidates.append(hub)
    cache = _cache_root() / fingerprint
    candidates.append(cache)
    for candidate in candidates:
        info = _read_info(candidate)
        if (info.get("encoder_fingerprint") == fingerprint and wanted in info.get("files", [])
                and (candidate / wanted).is_file()):
            return candidate / wanted
    target = next((c for c in candidates[:-1] if _writable(c)), cache)
    stale = _read_info(target)
    if stale and stale.get("encoder_fingerprint") != fingerprint:
        logger.warning("%s holds an ONNX export of other encoder weights; exporting again", target)
    if (target / ONNX_FILE).is_file() and stale.get("encoder_fingerprint") == fingerprint:
        info = stale  # only the int8 copy is missing
    else:
        logger.info("exporting the encoder to %s", target / ONNX_FILE)
        for old in (INFO_FILE, INT8_FILE):  # the files and the info change together
            (target / old).unlink(missing_ok=True)
        num_features = len(token_feature_sizes(model.config)) if feature_embeddings is not None else 0
        graph = export_encoder(model.encoder, target / ONNX_FILE, feature_embeddings=feature_embeddings,
                               num_features=num_features)
        inputs = ["input_ids", "attention_mask"] + (["feature_ids"] if feature_embeddings is not None else [])
        info = {"encoder_fingerprint": fingerprint, "opset": OPSET, "torch": torch.__version__,
                "encoder": type(model.encoder).__name__, "graph": graph, "inputs": inputs,
                "outputs": ["last_hidden_state"], "files": [ONNX_FILE]}
    if int8 and not (target / INT8_FILE).is_file():
        quantize_int8(target / ONNX_FILE, target / INT8_FILE)
    if int8:
        info["files"] = sorted({*info.get("files", []), INT8_FILE})
    partial = target / f"{INFO_FILE}.{os.getpid()}.partial"  # renamed into place: other processes read it whole
    partial.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(partial, target / INFO_FILE)
    return target / wanted


class OnnxEncoder:
    """The encoder on ONNX Runtime, called like `encoder(input_ids=..., attention_mask=...).last_hidden_state`
    but returning that tensor (float32, on the inputs' device).

    One session per torch thread count seen at call time, each with that many intra-op threads, so
    `extract(parallel_batches=N)`'s workers (each given a share of torch's threads) do not oversubscribe the
    cores. Sessions are thread-safe; copies of a model share this object. For inference only. On the CPU a batch
    larger than `CPU_ATTENTION_BUDGET` runs in slices of rows, which bounds the session's working memory.
    """

    def __init__(self, path: str | os.PathLike, provider: str = "cpu", threads: int | None = None) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {sorted(PROVIDERS)}, got {provider!r}")
        self.onnxruntime = import_onnxruntime()
        if PROVIDERS[provider] not in self.onnxruntime.get_available_providers():
            raise OnnxBackendError(
                f"ONNX Runtime here has no {PROVIDERS[provider]} (it has {self.onnxruntime.get_available_providers()}); "
                "for CUDA install onnxruntime-gpu instead of onnxruntime"
            )
        self.path = Path(path)
        self.provider = provider
        self.threads = threads
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        first = self.session(self.threads or torch.get_num_threads())  # fail now, not at the first batch
        # a model with token features was exported with a third input (every session reads the same file)
        self.takes_features = any(i.name == "feature_ids" for i in first.get_inputs())

    @classmethod
    def for_model(cls, model: nn.Module, provider: str = "cpu", int8: bool = False, threads: int | None = None,
                  folder: str | os.PathLike | None = None) -> "OnnxEncoder":
        """A session over `onnx_file_for(model, int8, folder)` (exported first if needed)."""
        if int8 and provider != "cpu":
            raise ValueError("the int8 ONNX model is for the CPU provider")
        import_onnxruntime()  # before any export work
        return cls(onnx_file_for(model, int8=int8, folder=folder), provider=provider, threads=threads)

    def session(self, threads: int) -> Any:
        """The session with `threads` intra-op threads (created on first use)."""
        with self._lock:
            found = self._sessions.get(threads)
            if found is None:
                options = self.onnxruntime.SessionOptions()
                options.graph_optimization_level = self.onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                if self.provider == "cpu":
                    # between encoder calls this process decodes, links and scores relations on the same cores:
                    # workers left spinning after a run would take CPU from that work (and do not make the
                    # encoder faster: 16.4-17.6 s over the 500 test abstracts either way)
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                providers = [PROVIDERS[self.provider]] + (["CPUExecutionProvider"] if self.provider != "cpu" else [])
                try:
                    found = self.onnxruntime.InferenceSession(str(self.path), options, providers=providers)
                except Exception as error:  # onnxruntime's own classes (InvalidProtobuf, Fail, ...) name no file
                    first_line = (str(error).strip().splitlines() or [""])[0][:300]
                    raise OnnxFileError(f"{self.path}: ONNX Runtime cannot load it ({type(error).__name__}: {first_line}); "
                                        "a damaged file? delete it, and the encoder is exported again") from None
                self._sessions[threads] = found
            return found

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 feature_ids: torch.Tensor | None = None) -> torch.Tensor:
        if torch.is_grad_enabled():
            raise RuntimeError("the ONNX backend is for inference (no gradients): call use_backend('torch') to train")
        session = self.session(self.threads or torch.get_num_threads())
        feeds = {"input_ids": input_ids.to("cpu", torch.int64).numpy(),
                 "attention_mask": attention_mask.to("cpu", torch.int64).numpy()}
        if self.takes_features != (feature_ids is not None):
            raise OnnxBackendError(f"{self.path} {'takes' if self.takes_features else 'does not take'} feature_ids, "
                                   f"and they were {'not ' if feature_ids is None else ''}given")
        if feature_ids is not None:
            feeds["feature_ids"] = feature_ids.to("cpu", torch.int64).numpy()
        rows, length = input_ids.shape[:2]
        step = rows if self.provider != "cpu" else max(1, CPU_ATTENTION_BUDGET // max(1, length * length))
        if step >= rows:
            hidden = torch.from_numpy(session.run(None, feeds)[0])
        else:  # row slices give the same rows: each row's attention sees only itself
            hidden = torch.cat([torch.from_numpy(session.run(None, {k: v[i:i + step] for k, v in feeds.items()})[0])
                                for i in range(0, rows, step)])
        return hidden.to(input_ids.device)

    def __deepcopy__(self, memo: dict) -> "OnnxEncoder":
        return self  # sessions cannot be copied and need not be: they hold no per-model state

    def __repr__(self) -> str:
        return f"OnnxEncoder({str(self.path)!r}, provider={self.provider!r})"
