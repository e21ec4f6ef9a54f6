"""The local stack's S3 stand-in: moto's server with the executors' bucket already made.

S3_BIND / S3_PORT: where it listens; S3_BUCKET: the bucket to create (the executors'
S3_BUCKET_NAME). Runs until SIGTERM.
"""

import os
import signal

import boto3
from moto.server import ThreadedMotoServer

host = os.environ.get("S3_BIND", "0.0.0.0")
port = int(os.environ.get("S3_PORT", "5000"))
bucket = os.environ.get("S3_BUCKET", "dynamic-executor-local")

server = ThreadedMotoServer(ip_address=host, port=port)
server.start()
boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    region_name="us-east-1",
    aws_access_key_id="local",
    aws_secret_access_key="local",
).create_bucket(Bucket=bucket)
print(f"s3: listening on {host}:{port}, bucket {bucket}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: (server.stop(), os._exit(0)))
while True:
    signal.pause()
