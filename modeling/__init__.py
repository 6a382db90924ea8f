"""Joint biomedical NER + relation extraction as a transformers model (`SciBertForJointNerRe`).

Importing this package registers the config/model with `AutoConfig`/`AutoModel` and marks them for
`auto_map`, so `save_pretrained` writes a folder loadable with `trust_remote_code=True`.
"""

from transformers import AutoConfig, AutoModel

from .configuration_joint_ner_re import JointNerReConfig
from .modeling_joint_ner_re import JointNerReOutput, SciBertForJointNerRe
from .preprocessing_joint_ner_re import collate_features, load_tokenizer, prepare_features

JointNerReConfig.register_for_auto_class()
SciBertForJointNerRe.register_for_auto_class("AutoModel")
AutoConfig.register(JointNerReConfig.model_type, JointNerReConfig, exist_ok=True)
AutoModel.register(JointNerReConfig, SciBertForJointNerRe, exist_ok=True)

__all__ = [
    "JointNerReConfig",
    "JointNerReOutput",
    "SciBertForJointNerRe",
    "collate_features",
    "load_tokenizer",
    "prepare_features",
]
