"""The answerability model's fitting (bot/fitting.py): reproducible, reported only out of fold.

Fitted here on our synthetic questions (data/training), which ship with the project."""

from __future__ import annotations

import shutil

import pytest

from bot.answer import AnswerEngine
from bot.config import BUNDLED_STORE, DATA_DIR
from bot.fitting import ANSWER_PRECISION, THRESHOLD_GRID, fit_and_report
from bot.store import PostStore

TRAINING = [DATA_DIR / "training" / "answerable.jsonl", DATA_DIR / "training" / "unanswerable.jsonl"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> AnswerEngine:
    path = tmp_path_factory.mktemp("store") / "store.json"
    shutil.copy(BUNDLED_STORE, path)
    return AnswerEngine.from_store(PostStore(path))


def test_fitting_twice_gives_the_same_model_and_reports_only_out_of_fold_figures(engine, tmp_path):
    first = fit_and_report(engine, TRAINING, out=tmp_path / "a.json", write=False)
    second = fit_and_report(engine, TRAINING, out=tmp_path / "b.json", write=False)
    assert first["variants"] == second["variants"]  # no luck of one fold assignment in the shipped weights
    for variant in first["variants"].values():
        thresholds = variant["thresholds"]
        assert thresholds["tentative"] in THRESHOLD_GRID and thresholds["answer"] >= thresholds["tentative"]
        report = variant["report"]
        assert report["answer_precision_out_of_fold"] >= ANSWER_PRECISION or thresholds["answer"] == max(THRESHOLD_GRID)
        assert set(report) >= {"cross_validated", "held_out_files"} and "fitted_on_all" not in report
        assert report["cross_validated"]["repeats"] > 1


def test_a_written_model_is_the_one_the_engine_loads(engine, tmp_path):
    from bot.answerability import AnswerabilityModel

    path = tmp_path / "model.json"
    path.write_text((DATA_DIR / "answerability.json").read_text(encoding="utf-8"), encoding="utf-8")
    model = fit_and_report(engine, TRAINING, out=path)
    loaded = AnswerabilityModel.load(path, variant="semantic")
    assert loaded.answer_at == model["variants"]["semantic"]["thresholds"]["answer"]
    assert loaded.tentative_at == model["variants"]["semantic"]["thresholds"]["tentative"]
