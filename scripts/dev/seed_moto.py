#!/usr/bin/env python3
"""Seeds a moto_server with what a real account would have for apitap's tick: a REST API whose stage logs at INFO
with full data, an HTTP API whose stage writes JSON access logs, a second HTTP API with a non-JSON format (which the
tick must report, not ignore), and their CloudWatch log groups filled with the sample events in events/sample-logs/
moved to the last minutes. Prints the created ids as JSON.

Usage: seed_moto.py --endpoint http://127.0.0.1:PORT [--region us-east-1] [--end-ms EPOCH_MS] [--copies N]
"""
import argparse, json, os, re, sys, time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name):
    with open(os.path.join(ROOT, "events", "sample-logs", name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def put(logs, group, events, end_ms):
    """Writes events stream by stream, in time order, moved so that the newest lands at end_ms."""
    newest = max(e["timestamp"] for e in events)
    by_stream = {}
    for e in events:
        by_stream.setdefault(e["logStreamName"], []).append(e)
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    for stream, items in by_stream.items():
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        items.sort(key=lambda e: e["timestamp"])
        batch = [{"timestamp": e["timestamp"] - newest + end_ms, "message": e["message"]} for e in items]
        for i in range(0, len(batch), 5000):
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch[i:i + 5000])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--end-ms", type=int, default=int(time.time() * 1000) - 30_000)
    p.add_argument("--copies", type=int, default=1, help="repeat the REST sample in this many streams (more events)")
    p.add_argument("--stages", default="prod", help="comma-separated REST stages, each logging to its own group")
    a = p.parse_args()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region, aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    ag, v2, logs = boto3.client("apigateway", **kw), boto3.client("apigatewayv2", **kw), boto3.client("logs", **kw)

    rest = ag.create_rest_api(name="orders-api")["id"]
    root = ag.get_resources(restApiId=rest)["items"][0]["id"]
    ag.put_method(restApiId=rest, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    ag.put_integration(restApiId=rest, resourceId=root, httpMethod="ANY", type="MOCK")
    sample = load("rest-execution.ndjson")
    rest_groups, total = [], 0
    for stage in a.stages.split(","):
        ag.create_deployment(restApiId=rest, stageName=stage)
        ag.update_stage(restApiId=rest, stageName=stage, patchOperations=[
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
            {"op": "replace", "path": "/*/*/logging/dataTrace", "value": "true"}])
        group = f"API-Gateway-Execution-Logs_{rest}/{stage}"
        events = []
        several = a.copies > 1 or "," in a.stages
        for c in range(a.copies):
            for e in sample:
                e2 = dict(e)
                e2["logStreamName"] = f"{e['logStreamName']}-{c}" if a.copies > 1 else e["logStreamName"]
                if several:
                    # API Gateway never repeats an extended request id; copies of the sample must not either.
                    e2["message"] = re.sub(r"(Extended Request Id: )(\S+)", rf"\g<1>\g<2>-{stage}{c}", e["message"])
                events.append(e2)
        put(logs, group, events, a.end_ms)
        rest_groups.append(group)
        total += len(events)
    rest_group = rest_groups[0]
    events = [None] * total

    http = v2.create_api(Name="pets-api", ProtocolType="HTTP")["ApiId"]
    http_group = f"/aws/vendedlogs/apigateway/{http}/access"
    fmt = json.dumps({"requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
                      "httpMethod": "$context.httpMethod", "routeKey": "$context.routeKey", "status": "$context.status",
                      "protocol": "$context.protocol", "responseLength": "$context.responseLength"})
    v2.create_stage(ApiId=http, StageName="$default", AccessLogSettings={
        "DestinationArn": f"arn:aws:logs:{a.region}:123456789012:log-group:{http_group}", "Format": fmt})
    put(logs, http_group, load("http-access.ndjson"), a.end_ms)

    clf = v2.create_api(Name="legacy-api", ProtocolType="HTTP")["ApiId"]
    v2.create_stage(ApiId=clf, StageName="live", AccessLogSettings={
        "DestinationArn": f"arn:aws:logs:{a.region}:123456789012:log-group:/aws/legacy/{clf}",
        "Format": "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.routeKey $context.protocol\" $context.status"})

    print(json.dumps({"restApiId": rest, "restLogGroup": rest_group, "restLogGroups": rest_groups, "httpApiId": http,
                      "httpLogGroup": http_group, "clfApiId": clf, "restEvents": len(events)}))


if __name__ == "__main__":
    sys.exit(main())
