"""fastort on Ray: offline classification and prediction with Ray Data, online serving with
Ray Serve.

`pip install fastort[ray]`. `import fastort` never imports Ray; `import fastort.ray` does.

- `Classifier`, `Predictor`: callable classes for `Dataset.map_batches` (one session per
  actor, threads from the CPUs Ray assigned to it).
- `classify(ds, model)`: the classification pipeline in one call, sized so that the read
  tasks keep a CPU (which the actors' threads share: `actor_threads`).
- `deployment(model)`: a Ray Serve application classifying POSTed image bytes, batching
  requests with fastort's native `Batcher` without blocking the replica's event loop.
"""

from ._data import Classifier, Predictor, actor_threads, assigned_cpus, classify
from ._serve import deployment

__all__ = ["Classifier", "Predictor", "actor_threads", "assigned_cpus", "classify", "deployment"]
