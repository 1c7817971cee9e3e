"""An S3-compatible server for tests, and the AWS environment that points clients at it.

The server is moto's: the one at ``SHIPYARD_TEST_S3_ENDPOINT`` when set (.ci/run starts one
with scripts/start-s3.sh), else a ``ThreadedMotoServer`` started here on 127.0.0.1. Clients
find it through the standard AWS variables (``AWS_ENDPOINT_URL_S3`` and friends), which
botocore, and so s3fs, reads; they are set in ``os.environ`` itself, so subprocesses and Dask
workers started while it runs inherit them and reach the same server.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

ENDPOINT_ENV = "SHIPYARD_TEST_S3_ENDPOINT"
# Credentials for a server started elsewhere that checks them (MinIO); moto accepts any.
KEY_ENV = "SHIPYARD_TEST_S3_KEY"
SECRET_ENV = "SHIPYARD_TEST_S3_SECRET"

# Variables that would send a test's requests elsewhere or with other credentials: the
# developer's profile, session token, config files and endpoint opt-out are hidden meanwhile.
_HIDDEN = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


@dataclass(frozen=True)
class S3Service:
    """A running server and a bucket of this session's own on it."""

    endpoint: str
    bucket: str
    env: dict[str, str]  # the AWS variables a client process needs to reach it

    def new_url(self) -> str:
        """An ``s3://`` URL under a prefix nobody has used."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}"


def missing_libraries() -> list[str]:
    """What this process lacks to reach (or to start) the server."""
    needed = ["s3fs"] if os.environ.get(ENDPOINT_ENV) else ["s3fs", "moto"]
    return [name for name in needed if importlib.util.find_spec(name) is None]


def client_env(endpoint: str) -> dict[str, str]:
    """The AWS variables that point botocore (s3fs, pyarrow, DuckDB...) at ``endpoint``."""
    return {
        "AWS_ACCESS_KEY_ID": os.environ.get(KEY_ENV, "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get(SECRET_ENV, "testing"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextmanager
def aws_environment(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` (children inherit it); restore what was there after."""
    names = [*env, *_HIDDEN]
    saved = {name: os.environ.get(name) for name in names}
    for name in _HIDDEN:
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a thread of this process, on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def s3_service() -> Iterator[S3Service]:
    """The server (started here unless ``SHIPYARD_TEST_S3_ENDPOINT`` names one), the AWS
    variables set for this process and its children, and a fresh bucket, removed after."""
    with _endpoint() as endpoint:
        env = client_env(endpoint)
        with aws_environment(env):
            import s3fs

            # A file system of its own: the tests' stores share fsspec's cached instances.
            fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
            bucket = f"shipyard-test-{uuid.uuid4().hex[:12]}"
            fs.mkdir(bucket)
            try:
                yield S3Service(endpoint, bucket, env)
            finally:
                fs.rm(bucket, recursive=True)


@contextmanager
def _endpoint() -> Iterator[str]:
    given = os.environ.get(ENDPOINT_ENV)
    if given:
        yield given.rstrip("/")
    else:
        with moto_server() as endpoint:
            yield endpoint
