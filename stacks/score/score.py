"""Scoring script for the sample deployments, in the shape Azure ML's inference server runs.

`init()` loads the linear model from `$AZUREML_MODEL_DIR/model.json`; `run(raw_data)` takes
`{"data": [[f1, f2, f3, f4], ...]}` and returns one prediction per row, plus the name of the
deployment that answered (`MLPLAN_DEPLOYMENT`, set by the targets) so traffic splits can be seen.

Example: weights [0.41, -0.22, 0.63, 0.58], bias -0.27, row [5.1, 3.5, 1.4, 0.2] gives
0.41*5.1 - 0.22*3.5 + 0.63*1.4 + 0.58*0.2 - 0.27 = 2.049 (times SCORE_SCALE, default 1).
"""

import json
import os

_model: dict = {}


def init() -> None:
    model_dir = os.environ.get("AZUREML_MODEL_DIR", os.path.dirname(__file__))
    path = os.path.join(model_dir, "model.json")
    if not os.path.exists(path):  # Azure mounts a registered model one folder deeper
        for root, _dirs, files in os.walk(model_dir):
            if "model.json" in files:
                path = os.path.join(root, "model.json")
                break
    with open(path, encoding="utf-8") as handle:
        _model.update(json.load(handle))


def run(raw_data: str) -> dict:
    scale = float(os.environ.get("SCORE_SCALE", "1"))
    rows = json.loads(raw_data)["data"]
    weights, bias = _model["weights"], _model["bias"]
    predictions = [
        round(scale * (sum(w * x for w, x in zip(weights, row, strict=True)) + bias), 6)
        for row in rows
    ]
    deployment = os.environ.get("MLPLAN_DEPLOYMENT", "unknown")
    return {"deployment": deployment, "predictions": predictions}
