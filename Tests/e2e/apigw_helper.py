#!/usr/bin/env python3
"""API Gateway fixtures for the enable-logging tests, through boto3 against AWS_ENDPOINT_URL (moto or ministack).

  seed-rest                REST APIs with stages in known logging states; prints {"name": "apiId/stage", ...}
  rest-stages              prints {"apiId/stage": {"loggingLevel": ..., "dataTrace": ...}} for every REST stage
  seed-http                an HTTP API with a stage without access logs; prints {"apiId": ..., "stage": ...}
  http-stage API STAGE     prints the stage's accessLogSettings (or null)
  account                  prints the API Gateway account's cloudwatchRoleArn (or null)
  add-rest NAME STAGE...   a REST API created later, with stages as created; prints {"name:stage": "apiId/stage"}
  set-level API/STAGE LEVEL TRACE   someone else's change to a stage's execution logging
  filters                  prints {"log group": {"filter name": "destination ARN"}} for every log group with a filter
  mirror-function NAME     a function of that name in moto, which checks that a subscription filter's Lambda
                           destination exists (by name) but cannot hold the function ministack runs
  awslogs-event GROUP      prints the CloudWatch Logs subscription event ({"awslogs":{"data": base64(gzip(JSON))}})
                           that would push GROUP's events of its busiest stream
"""
import base64, gzip, io, json, os, sys, zipfile

import boto3


def client(name):
    return boto3.client(name, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))


def rest_api(ag, name, stages):
    """stages: {stage name: [patch operations]} (empty list: the stage as created, no method settings)."""
    api = ag.create_rest_api(name=name)["id"]
    root = ag.get_resources(restApiId=api)["items"][0]["id"]
    ag.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    ag.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = ag.create_deployment(restApiId=api)["id"]
    out = {}
    for stage, ops in stages.items():
        ag.create_stage(restApiId=api, stageName=stage, deploymentId=deployment)
        if ops:
            ag.update_stage(restApiId=api, stageName=stage, patchOperations=ops)
        out[f"{name}:{stage}"] = f"{api}/{stage}"
    return out


def level(value, trace):
    return [{"op": "replace", "path": "/*/*/logging/loglevel", "value": value},
            {"op": "replace", "path": "/*/*/logging/dataTrace", "value": trace}]


def main():
    cmd = sys.argv[1]
    if cmd == "seed-rest":
        ag = client("apigateway")
        out = {}
        out.update(rest_api(ag, "orders", {"prod": [], "dev": level("OFF", "false")}))
        out.update(rest_api(ag, "billing", {"live": level("INFO", "true"), "errors": level("ERROR", "false")}))
        print(json.dumps(out))
    elif cmd == "rest-stages":
        ag = client("apigateway")
        out = {}
        for api in ag.get_rest_apis()["items"]:
            for s in ag.get_stages(restApiId=api["id"])["item"]:
                ms = (s.get("methodSettings") or {}).get("*/*") or {}
                out[f"{api['id']}/{s['stageName']}"] = {"loggingLevel": ms.get("loggingLevel"), "dataTrace": ms.get("dataTraceEnabled")}
        print(json.dumps(out, sort_keys=True))
    elif cmd == "seed-http":
        v2 = client("apigatewayv2")
        api = v2.create_api(Name="catalog-http", ProtocolType="HTTP")["ApiId"]
        v2.create_stage(ApiId=api, StageName="prod")
        print(json.dumps({"apiId": api, "stage": "prod"}))
    elif cmd == "http-stage":
        v2 = client("apigatewayv2")
        s = v2.get_stage(ApiId=sys.argv[2], StageName=sys.argv[3])
        print(json.dumps(s.get("AccessLogSettings")))
    elif cmd == "add-rest":
        print(json.dumps(rest_api(client("apigateway"), sys.argv[2], {s: [] for s in sys.argv[3:]})))
    elif cmd == "set-level":
        api, stage = sys.argv[2].split("/", 1)
        client("apigateway").update_stage(restApiId=api, stageName=stage, patchOperations=level(sys.argv[3], sys.argv[4]))
    elif cmd == "filters":
        logs = client("logs")
        out = {}
        for g in logs.describe_log_groups()["logGroups"]:
            found = logs.describe_subscription_filters(logGroupName=g["logGroupName"])["subscriptionFilters"]
            if found:
                out[g["logGroupName"]] = {f["filterName"]: f["destinationArn"] for f in found}
        print(json.dumps(out, sort_keys=True))
    elif cmd == "mirror-function":
        iam, fn = client("iam"), client("lambda")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName=sys.argv[2] + "-mirror", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
        print(fn.create_function(FunctionName=sys.argv[2], Runtime="provided.al2023", Handler="awslogs", Role=role,
                                 Code={"ZipFile": code.getvalue()})["FunctionArn"])
    elif cmd == "awslogs-event":
        group = sys.argv[2]
        events = client("logs").filter_log_events(logGroupName=group, interleaved=True)["events"]
        streams = {}
        for e in events:
            streams.setdefault(e["logStreamName"], []).append({"id": e["eventId"], "timestamp": e["timestamp"], "message": e["message"]})
        stream = max(streams, key=lambda k: len(streams[k]))
        message = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group, "logStream": stream,
                   "subscriptionFilters": ["apitap-awslogs"], "logEvents": streams[stream]}
        print(json.dumps({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()}}))
    elif cmd == "account":
        print(json.dumps(client("apigateway").get_account().get("cloudwatchRoleArn")))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
