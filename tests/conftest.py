"""Shared fixtures: a tiny model built in the test session, hermetic caches, no network."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "models" / "raqib-ar-v1"

# A few dozen Arabic words so the tiny tokenizer sees real text.
TINY_VOCAB = (
    "<pad> <s> </s> <unk> <mask> سوف اقتل اقتلك اقتلوهم احرقوا اذبحوا يا شباب الدولة الاسلامية باقية "
    "الخلافة جنود داعش بايعنا امير المؤمنين الحمد لله صباح الخير الطقس جميل اليوم المباراة فاز الفريق "
    "اعتقلت قوات الامن خلية تابعة لتنظيم ندين الارهاب قتل هجوم @USER URL # ! ؟ . ، سكين"
).split()


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No hub access, and caches inside the test session (the e5 base is built once per session)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf"))
    if "RAQIB_TEST_CACHE_DIR" in os.environ:  # lets a developer reuse a built base between runs
        monkeypatch.setenv("RAQIB_CACHE_DIR", os.environ["RAQIB_TEST_CACHE_DIR"])
    else:
        monkeypatch.setenv("RAQIB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "raqib-cache"))
    monkeypatch.delenv("RAQIB_MODELS_DIR", raising=False)


def build_tiny_encoder(path: Path, *, seed: int = 0) -> Path:
    """A random 2-layer BERT sequence classifier and a word-level tokenizer, saved as a transformers dir."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(TINY_VOCAB))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=64,
    )
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=vocab["<pad>"], num_labels=2,
        problem_type="multi_label_classification",
        id2label={0: "violent_call", 1: "propaganda"}, label2id={"violent_call": 0, "propaganda": 1},
    )
    model = BertForSequenceClassification(config).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    fast.save_pretrained(path)
    return path


def make_tiny_classifier(encoder_dir: Path):
    """A full-weights raqib Classifier around the tiny encoder (fp32, CPU)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from raqib import model_dir as md
    from raqib.classifier import Classifier
    from raqib.normalise import normaliser_info

    model = AutoModelForSequenceClassification.from_pretrained(encoder_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    cfg = md.ModelConfig(
        labels=("violent_call", "propaganda"),
        thresholds={"violent_call": 0.5, "propaganda": 0.5},
        normaliser=normaliser_info("1"),
        max_length=16,
        window_stride=4,
    )
    return Classifier(model, tokenizer, cfg, name="tiny", cache_size=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete raqib model directory with a tiny random model (session-wide, treat as read-only)."""
    root = tmp_path_factory.mktemp("tiny")
    clf = make_tiny_classifier(build_tiny_encoder(root / "encoder"))
    return clf.save(root / "tiny-model")


@pytest.fixture(scope="session")
def _tiny_session_classifier(tiny_model_dir: Path):
    from raqib.classifier import Classifier

    # no score cache: tests of batching must run the model every time (the cache has its own tests)
    return Classifier.from_dir(tiny_model_dir, device="cpu", dtype="float32", cache_size=0)


@pytest.fixture
def tiny_classifier(_tiny_session_classifier):
    """A fresh copy of the tiny classifier for each test (tests may change thresholds)."""
    return copy.deepcopy(_tiny_session_classifier)


@pytest.fixture(scope="session")
def shipped_classifier():
    """The bundled default model (built on the offline e5 base); skipped only if the model is not committed."""
    if not (SHIPPED / "config.json").is_file():
        pytest.skip("no shipped model in models/raqib-ar-v1")
    import raqib

    return raqib.load(SHIPPED, device="cpu")
