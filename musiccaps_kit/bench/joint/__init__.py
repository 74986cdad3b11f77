"""Joint text-audio models (MuLan, CLAP, a small projection model) for MCC."""

from musiccaps_kit.bench.joint.base import JointModel, known_joint_models, make_joint_model

__all__ = ["JointModel", "known_joint_models", "make_joint_model"]
