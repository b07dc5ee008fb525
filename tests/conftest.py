from pathlib import Path

import pytest

from recipe_schema.recipe import PROJECT_ROOT, load_recipe

SMALL_RECIPE = PROJECT_ROOT / "recipes" / "small.yaml"
FULL_RECIPE = PROJECT_ROOT / "recipes" / "full.yaml"


@pytest.fixture
def small_recipe():
    return load_recipe(SMALL_RECIPE)


@pytest.fixture
def write_recipe(tmp_path):
    """Writes a recipe YAML (the small one with overrides applied) and returns its path."""
    import yaml

    def write(overrides: dict | None = None, *, drop: tuple[str, ...] = ()) -> Path:
        data = yaml.safe_load(SMALL_RECIPE.read_text())
        for dotted in drop:
            *parents, last = dotted.split(".")
            node = data
            for p in parents:
                node = node[p]
            del node[last]
        path = tmp_path / "recipe.yaml"
        merged = _merge(data, overrides or {})
        path.write_text(yaml.safe_dump(merged))
        return path

    return write


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture
def s3_server(monkeypatch):
    """A local S3-compatible server (moto) on 127.0.0.1 with a fresh bucket; boto3 clients in this
    process and in workload subprocesses find it through the environment."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    import urllib.request

    import boto3

    # moto keeps its state per process, across servers: start every test from an empty store.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    boto3.client("s3").create_bucket(Bucket="study-test")
    yield {"endpoint": endpoint, "bucket": "study-test"}
    server.stop()
