"""Dagster resources: the recipe, storage, the compute launcher and LLM endpoints."""
