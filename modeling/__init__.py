"""Joint biomedical NER + relation extraction as a transformers model (`SciBertForJointNerRe`).

Importing this package registers the config/model with `AutoConfig`/`AutoModel` and marks them for
`auto_map`, so `save_pretrained` writes a folder loadable with `trust_remote_code=True`. It also registers
the "joint-ner-re" pipeline (`pipeline("joint-ner-re", model=model, tokenizer=tokenizer)` in-process; saved
folders declare it in config.json's `custom_pipelines`).
"""

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_joint_ner_re import PIPELINE_TASK, JointNerReConfig
from .modeling_joint_ner_re import JointNerReOutput, SciBertForJointNerRe
from .pipeline_joint_ner_re import JointNerRePipeline
from .preprocessing_joint_ner_re import collate_features, load_tokenizer, prepare_features

JointNerReConfig.register_for_auto_class()
SciBertForJointNerRe.register_for_auto_class("AutoModel")
AutoConfig.register(JointNerReConfig.model_type, JointNerReConfig, exist_ok=True)
AutoModel.register(JointNerReConfig, SciBertForJointNerRe, exist_ok=True)
if PIPELINE_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=JointNerRePipeline, pt_model=AutoModel, type="text")

__all__ = [
    "JointNerReConfig",
    "JointNerReOutput",
    "JointNerRePipeline",
    "SciBertForJointNerRe",
    "collate_features",
    "load_tokenizer",
    "prepare_features",
]
