"""Programs that run on the compute (a local subprocess or a GPU pod).

Nothing in this package imports dagster: only ``dagster_pipes``, so a workload image needs
vLLM/TRL/math-verify and the pipes protocol, never the orchestrator. Pure logic (answer
extraction, the Countdown rule, scorers) lives here so both sides and the tests share it.
"""
