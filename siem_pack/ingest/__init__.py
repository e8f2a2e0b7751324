"""Stage 1 → 2: raw gateway and provider logs → ECS events.

- pipeline.py: loads and validates `ingest_pipelines/*.yml` (plus the generated inventory and
  secrets pipelines) into a frozen `PipelineSet`;
- executor.py, processors.py, painless.py, grok.py: the offline executor (Elasticsearch
  semantics, no cluster); geoip.py registers the `geoip` processor;
- reader.py: files and folders → records (or dead letters);
- runner.py: records → pipelines → the embedded store or Elasticsearch, with the ingest
  invariant (read = stored + already present + dropped + dead-lettered).
"""
