#!/usr/bin/env python3
"""Seeds and inspects moto_server for the script tests (one process instead of dozens of aws CLI calls)."""
import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]


def client(service, region="us-east-1", creds=None):
    kw = {"region_name": region, "endpoint_url": ENDPOINT}
    if creds:
        kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])
    return boto3.client(service, **kw)


def as_account(account):
    """Credentials that moto maps to another account (assume-role into it)."""
    sts = client("sts")
    return sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/apitap-test", RoleSessionName="apitap-test")["Credentials"]


def state(_args):
    """Buckets with their objects, StackSets with status, parameters and instances."""
    s3 = client("s3")
    out = {"buckets": {}, "stacksets": {}}
    for b in s3.list_buckets().get("Buckets", []):
        name = b["Name"]
        objs = s3.list_objects_v2(Bucket=name).get("Contents", [])
        out["buckets"][name] = {o["Key"]: {"etag": o["ETag"].strip('"'), "modified": o["LastModified"].isoformat()} for o in objs}
        try:
            out["buckets"][name + "#policy"] = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        except ClientError:
            pass
    cfn = client("cloudformation", os.environ.get("STACKSET_REGION", "us-east-1"))
    for ss in cfn.list_stack_sets().get("Summaries", []):
        if ss["Status"] == "DELETED":
            continue
        name = ss["StackSetName"]
        d = cfn.describe_stack_set(StackSetName=name)["StackSet"]
        inst = cfn.list_stack_instances(StackSetName=name).get("Summaries", [])
        ops = cfn.list_stack_set_operations(StackSetName=name).get("Summaries", [])
        out["stacksets"][name] = {
            "status": d["Status"],
            "permission_model": d.get("PermissionModel"),
            "parameters": {p["ParameterKey"]: p["ParameterValue"] for p in d.get("Parameters", [])},
            "instances": sorted(f'{i["Account"]}/{i["Region"]}/{i["Status"]}' for i in inst),
            "operations": len(ops),
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


def functions(args):
    """The functions in ACCOUNT and REGION, with their handler, runtime and environment variable names."""
    account, region = args
    lam = client("lambda", region, as_account(account) if account != "123456789012" else None)
    out = {}
    for f in lam.list_functions().get("Functions", []):
        out[f["FunctionName"]] = {"handler": f.get("Handler"), "runtime": f.get("Runtime"),
                                  "env": sorted((f.get("Environment") or {}).get("Variables", {}))}
    json.dump(out, sys.stdout, sort_keys=True)
    print()


def org_setup(_args):
    """An organization run by this account: OU workloads (3 accounts), OU other (1 account)."""
    org = client("organizations")
    o = org.create_organization(FeatureSet="ALL")["Organization"]
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {n: org.create_organizational_unit(ParentId=root, Name=n)["OrganizationalUnit"]["Id"] for n in ("workloads", "other")}
    accounts = {"workloads": [], "other": []}
    for ou, n in (("workloads", 3), ("other", 1)):
        for i in range(n):
            st = org.create_account(Email=f"{ou}{i}@example.com", AccountName=f"{ou}-{i}")["CreateAccountStatus"]
            acc = st["AccountId"]
            org.move_account(AccountId=acc, SourceParentId=root, DestinationParentId=ous[ou])
            accounts[ou].append(acc)
    json.dump({"org_id": o["Id"], "management": o["MasterAccountId"], "root": root, "ous": ous, "accounts": accounts}, sys.stdout)
    print()


def seed_buckets(args):
    """PREFIX REGION:KEY,KEY... -- buckets PREFIX-REGION holding the given (empty) objects."""
    prefix, specs = args[0], args[1:]
    for spec in specs:
        region, _, keys = spec.partition(":")
        s3 = client("s3", region)
        name = f"{prefix}-{region}"
        conf = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **conf)
        for key in filter(None, keys.split(",")):
            s3.put_object(Bucket=name, Key=key, Body=b"x")


if __name__ == "__main__":
    {"state": state, "functions": functions, "org-setup": org_setup, "seed-buckets": seed_buckets}[sys.argv[1]](sys.argv[2:])
