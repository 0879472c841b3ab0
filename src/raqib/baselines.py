"""A character n-gram TF-IDF + logistic regression baseline: the bar a fine-tuned transformer has to clear.

A report that shows only the transformer cannot tell a reader whether it is worth its cost; the same gold
scored by a cheap, inspectable model answers that. It is trained in the process and never saved: there is
no pickle to load, ever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class TfidfBaseline:
    """Character n-gram TF-IDF features (``char_wb``) and one class-balanced logistic regression per label.

    Example:
        >>> b = TfidfBaseline(["violent_call"], normaliser_version=None)
        >>> b = b.fit(["اقتلوهم", "صباح الخير"] * 5, np.array([[1], [0]] * 5))
        >>> b.predict_proba(["اقتلوهم"]).shape
        (1, 1)
    """

    name = "tfidf-char-lr"

    def __init__(
        self,
        labels: Sequence[str],
        *,
        normaliser_version: str | None = "1",
        ngram_range: tuple[int, int] = (2, 5),
        max_features: int | None = 200_000,
        C: float = 4.0,
        seed: int = 0,
        max_iter: int = 2000,
    ) -> None:
        self.labels = tuple(labels)
        self.normaliser_version = normaliser_version
        self.ngram_range = tuple(ngram_range)
        self.max_features = max_features
        self.C = C
        self.seed = seed
        self.max_iter = max_iter
        self._vectorizer: Any = None
        self._models: list[Any] = []

    def describe(self) -> dict[str, Any]:
        """The settings, for a report's provenance (what exactly was the baseline)."""
        return {
            "name": self.name,
            "features": f"TfidfVectorizer(analyzer='char_wb', ngram_range={self.ngram_range}, "
            f"max_features={self.max_features}, sublinear_tf=True)",
            "classifier": f"LogisticRegression(class_weight='balanced', C={self.C}), one per label",
            "normaliser_version": self.normaliser_version,
            "seed": self.seed,
        }

    def _normalised(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string; wrap it in a list")
        if self.normaliser_version is None:
            return [str(t) for t in texts]
        from raqib.normalise import normalise

        return [normalise(str(t), version=self.normaliser_version) for t in texts]

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfBaseline:
        """Fit the vocabulary and one classifier per label. ``y``: ``(n, n_labels)`` of 0/1, label order."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y)
        if y.ndim == 1 and len(self.labels) == 1:
            y = y[:, None]
        if y.shape != (len(texts), len(self.labels)):
            raise ValueError(
                f"y must have shape (n_texts, n_labels) = ({len(texts)}, {len(self.labels)}); got {y.shape}"
            )
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.ngram_range,
            max_features=self.max_features,
            sublinear_tf=True,
        )
        features = self._vectorizer.fit_transform(self._normalised(texts))
        self._models = []
        for k, label in enumerate(self.labels):
            column = y[:, k].astype(int)
            if column.min(initial=0) == column.max(initial=0):
                prior = float(column.mean()) if len(column) else 0.0
                log.warning(
                    "baseline: label %r has one class only in training; it predicts %.3f", label, prior
                )
                self._models.append(prior)
                continue
            model = LogisticRegression(
                class_weight="balanced", C=self.C, max_iter=self.max_iter, random_state=self.seed
            )
            self._models.append(model.fit(features, column))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of the positive class, shape ``(n, n_labels)``, columns in label order."""
        if self._vectorizer is None:
            raise RuntimeError("TfidfBaseline.predict_proba() called before fit()")
        texts = self._normalised(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=float)
        if not texts:
            return out
        features = self._vectorizer.transform(texts)
        for k, model in enumerate(self._models):
            out[:, k] = model if isinstance(model, float) else model.predict_proba(features)[:, 1]
        return out

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "TfidfBaseline is never pickled: retrain it from its training file (it takes seconds)"
        )
