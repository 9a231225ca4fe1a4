#!/usr/bin/env python3
"""Writes Lambda asynchronous-invocation failure records (what an on-failure destination receives: version,
timestamp, requestContext, requestPayload, responseContext, responsePayload) for the replay tests.
Usage: failure_records.py FUNCTION-ARN LOG-GROUP [EVENTS]  → one record on stdout, its requestPayload the
CloudWatch Logs subscription event {"awslogs":{"data": base64(gzip(JSON))}} of EVENTS lines (default 2)."""
import base64, gzip, json, sys, time, uuid

arn, group = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 2
now = int(time.time() * 1000)
message = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group, "logStream": "abc123",
           "subscriptionFilters": ["apitap-awslogs"],
           "logEvents": [{"id": str(36000000000000000000000000000000000000000000000000000000 + i), "timestamp": now + i,
                          "message": f"(req-{i}) Method request path: {{}}"} for i in range(count)]}
data = base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()
record = {"version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
          "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": arn + ":$LATEST", "condition": "RetriesExhausted",
                             "approximateInvokeCount": 3},
          "requestPayload": {"awslogs": {"data": data}},
          "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
          "responsePayload": {"errorType": "Function.DeliveryFailed", "errorMessage": "1 batch(es) not acknowledged: UAP 503"}}
print(json.dumps(record))
