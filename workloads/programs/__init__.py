"""The programs a launcher may start (``python -m workloads.programs.<name>``), one per stage.

Each is a thin ``main`` that reads its typed inputs from the Pipes extras, calls the stage's package
and reports back. Launchers check names against :data:`PROGRAMS`, so a settings typo (a module that
exists but is not a program) is refused where it is written.
"""

PACKAGE = "workloads.programs"
PROGRAMS = ("prepare_model", "generate", "verify", "train", "evaluate")
