"""`Classifier`: a loaded model that scores posts one at a time, in batches, or as a stream."""

from __future__ import annotations

import logging
import math
import queue
import re
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raqib import model_dir as md
from raqib.devices import Dtype, cpu_threads, quiet_transformers, resolve_device, resolve_dtype
from raqib.errors import IncompatibleModelError, InvalidModelDirError
from raqib.normalise import SUPPORTED_VERSIONS, normalise, normalise_with_offsets
from raqib.posts import BadRecord, Post
from raqib.results import PostScore, TokenContribution

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SCORE_CHUNK = 2048
"""Posts tokenised and length-sorted together in `score_batch`; bounds memory on huge inputs."""
LONG_POST_CHARS = 400
"""Normalised posts longer than this are also scored sentence by sentence."""
_SENTENCE_END = re.compile(r"[\r\n]+|(?<=[.!?؟۔…])\s+")


def apply_lora(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], adapter: Mapping[str, Any]) -> None:
    """Merge low-rank deltas into the base weights: W += (alpha / r) * B @ A."""
    import torch

    scale = float(adapter["alpha"]) / float(adapter["r"])
    modules = dict(model.named_modules())
    for key, a in tensors.items():
        if not key.endswith(".lora_A"):
            continue
        name = key[: -len(".lora_A")]
        b = tensors[f"{name}.lora_B"]
        with torch.no_grad():
            modules[name].weight += scale * (b.float() @ a.float()).to(modules[name].weight.dtype)


