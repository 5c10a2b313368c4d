#!/usr/bin/env python3
"""Writes a random-weight Qwen3-MoE GGUF of real shape for scripts/gpu-check.sh, with llama.cpp's gguf-py.

The shape is Qwen3-30B-A3B's (Hugging Face Qwen/Qwen3-30B-A3B config.json): hidden 2048, 32 query and 4 KV heads of
128, 128 routed experts of FFN 768, 8 used per token. Only the layer count (16 instead of 48) and the vocabulary
(32,000 made-up SentencePiece pieces with byte fallback instead of Qwen's 151,936 BPE tokens) are smaller, so that the
file (about 5.5 GiB) is written in seconds and the expert split (`--n-cpu-moe`) works on real tensor sizes. Matrices
are Q4_0 with random 4-bit values and one fixed scale (weights of about 0.02 standard deviation, like a trained
model's); norms are ones; the router is random normal F32. The text it writes is gibberish; only the shapes matter.

Usage: PYTHONPATH=<llama.cpp>/gguf-py python3 make-moe.py OUT.gguf [--layers N] [--seed S]
Needs numpy and gguf-py (from the llama.cpp source that node-llama-cpp bundles); nothing else, no network.
Tensors are streamed to the file one at a time, so memory stays at about one expert tensor (115 MB).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("make-moe.py: gguf-py not found; run with PYTHONPATH=<llama.cpp source>/gguf-py")

HIDDEN = 2048
HEADS = 32
KV_HEADS = 4
HEAD_DIM = 128
EXPERTS = 128
EXPERTS_USED = 8
EXPERT_FFN = 768
VOCABULARY = 32000
CONTEXT = 40960
# Q4_0: per 32 values, one f16 scale then 16 bytes of 4-bit values (ggml-common.h block_q4_0).
Q4_0_BLOCK_VALUES = 32
Q4_0_BLOCK_BYTES = 18
# Values are (nibble - 8) * scale; uniform nibbles have a standard deviation of about 4.6, so 0.0044 gives about 0.02.
Q4_0_SCALE = np.float16(0.0044).tobytes()


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style pieces: <unk>, <s>, </s>, the 256 byte-fallback tokens, letters, then made-up words."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{byte:02X}>" for byte in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    letters = [chr(code) for code in range(ord("a"), ord("z") + 1)]
    words = ["\u2581"] + letters + [f"\u2581{letter}" for letter in letters]
    index = 0
    while len(tokens) + len(words) < VOCABULARY:
        words.append(f"\u2581w{index}")
        index += 1
    tokens += words
    types += [gguf.TokenType.NORMAL] * len(words)
    scores = [0.0] * (3 + 256) + [-float(rank) for rank in range(len(words))]
    return tokens, scores, [int(kind) for kind in types]


def q4_0(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random Q4_0 bytes for a tensor of numpy shape `shape` (ggml's dims reversed; the last one a multiple of 32)."""
    *outer, row = shape
    blocks = rng.integers(0, 256, size=(*outer, row // Q4_0_BLOCK_VALUES, Q4_0_BLOCK_BYTES), dtype=np.uint8)
    blocks[..., 0:2] = np.frombuffer(Q4_0_SCALE, dtype=np.uint8)
    return blocks.reshape(*outer, row // Q4_0_BLOCK_VALUES * Q4_0_BLOCK_BYTES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    started = time.monotonic()
    rng = np.random.default_rng(args.seed)

    # (name, numpy shape, kind): kind "q" is Q4_0, "ones" and "normal" are F32.
    specs: list[tuple[str, tuple[int, ...], str]] = [
        ("token_embd.weight", (VOCABULARY, HIDDEN), "q"),
        ("output_norm.weight", (HIDDEN,), "ones"),
        ("output.weight", (VOCABULARY, HIDDEN), "q"),
    ]
    for layer in range(args.layers):
        prefix = f"blk.{layer}."
        specs += [
            (prefix + "attn_norm.weight", (HIDDEN,), "ones"),
            (prefix + "attn_q.weight", (HEADS * HEAD_DIM, HIDDEN), "q"),
            (prefix + "attn_k.weight", (KV_HEADS * HEAD_DIM, HIDDEN), "q"),
            (prefix + "attn_v.weight", (KV_HEADS * HEAD_DIM, HIDDEN), "q"),
            (prefix + "attn_output.weight", (HIDDEN, HEADS * HEAD_DIM), "q"),
            (prefix + "attn_q_norm.weight", (HEAD_DIM,), "ones"),
            (prefix + "attn_k_norm.weight", (HEAD_DIM,), "ones"),
            (prefix + "ffn_norm.weight", (HIDDEN,), "ones"),
            (prefix + "ffn_gate_inp.weight", (EXPERTS, HIDDEN), "normal"),
            (prefix + "ffn_gate_exps.weight", (EXPERTS, EXPERT_FFN, HIDDEN), "q"),
            (prefix + "ffn_up_exps.weight", (EXPERTS, EXPERT_FFN, HIDDEN), "q"),
            (prefix + "ffn_down_exps.weight", (EXPERTS, HIDDEN, EXPERT_FFN), "q"),
        ]

    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN3MOE]
    writer = gguf.GGUFWriter(args.out, arch)
    writer.add_name("gpu-check-qwen3moe")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(args.layers)
    writer.add_feed_forward_length(EXPERT_FFN * EXPERTS_USED)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_expert_count(EXPERTS)
    writer.add_expert_used_count(EXPERTS_USED)
    writer.add_expert_feed_forward_length(EXPERT_FFN)
    tokens, scores, types = vocabulary()
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)

    for name, shape, kind in specs:
        if kind == "q":
            *outer, row = shape
            byte_shape = (*outer, row // Q4_0_BLOCK_VALUES * Q4_0_BLOCK_BYTES)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), gguf.GGMLQuantizationType.Q4_0)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = 0
    for name, shape, kind in specs:
        if kind == "q":
            data = q4_0(rng, shape)
        elif kind == "ones":
            data = np.ones(shape, dtype=np.float32)
        else:
            data = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        writer.write_tensor_data(data)
        total += data.nbytes
    writer.close()
    print(f"make-moe.py: wrote {args.out}: {args.layers} layers, {total / 2**30:.2f} GiB of tensors in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
