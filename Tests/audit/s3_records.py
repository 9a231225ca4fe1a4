#!/usr/bin/env python3
"""Writes every record of the audit S3 sink's objects under s3://BUCKET/PREFIX/ as NDJSON on stdout (the objects
are gzip NDJSON), after checking each object's name against the sink's scheme. Exits 1 on a misnamed object.

  s3_records.py ENDPOINT BUCKET PREFIX
"""
import gzip
import re
import sys

import boto3

endpoint, bucket, prefix = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
name = re.compile(re.escape(prefix) + r"/[^/]+/\d{4}/\d{2}/\d{2}/\d{2}/(entry|alert)-\d+-[0-9a-f]+\.ndjson\.gz$")
count = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for obj in page.get("Contents", []):
        if not name.match(obj["Key"]):
            print(f"object named outside the scheme: {obj['Key']}", file=sys.stderr)
            sys.exit(1)
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        sys.stdout.buffer.write(body if body.endswith(b"\n") else body + b"\n")
        count += 1
print(f"{count} objects", file=sys.stderr)
