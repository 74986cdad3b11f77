"""MuQ-MuLan's own code as the oracle (run once in a side environment: ``muq`` 0.1.0 breaks
on transformers 5 and needs the PyPI torchaudio).

    side/bin/pip install torch==2.9.1 torchaudio==2.9.1 "transformers<5" einops easydict \
        librosa soundfile soxr huggingface_hub
    pip download --no-deps muq==0.1.0 && tar xzf muq-0.1.0.tar.gz
    PYTHONPATH=muq-0.1.0/src:. side/bin/python tests/oracles/muq_package.py REALMUSIC

It builds the package's ``MuQMuLan`` from the release's config layout with small
dimensions (a MuQ audio model of 2 Conformer layers of 64 with the release's w2v2_config
keys, a 1-layer XLM-RoBERTa of 64, MuLan transformers of 1 and 2 layers, 32-d latents),
its weights seeded by the package's own initialisation (BatchNorm statistics drawn), saves
it as the hub lays MuQ-MuLan out (config.json + pytorch_model.bin, the audio model's
folder beside it) under tests/fixtures/learned/, and records the package's embeddings of
the test clips (``librosa.load(sr=24000)``, as the evaluation scripts load them) and of two
captions (each alone) in tests/fixtures/learned/muq_package.npz. ``x_clip`` (imported by a
text class the release does not use) is stubbed."""

import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

import librosa
import numpy as np
import torch

from tests.learned_fixtures import FIXTURES, write_clips

CAPTIONS = (
    "calm piano with soft strings",
    "a loud rock song with drums and distorted guitar, fast tempo",
)
W2V2 = {  # the release's w2v2_config keys (MuQ's fairseq config), small dimensions
    "activation_dropout": 0.1, "adapter_kernel_size": 3, "adapter_stride": 2,
    "add_adapter": False, "apply_spec_augment": True,
    "architectures": ["Wav2Vec2ConformerForCTC"], "attention_dropout": 0.1, "bos_token_id": 1,
    "classifier_proj_size": 256, "codevector_dim": 768, "conformer_conv_dropout": 0.1,
    "contrastive_logits_temperature": 0.1, "conv_bias": True, "conv_depthwise_kernel_size": 31,
    "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2], "ctc_loss_reduction": "sum",
    "ctc_zero_infinity": False, "diversity_loss_weight": 0.1, "do_stable_layer_norm": True,
    "eos_token_id": 2, "feat_extract_activation": "gelu", "feat_extract_dropout": 0.0,
    "feat_extract_norm": "layer", "feat_proj_dropout": 0.1, "feat_quantizer_dropout": 0.0,
    "final_dropout": 0.1, "gradient_checkpointing": False, "hidden_act": "swish",
    "hidden_dropout": 0.1, "hidden_dropout_prob": 0.1, "hidden_size": 1024,
    "initializer_range": 0.02, "intermediate_size": 128, "layer_norm_eps": 1e-5,
    "layerdrop": 0.0, "mask_feature_length": 10, "mask_feature_min_masks": 0,
    "mask_feature_prob": 0.0, "mask_time_length": 10, "mask_time_min_masks": 2,
    "mask_time_prob": 0.05, "max_source_positions": 5000, "model_type": "wav2vec2-conformer",
    "num_adapter_layers": 3, "num_attention_heads": 4, "num_codevector_groups": 2,
    "num_codevectors_per_group": 320, "num_conv_pos_embedding_groups": 16,
    "num_conv_pos_embeddings": 128, "num_feat_extract_layers": 7, "num_hidden_layers": 24,
    "num_negatives": 100, "output_hidden_size": 1024, "pad_token_id": 0,
    "position_embeddings_type": "rotary", "proj_codevector_dim": 768,
    "rotary_embedding_base": 10000, "tdnn_dilation": [1, 2, 3, 1, 1],
    "tdnn_dim": [512, 512, 512, 512, 1500], "tdnn_kernel": [5, 3, 3, 1, 1],
    "torch_dtype": "float32", "transformers_version": "4.19.0.dev0",
    "use_weighted_layer_sum": False, "vocab_size": 32, "xvector_output_dim": 512,
}  # fmt: skip
MUQ = {
    "label_rate": 25, "num_codebooks": 1, "codebook_dim": 16, "codebook_size": 4096,
    "features": ["melspec_2048"], "hop_length": 240, "n_mels": 128, "conv_dim": 16,
    "encoder_dim": 64, "encoder_depth": 2, "mask_hop": 0.4, "mask_prob": 0.6,
    "is_flash": False, "w2v2_config": W2V2,
    "stat": {"melspec_2048_cnt": 14282760192, "melspec_2048_mean": 6.768444971712967,
             "melspec_2048_std": 18.417922652295623},
}  # fmt: skip


def main(realmusic: str) -> None:
    stub = types.ModuleType("x_clip.tokenizer")
    stub.tokenizer = types.SimpleNamespace(vocab_size=10)
    sys.modules.update({"x_clip": types.ModuleType("x_clip"), "x_clip.tokenizer": stub})
    from muq import MuQ, MuQMuLan
    from muq.muq.muq import MuQConfig
    from transformers import XLMRobertaConfig, XLMRobertaModel

    root = FIXTURES / "muq"
    torch.manual_seed(0)
    MuQ(MuQConfig(**MUQ)).save_pretrained(root / "MuQ-small")
    text = root / "tiny-xlm-roberta"  # its tokenizer: tests.tiny_hf.byte_level_tokenizer
    XLMRobertaModel(XLMRobertaConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=130, pad_token_id=1,
    )).save_pretrained(text)  # fmt: skip
    config = {
        "mulan": {"sr": 24000, "clip_secs": 10, "dim_latent": 32,
                  "decoupled_contrastive_learning": True, "hierarchical_contrastive_loss": False,
                  "hierarchical_contrastive_loss_layers": None,
                  "sigmoid_contrastive_loss": False, "rank_contrast": True},
        "audio_model": {"name": str(root / "MuQ-small"), "model_dim": 64, "use_layer_idx": -1},
        "text_model": {"name": str(text), "model_dim": 64},
        "audio_transformer": {"dim": 48, "tf_depth": 1, "heads": 2, "dim_head": 16,
                              "attn_dropout": 0.0, "ff_dropout": 0.0, "ff_mult": 4},
        "text_transformer": {"dim": 48, "tf_depth": 2, "heads": 2, "dim_head": 16,
                             "max_seq_len": 1024, "attn_dropout": 0.0, "ff_dropout": 0.0,
                             "ff_mult": 4},
    }  # fmt: skip
    torch.manual_seed(1)
    model = MuQMuLan(config).eval()
    for module in model.modules():  # BatchNorm statistics other than 0 and 1
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    folder = root / "MuQ-MuLan-small"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    # the hub's config names the audio model by its hub id; here the folder beside it
    config["audio_model"]["name"] = "MuQ-small"
    config["text_model"]["name"] = "tiny-xlm-roberta"
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    out = {}
    work = Path(tempfile.mkdtemp())
    with torch.no_grad():
        for name, path in write_clips(Path(realmusic), work).items():
            wave, _ = librosa.load(path, sr=24000)
            out[name] = model(wavs=torch.tensor(wave).unsqueeze(0))[0].numpy()
        for caption in CAPTIONS:
            out[f"text:{caption}"] = model(texts=[caption])[0].numpy()
    np.savez(FIXTURES / "muq_package.npz", **out)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(sys.argv[1])
