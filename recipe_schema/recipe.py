"""The experiment recipe: one YAML file, validated here and nowhere else.

``Recipe`` is the top-level section and holds the rules across sections; the sections are in
recipe_schema.sections and recipe_schema.training, their value types in recipe_schema.fields.
recipe_schema.loading reads a file into it.
"""

from __future__ import annotations

from pydantic import Field, StrictInt, model_validator

from recipe_schema.data_files import DATA_DIR_ENV, check_inside_data_folder, data_path
from recipe_schema.data_files import check_files as check_data_files
from recipe_schema.errors import require
from recipe_schema.fields import INT32_MAX, Count, DatasetVariant, Identifier, Section
from recipe_schema.sections import Decontamination, Evaluation, Generation, ModelSpec, QuerySource
from recipe_schema.student_plans import check_students_fit
from recipe_schema.training import Training
from workloads.core.naming import run_name


class Recipe(Section):
    name: Identifier = Field(description="the study's folder in storage")
    seed: StrictInt = Field(ge=0, le=INT32_MAX, description="seeds every sampler (numpy, torch, polars, vLLM)")
    models: dict[Identifier, ModelSpec]
    queries: dict[Identifier, QuerySource]
    generation: Generation
    training: Training
    evaluation: Evaluation
    decontamination: Decontamination = Field(default_factory=Decontamination)
    dataset_targets: dict[DatasetVariant, Count] = Field(
        default_factory=dict, description="dataset variant -> examples it should reach (a warning check)"
    )
    data_dir: str | None = Field(None, description=f"data folder; default ${DATA_DIR_ENV}")
    allow_absolute_paths: bool = Field(
        False, description="let data locations be absolute paths or leave the data folder with '..'"
    )

    def data_path(self, location: str) -> str:
        """Hub ids pass through; file locations resolve against the data folder."""
        return data_path(self, location)

    @property
    def runs(self) -> list[str]:
        return [run_name(s, d) for s in self.training.students for d in self.training.datasets]

    def student_of(self, run: str) -> str:
        for student in self.training.students:
            for dataset in self.training.datasets:
                if run_name(student, dataset) == run:
                    return student
        raise KeyError(f"run {run!r} is not in this recipe (runs: {self.runs})")

    @model_validator(mode="after")
    def _references(self) -> Recipe:
        """Rules across sections: every name a section uses exists in the section it points at."""
        for key, model in self.models.items():
            if model.source == "tiny-config":
                require(
                    model.base in self.models and model.base != key,
                    f"models.{key}.base",
                    "must name another model in `models`",
                )
        total = sum(s.size for s in self.queries.values())
        gen = self.generation
        require(gen.shards <= total, "generation.shards", f"{gen.shards} shards for only {total} queries")
        for src, teacher in gen.teachers.items():
            where = f"generation.teachers.{src}"
            require(src in self.queries, where, f"no query source named {src!r}")
            if teacher.backend == "vllm":
                require(teacher.model in self.models, f"{where}.model", "must name a model in `models`")
            if teacher.backend == "countdown-solver":
                require(
                    self.queries[src].loader == "countdown", f"{where}.backend", "the solver only answers countdown"
                )
        for src in self.queries:
            require(src in gen.teachers, f"generation.teachers.{src}", "every query source needs a teacher")
        for i, s in enumerate(self.training.students):
            require(s in self.models, f"training.students[{i}]", f"{s!r} is not in `models`")
        judge = self.evaluation.judge
        if judge is not None:
            require(
                bool(judge.base_url) or judge.model in self.models,
                "evaluation.judge.model",
                f"{judge.model!r} is not in `models` (without base_url the judge is served from a recipe model)",
            )
        return self

    @model_validator(mode="after")
    def _locations_stay_inside_the_data_folder(self) -> Recipe:
        check_inside_data_folder(self)
        return self

    @model_validator(mode="after")
    def _training_fits(self) -> Recipe:
        """Every student's run fits its GPUs by the memory plan (when the recipe states a cluster)."""
        check_students_fit(self)
        return self

    def check_files(self) -> None:
        """Local data files exist and hold at least the records the recipe asks of them (hub ids
        are checked when loaded)."""
        check_data_files(self)