class Classifier:
    """A raqib model ready to score posts. Build it with `raqib.load()` or `Classifier.from_dir()`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        config: md.ModelConfig,
        *,
        name: str = "model",
        hf_config: Mapping[str, Any] | None = None,
        compact_state: Mapping[str, Any] | None = None,
        cache_size: int = 65_536,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.name = name
        self.hf_config = dict(hf_config or {})
        self._compact_state = compact_state
        self._cache = ScoreCache(cache_size)

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_dir(
        cls,
        name_or_path: str | Path | None = None,
        *,
        device: str = "auto",
        dtype: Dtype = "auto",
        thresholds: Mapping[str, float] | None = None,
        cache_size: int = 65_536,
    ) -> Classifier:
        """Load a model directory (or a bundled model by name). Reads JSON and safetensors only.

        ``cache_size`` bounds the number of distinct normalised texts whose scores are remembered
        (0 turns duplicate-aware scoring off).
        """
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        path = md.resolve(name_or_path)
        md.check_files(path)
        hf_config, cfg = md.read_config(path)
        version = cfg.normaliser.get("version")
        if version not in SUPPORTED_VERSIONS:
            raise IncompatibleModelError(
                f"{path}: the model was trained with normaliser version {version!r}; this raqib has "
                f"{', '.join(SUPPORTED_VERSIONS)}. Install the raqib release that made the model."
            )
        weights = path / md.WEIGHTS_FILE
        if cfg.weights_sha256 is not None:
            from raqib.backbone import sha256_file

            actual = sha256_file(weights)
            if actual != cfg.weights_sha256:
                raise InvalidModelDirError(
                    str(path), f"{md.WEIGHTS_FILE} sha256 {actual[:12]}… does not match the config "
                    f"({cfg.weights_sha256[:12]}…): the weights were changed or corrupted"
                )
        compact_state = None
        with quiet_transformers():
            if cfg.base is None:
                model = AutoModelForSequenceClassification.from_pretrained(
                    path, local_files_only=True, use_safetensors=True
                )
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            else:
                from raqib.backbone import base_model_dir

                base = base_model_dir(cfg.base["name"], expected_sha256=cfg.base.get("sha256") or None)
                hf = AutoConfig.from_pretrained(path, local_files_only=True)
                model = AutoModelForSequenceClassification.from_pretrained(
                    base, config=hf, local_files_only=True, use_safetensors=True
                )
                compact_state = load_file(weights)
                plain = {k: v for k, v in compact_state.items() if ".lora_" not in k}
                missing_head = [k for k in ("classifier.weight", "classifier.bias") if k not in plain]
                if missing_head:
                    raise InvalidModelDirError(str(path), f"{md.WEIGHTS_FILE} lacks {missing_head}")
                unexpected = model.load_state_dict(plain, strict=False).unexpected_keys
                lora_modules = {k.rsplit(".", 1)[0] for k in compact_state if ".lora_" in k}
                unknown = [m for m in lora_modules if m not in dict(model.named_modules())]
                if unexpected or unknown:
                    raise InvalidModelDirError(
                        str(path), f"{md.WEIGHTS_FILE} holds tensors the model does not have: {(unexpected + unknown)[:5]}"
                    )
                if cfg.adapter:
                    apply_lora(model, compact_state, cfg.adapter)
                tok_dir = path if (path / "tokenizer.json").is_file() else base
                tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        import torch

        dev = resolve_device(device)
        model.to(device=dev, dtype=resolve_dtype(dtype, dev))
        model.eval()
        if dev == "cpu" and torch.get_num_threads() > cpu_threads():
            torch.set_num_threads(cpu_threads())
        clf = cls(model, tokenizer, cfg, name=path.name, hf_config=hf_config, compact_state=compact_state,
                  cache_size=cache_size)
        if thresholds:
            clf.set_thresholds(thresholds)
        log.debug("loaded %s on %s (%s)", path, dev, next(model.parameters()).dtype)
        return clf

    def save(self, path: str | Path) -> Path:
        """Write a complete model directory that `from_dir` reads back with identical scores."""
        from safetensors.torch import save_file

        from raqib.backbone import sha256_file

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        weights = out / md.WEIGHTS_FILE
        if self._compact_state is not None:
            save_file(dict(self._compact_state), weights)
            hf_config = dict(self.hf_config)
        else:
            self.model.save_pretrained(out, safe_serialization=True)
            self.tokenizer.save_pretrained(out)
            hf_config = self.model.config.to_dict()
        hf_config.pop("raqib", None)
        self.config.weights_sha256 = sha256_file(weights)
        md.write_config(out, hf_config, self.config)
        return out

    # ------------------------------------------------------------------ properties
    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.config.thresholds)

    @property
    def normaliser_version(self) -> str:
        return self.config.normaliser["version"]

    def set_thresholds(self, thresholds: Mapping[str, float]) -> None:
        """Replace the model's decision thresholds for this session (logged; the directory is unchanged)."""
        new = self._checked_thresholds(thresholds)
        for label, value in new.items():
            if value != self.config.thresholds[label]:
                log.info("overriding %s threshold %.3f -> %.3f", label, self.config.thresholds[label], value)
        self.config.thresholds = new

    def _checked_thresholds(self, thresholds: Mapping[str, float] | None) -> dict[str, float]:
        merged = dict(self.config.thresholds)
        for label, value in (thresholds or {}).items():
            if label not in merged:
                raise ValueError(f"unknown label {label!r} in thresholds; labels are {list(self.labels)}")
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"threshold for {label} must be within [0, 1], got {value!r}")
            merged[label] = float(value)
        return merged

    # ------------------------------------------------------------------ scoring
    def score(self, text: str, *, thresholds: Mapping[str, float] | None = None, explain: bool = False) -> PostScore:
        """Score one post's text."""
        if not isinstance(text, str):
            raise TypeError(f"score() takes a str, got {type(text).__name__}; use score_batch() for many posts")
        return self.score_batch([text], thresholds=thresholds, explain=explain)[0]

    def score_batch(
        self,
        texts: Sequence[str | Post],
        *,
        batch_size: int = 32,
        thresholds: Mapping[str, float] | None = None,
        explain: bool = False,
    ) -> list[PostScore]:
        """Score many posts; one result per input, in input order.

        Inputs that cannot be scored (not text, undecodable bytes, a reader's `BadRecord`) get an error
        result in their place. Posts are sorted by length into batches internally, so the result for a text
        does not depend on its neighbours (up to floating-point noise from padding, < 1e-4 in float32).
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("score_batch() takes a sequence of posts, not one string; use score(text)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        limits = self._checked_thresholds(thresholds)
        items = list(texts)
        out: list[PostScore] = []
        for start in range(0, len(items), SCORE_CHUNK):
            out.extend(self._score_chunk(items[start : start + SCORE_CHUNK], batch_size, limits, explain))
        return out

    def stream(
        self,
        posts: Iterable[Any],
        *,
        batch_size: int = 32,
        max_wait_ms: float = 50.0,
        thresholds: Mapping[str, float] | None = None,
    ) -> Iterator[PostScore]:
        """Score an unbounded iterable lazily, yielding results in input order as each batch is scored.

        A batch is scored when it is full or when ``max_wait_ms`` has passed since its first post arrived,
        so a slow trickle of posts is not held back. At most two batches are read ahead of the consumer.
        """
        limits = self._checked_thresholds(thresholds)
        for batch in _micro_batches(posts, batch_size, max_wait_ms / 1000.0):
            yield from self._score_chunk(batch, batch_size, limits, False)

    async def astream(
        self,
        posts: AsyncIterable[Any],
        *,
        batch_size: int = 32,
        max_wait_ms: float = 50.0,
        thresholds: Mapping[str, float] | None = None,
    ) -> AsyncIterator[PostScore]:
        """`stream` for async sources: batches are scored in a worker thread so the event loop stays free."""
        import asyncio

        limits = self._checked_thresholds(thresholds)
        wait = max_wait_ms / 1000.0
        iterator = posts.__aiter__()
        done = False
        while not done:
            batch: list[Any] = []
            deadline = None
            while len(batch) < batch_size:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = await asyncio.wait_for(iterator.__anext__(), timeout)
                except StopAsyncIteration:
                    done = True
                    break
                except asyncio.TimeoutError:
                    break
                batch.append(item)
                if deadline is None:
                    deadline = time.monotonic() + wait
            if batch:
                for result in await asyncio.to_thread(self._score_chunk, batch, batch_size, limits, False):
                    yield result

    # ------------------------------------------------------------------ internals
    def _score_chunk(
        self, items: Sequence[Any], batch_size: int, limits: dict[str, float], explain: bool
    ) -> list[PostScore]:
        posts: list[Post | None] = []
        errors: list[str | None] = []
        for item in items:
            post, error = _as_post(item)
            posts.append(post)
            errors.append(error)
        scorable = [i for i, p in enumerate(posts) if p is not None]
        texts = [self._model_text(posts[i].text) for i in scorable]  # type: ignore[union-attr]
        failed: dict[int, str] = {}
        if self._cache.max_size > 0:
            logits, n_windows = self._cached_logits(texts, batch_size, failed)
        else:  # duplicate-aware scoring off: every post is computed, repeats included
            logits, n_windows = self._logits(texts, batch_size, failed)
        results: list[PostScore] = []
        by_index = dict(zip(scorable, range(len(scorable)), strict=True))
        for i, item in enumerate(items):
            post = posts[i]
            row = by_index.get(i)
            if row is not None and row in failed:
                post, errors[i] = None, failed[row]
            if post is None or row is None:
                results.append(self._error_result(item, errors[i] or "unscorable input", limits))
                continue
            probs = self._calibrated(logits[row])
            contributions: tuple[TokenContribution, ...] = ()
            if explain:
                contributions = self._explain(post.text, probs, batch_size)
            results.append(
                PostScore(
                    post_id=post.id,
                    probabilities=probs,
                    flagged=tuple(lb for lb in self.labels if probs[lb] >= limits[lb]),
                    thresholds=limits,
                    normaliser_version=self.normaliser_version,
                    channel=post.channel,
                    date=post.date,
                    source=post.source,
                    n_windows=n_windows[row],
                    contributions=contributions,
                    meta=post.meta,
                )
            )
        return results

    def _error_result(self, item: Any, error: str, limits: dict[str, float]) -> PostScore:
        rec = item if isinstance(item, (BadRecord, Post)) else None
        if isinstance(item, BadRecord) and item.position:
            error = f"{item.position}: {error}"
        return PostScore(
            post_id=getattr(rec, "id", None),
            probabilities={},
            flagged=(),
            thresholds=limits,
            normaliser_version=self.normaliser_version,
            error=error,
            channel=getattr(rec, "channel", None),
            date=getattr(rec, "date", None),
            source=getattr(rec, "source", None),
            n_windows=0,
            meta=getattr(rec, "meta", None) or {},
        )

    def _cached_logits(
        self, texts: Sequence[str], batch_size: int, failed: dict[int, str]
    ) -> tuple[list[list[float]], list[int]]:
        """`_logits`, computing each distinct normalised text once (reposts are most of a channel dump)."""
        keys = [self._cache.key(t) for t in texts]
        known: dict[bytes, tuple[list[float], int]] = {}
        todo: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k in todo or k in known:
                self._cache.hits += 1  # a repeat inside this batch is scored once too
                continue
            hit = self._cache.get(k)
            if hit is not None:
                known[k] = hit
            else:
                todo[k] = i
        fresh_texts = [texts[i] for i in todo.values()]
        fresh_failed: dict[int, str] = {}
        fresh, fresh_windows = self._logits(fresh_texts, batch_size, fresh_failed)
        for j, k in enumerate(todo):
            if j in fresh_failed:
                continue
            known[k] = (fresh[j], fresh_windows[j])
            self._cache.put(k, known[k])
        failed_keys = {k: fresh_failed[j] for j, k in enumerate(todo) if j in fresh_failed}
        logits, n_windows = [], []
        for i, k in enumerate(keys):
            if k in failed_keys:
                failed[i] = failed_keys[k]
                logits.append([0.0] * len(self.labels))
                n_windows.append(0)
            else:
                logits.append(known[k][0])
                n_windows.append(known[k][1])
        return logits, n_windows

    def cache_info(self) -> dict[str, int]:
        """Duplicate-aware scoring: how many posts were answered from the cache of normalised texts."""
        return {"hits": self._cache.hits, "misses": self._cache.misses, "size": len(self._cache.data),
                "max_size": self._cache.max_size}

    def _calibrated(self, logit_row: Sequence[float]) -> dict[str, float]:
        probs = {}
        for label, z in zip(self.labels, logit_row, strict=True):
            cal = self.config.calibration.get(label)
            x = cal.scale * z + cal.bias if cal else z
            probs[label] = 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0
        return probs

    def _model_text(self, text: str) -> str:
        """The normalised text; for a long post, its normalised sentences joined by newlines.

        The normaliser turns every newline into a space, so a newline here can only be a sentence boundary.
        Each sentence of a long post is also scored on its own (see `_windows`), so one call to violence in
        a long article is not diluted by the text around it.
        """
        norm = normalise(text, version=self.normaliser_version)
        if len(norm) <= LONG_POST_CHARS:
            return norm
        sentences = [normalise(s, version=self.normaliser_version) for s in _SENTENCE_END.split(text)]
        sentences = [s for s in sentences if s]
        return "\n".join(sentences) if len(sentences) > 1 else norm

    def _windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Token ids of every window and the index of the text it came from.

        Every text is split into overlapping windows of ``max_length`` tokens; a text holding sentence
        boundaries (`_model_text`) also contributes each sentence as a window of its own.
        """
        whole = [t.replace("\n", " ") for t in texts]
        enc = self.tokenizer(
            whole,
            truncation=True,
            max_length=self.config.max_length,
            stride=self.config.window_stride,
            return_overflowing_tokens=True,
            add_special_tokens=True,
        )
        ids, owner = list(enc["input_ids"]), list(enc["overflow_to_sample_mapping"])
        sentences = [(i, s) for i, t in enumerate(texts) if "\n" in t for s in t.split("\n")]
        if sentences:
            enc = self.tokenizer([s for _, s in sentences], truncation=True, max_length=self.config.max_length)
            ids.extend(enc["input_ids"])
            owner.extend(i for i, _ in sentences)
        return ids, owner

    def _logits(
        self, texts: Sequence[str], batch_size: int, failed: dict[int, str] | None = None
    ) -> tuple[list[list[float]], list[int]]:
        """Per-text logits: the max over its windows. Windows are length-sorted and padded per batch.

        A batch whose forward pass raises does not stop the run: its texts are recorded in ``failed``
        (index -> reason) when a dict is given, and the exception propagates otherwise.
        """
        import torch

        n_labels = len(self.labels)
        best = [[-math.inf] * n_labels for _ in texts]
        n_windows = [0] * len(texts)
        if not texts:
            return best, n_windows
        ids, owner = self._windows(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id or 0
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                input_ids, mask = pad_batch([ids[i] for i in batch], pad)
                try:
                    out = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                except Exception as exc:  # noqa: BLE001 - becomes an error record per post, nothing is lost
                    if failed is None:
                        raise
                    log.warning("a batch of %d windows failed to score: %s", len(batch), exc)
                    for i in batch:
                        failed[owner[i]] = f"scoring failed: {type(exc).__name__}: {exc}"
                    continue
                values = out.logits.float().cpu().tolist()
                for row, i in enumerate(batch):
                    t = owner[i]
                    n_windows[t] += 1
                    best[t] = [max(a, b) for a, b in zip(best[t], values[row], strict=True)]
        return best, n_windows

    def _explain(self, text: str, probs: Mapping[str, float], batch_size: int) -> tuple[TokenContribution, ...]:
        """Occlusion: drop each word of the normalised text, measure each label's logit drop, map to the original."""
        norm = normalise_with_offsets(text, version=self.normaliser_version)
        spans = [m.span() for m in re.finditer(r"\S+", norm.text)][:128]
        if not spans:
            return ()
        variants = [norm.text] + [norm.text[:s] + norm.text[e:] for s, e in spans]
        logits, _ = self._logits(variants, batch_size)
        base = logits[0]
        found: list[TokenContribution] = []
        for k, label in enumerate(self.labels):
            drops = sorted(((base[k] - logits[j + 1][k], j) for j in range(len(spans))), reverse=True)
            for weight, j in drops[:5]:
                if weight <= 0:
                    break
                start, end = norm.to_original(*spans[j])
                found.append(TokenContribution(label, text[start:end], start, end, float(weight)))
        return tuple(found)


class ScoreCache:
    """A bounded LRU of logits keyed by a hash of the normalised text, for one loaded model.

    Identical normalised posts (reposts, forwards, copy-paste campaigns) get identical scores, so each is
    scored once per classifier. Thresholds are applied after the cache, so overriding them stays correct.
    """

    def __init__(self, max_size: int) -> None:
        from collections import OrderedDict

        self.max_size = max_size
        self.data: OrderedDict[bytes, tuple[list[float], int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str) -> bytes:
        import hashlib

        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> tuple[list[float], int] | None:
        value = self.data.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return value

    def put(self, key: bytes, value: tuple[list[float], int]) -> None:
        if self.max_size <= 0:
            return
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.max_size:
            self.data.popitem(last=False)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded to the longest sequence of this batch only, and the matching attention mask."""
    import torch

    width = max(len(seq) for seq in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def _as_post(item: Any) -> tuple[Post | None, str | None]:
    """A scorable Post, or None and why not."""
    if isinstance(item, Post):
        if isinstance(item.text, str):
            return item, None
        return None, f"post text is {type(item.text).__name__}, not str"
    if isinstance(item, str):
        return Post(text=item), None
    if isinstance(item, BadRecord):
        return None, item.error
    if isinstance(item, (bytes, bytearray)):
        try:
            return Post(text=bytes(item).decode("utf-8")), None
        except UnicodeDecodeError as exc:
            return None, f"undecodable bytes: {exc}"
    return None, f"not text: got {type(item).__name__}"


_END = object()


def _micro_batches(source: Iterable[Any], batch_size: int, wait_s: float) -> Iterator[list[Any]]:
    """Group an iterable into batches of up to ``batch_size``, closing a batch ``wait_s`` after its first item.

    A daemon thread pulls from the source into a bounded queue so that a blocking source (a socket, stdin)
    cannot hold a partly filled batch back. An exception in the source is re-raised after the items before it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    q: queue.Queue[Any] = queue.Queue(maxsize=2 * batch_size)
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for item in source:
                q.put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, not swallowed
            failure.append(exc)
        q.put(_END)

    threading.Thread(target=pump, name="raqib-stream-reader", daemon=True).start()
    finished = False
    while not finished:
        batch = [q.get()]
        if batch[0] is _END:
            break
        deadline = time.monotonic() + wait_s
        while len(batch) < batch_size:
            try:
                item = q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _END:
                finished = True
                break
            batch.append(item)
        yield batch
    if failure:
        raise failure[0]
