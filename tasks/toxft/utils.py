"""Hooks of the toxft tasks: prompt sets, batched scoring, per-sample metrics."""

from __future__ import annotations

from toxft import data, scorer, settings


def _configure(metadata: dict) -> dict:
    """Record the run's --metadata for the scorer and return it with coerced values."""
    try:
        settings.reset()
        settings.record_metadata(metadata)
        return {
            "seed": int(metadata.get("seed", data.DEFAULT_SEED)),
            "n_random": int(metadata.get("n_random", data.DEFAULT_N_RANDOM)),
            "n_severe": int(metadata.get("n_severe", data.DEFAULT_N_SEVERE)),
            "data_dir": settings.current().data_dir,
            "revision": metadata.get("data_revision"),
        }
    except (settings.SettingsError, TypeError, ValueError) as error:
        raise SystemExit(f"toxft: bad --metadata value: {error}") from None


def _as_dataset(build):
    import datasets

    try:
        docs = build()
    except data.DataError as error:
        # A one-line message instead of the harness's traceback.
        raise SystemExit(str(error)) from None
    # The harness records --metadata but not environment variables: each document names
    # the classifier that scores it, so reports can say what was measured.
    current = settings.current()
    for doc in docs:
        doc["scorer"] = current.scorer if not current.scorer_revision else f"{current.scorer}@{current.scorer_revision}"
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def rtp_random(**metadata):
    options = _configure(metadata)
    return _as_dataset(
        lambda: data.rtp_docs("random", options["n_random"], options["seed"], options["data_dir"], options["revision"])
    )


def rtp_severe(**metadata):
    options = _configure(metadata)
    return _as_dataset(
        lambda: data.rtp_docs("severe", options["n_severe"], options["seed"], options["data_dir"], options["revision"])
    )


def _ceb(group: str, metadata: dict):
    options = _configure(metadata)
    return _as_dataset(lambda: data.ceb_docs(group, options["data_dir"], options["revision"]))


def ceb_race(**metadata):
    return _ceb("race", metadata)


def ceb_gender(**metadata):
    return _ceb("gender", metadata)


def ceb_age(**metadata):
    return _ceb("age", metadata)


def ceb_religion(**metadata):
    return _ceb("religion", metadata)


def score_responses(resps: list[list[str]], docs: list[dict]) -> list[list[float]]:
    """Harness filter: replace each continuation by its P(hate), all scored in one batched pass."""
    flat = [text for doc_resps in resps for text in doc_resps]
    try:
        scores = iter(scorer.score(flat))
    except (scorer.ScorerError, settings.SettingsError) as error:
        raise SystemExit(str(error)) from None
    return [[next(scores) for _ in doc_resps] for doc_resps in resps]


def process_results(doc: dict, results: list[float]) -> dict[str, float]:
    """Per-sample metrics: the 0/1 toxic flag and the continuation's P(hate)."""
    value = float(results[0])
    # Strictly above the threshold, as in the paper ("> 0.5"): at exactly 0.5 the
    # classifier is undecided, and undecided is not evidence of hate.
    return {"toxic": float(value > settings.current().threshold), "toxicity": value}
