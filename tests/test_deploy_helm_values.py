"""deploy/helm/values.yaml checked against the JSON schema of Dagster's own Helm chart, vendored in
deploy/helm/schema/ (source.yaml there names the repository, path, commit and release series).

Helm validates the chart's defaults merged with the user's values, so a key the schema requires
but this file leaves to the defaults is not an error here, except inside lists (lists replace the
defaults whole: every user deployment must be complete). The chart's schema leaves some levels open
(the top level, `global`, `postgresql`, each user deployment, the S3 compute log settings): a
misspelt key there passes Helm silently, so a second check holds this file to the keys the schema
defines at every level."""

import copy
import hashlib
import json
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml
from referencing.exceptions import NoSuchResource

from recipe_schema.recipe import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "deploy" / "helm" / "schema"
VALUES_YAML = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
# The chart's schema points Kubernetes types at this public copy of the API schemas; here they come
# from kubernetes-validate's packaged copy (the oldest API version it ships), never the network.
KUBERNETES_DEFINITIONS = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/"


def source() -> dict:
    return yaml.safe_load((SCHEMA_DIR / "source.yaml").read_text())


def chart_schema() -> dict:
    return json.loads((SCHEMA_DIR / "values.schema.json").read_text())


def values() -> dict:
    return yaml.safe_load(VALUES_YAML.read_text())


def _kubernetes_definitions() -> referencing.Resource:
    import kubernetes_validate

    folders = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema").glob("v*-local")
    oldest = min(folders, key=lambda p: tuple(int(x) for x in p.name[1:].split("-")[0].split(".")))
    defs = json.loads((oldest / "_definitions.json").read_text())["$defs"]
    # The chart addresses them as #/definitions/..., the packaged copy as #/$defs/...: serve both.
    return referencing.Resource.from_contents(
        {"$defs": defs, "definitions": defs}, default_specification=referencing.jsonschema.DRAFT202012
    )


def _retrieve(uri: str) -> referencing.Resource:
    if uri.startswith(KUBERNETES_DEFINITIONS) and uri.endswith("/_definitions.json"):
        return _kubernetes_definitions()
    raise NoSuchResource(ref=uri)


REGISTRY = referencing.Registry(retrieve=_retrieve)


def _where(error) -> str:
    return ".".join(map(str, error.absolute_path)) or "<top>"


def _real(error) -> list[str]:
    """This error as Helm would report it over merged values, or [] when the merge removes it: a
    missing required key outside a list is filled in by the chart's defaults; a choice (anyOf) is
    met when one branch fails only for such keys."""
    if error.validator == "required":
        return [f"{_where(error)}: {error.message}"] if any(isinstance(p, int) for p in error.absolute_path) else []
    if error.validator in ("anyOf", "oneOf"):
        branches: dict[int, list[str]] = {i: [] for i in range(len(error.validator_value))}
        for sub in error.context:
            branches[sub.relative_schema_path[0]].extend(_real(sub))
        if any(not found for found in branches.values()):
            return []
        return [f"{_where(error)}: no choice fits; nearest: " + "; ".join(min(branches.values(), key=len))]
    return [f"{_where(error)}: {error.message}"]


def helm_errors(schema: dict, instance: dict) -> list[str]:
    """The errors Helm would report for these values merged over the chart's defaults."""
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
    return [message for error in validator.iter_errors(instance) for message in _real(error)]


def closed(schema: dict) -> dict:
    """The chart's schema with every object it defines closed to keys it does not name. Kubernetes
    types (a `$ref` beside empty properties) stay as they are; so do `if` conditions and defaults."""

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "$ref" not in node:
                node["additionalProperties"] = False
            for key, value in node.items():
                if key not in ("if", "then", "default"):
                    close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)
        return node

    return close(copy.deepcopy(schema))


def test_the_vendored_schema_is_for_the_installed_dagster_release():
    src = source()
    installed = metadata.version("dagster")
    series = ".".join(installed.split(".")[:2])
    assert series == src["dagster"], (
        f"deploy/helm/schema/values.schema.json was vendored from Dagster's chart for the {src['dagster']} "
        f"series, but dagster {installed} is installed: refresh it from {src['repository']}'s {src['path']} "
        f"at the {installed} release and update deploy/helm/schema/source.yaml (commit, sha256, dagster)"
    )
    digest = hashlib.sha256((SCHEMA_DIR / "values.schema.json").read_bytes()).hexdigest()
    assert digest == src["sha256"], "values.schema.json differs from the vendored file: it is the chart's, not ours"


def test_the_chart_schema_itself_is_a_valid_schema():
    jsonschema.Draft202012Validator.check_schema(chart_schema())


def test_the_values_pass_the_charts_schema():
    assert helm_errors(chart_schema(), values()) == []


def test_the_values_use_only_keys_the_chart_defines():
    assert helm_errors(closed(chart_schema()), values()) == []


def _drop_port(v):
    del v["dagster-user-deployments"]["deployments"][0]["port"]


def _bad_pull_policy(v):
    v["dagster-user-deployments"]["deployments"][0]["image"]["pullPolicy"] = "Sometimes"


def _bad_mount(v):
    v["dagster-user-deployments"]["deployments"][0]["volumeMounts"][0]["mountPath"] = 5


def _bad_launcher_type(v):
    v["runLauncher"]["type"] = "KubernetesRunLauncher"


@pytest.mark.parametrize(
    "edit, expected",
    [
        (_drop_port, "'port' is a required property"),  # inside a list: no defaults fill it in
        (_bad_pull_policy, "'Sometimes' is not one of"),
        (_bad_mount, "5 is not of type 'string'"),  # a Kubernetes type, from the packaged API schema
        (_bad_launcher_type, "'KubernetesRunLauncher' is not one of"),
    ],
    ids=["missing-in-list", "enum", "kubernetes-type", "launcher-type"],
)
def test_wrong_values_fail_the_charts_schema(edit, expected):
    broken = values()
    edit(broken)
    errors = helm_errors(chart_schema(), broken)
    assert any(expected in e for e in errors), errors


def _misspell(data: dict, path: tuple, wrong: str) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[wrong] = node.pop(path[-1])
    return data


# Levels where the chart's own schema forbids unknown keys: Helm itself would refuse these.
@pytest.mark.parametrize(
    "path, wrong",
    [
        (("runLauncher", "config", "k8sRunLauncher", "envSecrets"), "envSecret"),
        (("computeLogManager", "config", "s3ComputeLogManager"), "s3ComputeLogManger"),
        (("dagsterDaemon", "enabled"), "enable"),
    ],
)
def test_a_misspelt_key_fails_where_the_chart_forbids_unknown_keys(path, wrong):
    errors = helm_errors(chart_schema(), _misspell(values(), path, wrong))
    assert any(wrong in e for e in errors), errors


# Levels the chart leaves open: Helm accepts these silently, the closed check does not.
@pytest.mark.parametrize(
    "path, wrong",
    [
        (("dagster-user-deployments", "deployments", 0, "dagsterApiGrpcArgs"), "dagsterApiGrpcArg"),
        (("dagsterDaemon",), "dagsterDeamon"),
        (("computeLogManager", "config", "s3ComputeLogManager", "prefix"), "prefx"),
    ],
)
def test_a_misspelt_key_fails_the_closed_check_where_the_chart_allows_unknown_keys(path, wrong):
    misspelt = _misspell(values(), path, wrong)
    assert helm_errors(chart_schema(), misspelt) == []  # what Helm would let through
    assert any(wrong in e for e in helm_errors(closed(chart_schema()), misspelt))
