"""What runs on the compute (a local subprocess, a container, a GPU pod), by stage.

- ``programs``: the only modules a launcher starts, one thin ``main`` per stage, and their typed
  inputs (``programs.inputs``).
- ``verification``, ``training``, ``evaluation``: each stage's logic (evaluation holds one module per
  benchmark kind in ``tasks``, found through ``evaluation.registry``). Generation is
  ``programs.generate`` over the engines.
- ``inference``: the engines (vLLM offline, an OpenAI-compatible server, transformers).
- ``core``: what every stage shares (storage I/O, names, text, Pipes lifecycle, progress).
- ``data``, ``planning``, ``analysis``: pure logic the orchestrator runs (query loading, dataset
  building, plans and costs, training dynamics); the programs never import them.

Nothing here imports dagster, only ``dagster_pipes``: a workloads image carries vLLM and TRL, not
the orchestrator.
"""
