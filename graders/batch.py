"""A batch: grade many submissions, record each result as it finishes, resume what is done.

``grade_all`` hands one job per submission to an executor (a thread pool locally); each
finished ``SubmissionResult`` is appended to ``OUT/results.jsonl`` by ``ResultStore`` at once,
so a crash loses nothing and a re-run skips what is stored (by ``fingerprint``).
"""
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from graders.pipeline import GRADER_VERSION, grade_submission
from graders.results import SubmissionResult
from worker import channel


def fingerprint(sub, run):
    """Identifies a submission's content, the grading settings and the data, for resuming."""
    settings = run.settings
    digest = hashlib.sha256(f"{GRADER_VERSION}|{settings.public}|{settings.seed}|{settings.item_seconds}|"
                            f"{settings.train_seconds}|{run.data_source}|{sub.id}".encode())
    if sub.source is not None and sub.source.exists():
        digest.update(sub.source.read_bytes())
    return digest.hexdigest()[:20]


class ResultStore:
    """``results.jsonl`` in the output folder: one line per graded submission, appended as it finishes."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / "results.jsonl"
        self.models_dir = Path(out_dir) / "models"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def load(self):
        """``{fingerprint: SubmissionResult}`` of earlier runs; unreadable lines are skipped."""
        done = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    data = json.loads(line)
                    done[data["fingerprint"]] = SubmissionResult.from_full_json(data["result"])
                except (ValueError, KeyError, TypeError):
                    continue
        return done

    def append(self, print_, result):
        """Record ``result``; its trained models go to ``models/<fingerprint>-<item>.safetensors``."""
        with self._lock:
            for item_id, state in result.models.items():
                self.models_dir.mkdir(exist_ok=True)
                channel.save_inputs(state, self.models_dir / f"{print_}-{item_id}.safetensors")
            with open(self.path, "a") as handle:
                handle.write(json.dumps({"fingerprint": print_, "result": result.full_json()}) + "\n")

    def models(self, result):
        """``{item id: state dict}`` stored for ``result`` (by its fingerprint)."""
        if result.models:
            return result.models
        found = {}
        for path in self.models_dir.glob(f"{result.info.get('fingerprint', '?')}-*.safetensors"):
            found[path.name[len(result.info["fingerprint"]) + 1:-len(".safetensors")]] = channel.load_inputs(path)
        return found


def grade_all(run, submissions, store=None, progress=None, fresh=False):
    """Grade ``submissions`` with ``run.settings.workers`` at once; reuses stored results unless ``fresh``."""
    done = {} if (store is None or fresh) else store.load()
    results = {}

    def one(sub):
        print_ = fingerprint(sub, run)
        if print_ in done:
            result = done[print_]
            result.id = sub.id
            result.info["resumed"] = True
        else:
            result = grade_submission(run, sub)
            result.info["fingerprint"] = print_
            if store is not None:
                store.append(print_, result)
                result.models = {}  # on disk now; reports read them back one student at a time
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max(1, run.settings.workers)) as pool:
        for result in pool.map(one, submissions):
            results[result.id] = result
    return [results[s.id] for s in submissions]
