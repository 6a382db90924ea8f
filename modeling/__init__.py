"""Joint biomedical NER + relation extraction as a transformers model (`SciBertForJointNerRe`).

The first use of one of the names below imports the model (torch and transformers) and registers the config and
model with `AutoConfig` / `AutoModel` and for `auto_map`, so `save_pretrained` writes a folder loadable with
`trust_remote_code=True`; it also registers the "joint-ner-re" pipeline (`pipeline("joint-ner-re", model=model,
tokenizer=tokenizer)` in-process; saved folders declare it in config.json's `custom_pipelines`).

Importing the package itself, or its standard-library-only result contract (`modeling.outputs_joint_ner_re`, which
`loaders` uses for the document text and the NIL id form), loads neither torch nor transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "JointNerReConfig": ".configuration_joint_ner_re",
    "JointNerReOutput": ".modeling_joint_ner_re",
    "JointNerRePipeline": ".pipeline_joint_ner_re",
    "SciBertForJointNerRe": ".modeling_joint_ner_re",
    "collate_features": ".preprocessing_joint_ner_re",
    "load_tokenizer": ".preprocessing_joint_ner_re",
    "prepare_features": ".preprocessing_joint_ner_re",
    "DocumentResult": ".outputs_joint_ner_re",
    "InputError": ".outputs_joint_ner_re",
}
_registered = False

__all__ = sorted(_EXPORTS)


def register() -> None:
    """Register the config, the model and the pipeline task with transformers' auto classes (once)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY

    from .configuration_joint_ner_re import PIPELINE_TASK, JointNerReConfig
    from .modeling_joint_ner_re import SciBertForJointNerRe
    from .pipeline_joint_ner_re import JointNerRePipeline

    JointNerReConfig.register_for_auto_class()
    SciBertForJointNerRe.register_for_auto_class("AutoModel")
    AutoConfig.register(JointNerReConfig.model_type, JointNerReConfig, exist_ok=True)
    AutoModel.register(JointNerReConfig, SciBertForJointNerRe, exist_ok=True)
    if PIPELINE_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=JointNerRePipeline, pt_model=AutoModel,
                                            type="text")
    _registered = True


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name], __name__)
    if module.__name__ != f"{__name__}.outputs_joint_ner_re":
        register()
    value = getattr(module, name)
    globals()[name] = value
    return value
