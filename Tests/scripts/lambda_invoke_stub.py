#!/usr/bin/env python3
"""Stands in for `aws lambda invoke` in the replay tests: moto cannot run a function (it answers every invoke with
FunctionError=Handled, "error running docker"). Strict where the real call is: the function must exist
(STUB_FUNCTION), the invocation synchronous, the payload a file given as fileb:// in raw form, and the payload what the
awslogs handler accepts ({"awslogs":{"data": base64(gzip(JSON))}} with messageType, logGroup, logStream and
logEvents), or it fails as the handler would (FunctionError Unhandled, InvalidEvent). A log group whose name contains
"poison" fails delivery (DeliveryFailed). Every invocation is appended to STUB_LOG (one JSON line: function, payload).
Answers like the CLI: the response in the outfile, the metadata as JSON on stdout."""
import base64, gzip, json, os, sys


def main(argv):
    args = argv[argv.index("invoke") + 1:]
    opts, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and a not in ("--no-cli-pager",):
            if i + 1 >= len(args):
                return fail(f"{a} needs a value", 252)
            opts[a] = args[i + 1]
            i += 2
        else:
            rest.append(a)
            i += 1
    if len(rest) != 1:
        return fail("one outfile expected", 252)
    name = opts.get("--function-name", "")
    if name.split(":")[-1] != os.environ["STUB_FUNCTION"] and (":function:" not in name or name.split(":")[6] != os.environ["STUB_FUNCTION"]):
        return fail(f"An error occurred (ResourceNotFoundException) when calling the Invoke operation: Function not found: {name}", 254)
    if opts.get("--invocation-type", "RequestResponse") != "RequestResponse":
        return fail("the replay must invoke synchronously", 252)
    if opts.get("--cli-binary-format") != "raw-in-base64-out" or not opts.get("--payload", "").startswith("fileb://"):
        return fail("the payload must be a raw fileb:// file", 252)
    raw = open(opts["--payload"][len("fileb://"):], "rb").read()
    payload = json.loads(raw)
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(json.dumps({"function": name, "payload": payload}) + "\n")
    meta = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    try:
        decoded = json.loads(gzip.decompress(base64.b64decode(payload["awslogs"]["data"], validate=True)))
        assert decoded["messageType"] in ("DATA_MESSAGE", "CONTROL_MESSAGE")
        assert all(isinstance(decoded[k], str) for k in ("logGroup", "logStream")) and isinstance(decoded["logEvents"], list)
    except Exception as e:
        response = {"errorType": "Function.InvalidEvent", "errorMessage": f"not a CloudWatch Logs subscription event: {e}"}
        meta["FunctionError"] = "Unhandled"
    else:
        if "poison" in decoded["logGroup"]:
            response = {"errorType": "Function.DeliveryFailed", "errorMessage": "1 batch(es) not acknowledged"}
            meta["FunctionError"] = "Unhandled"
        else:
            response = {"handler": "awslogs", "logGroup": decoded["logGroup"], "events": len(decoded["logEvents"])}
    with open(rest[0], "w") as out:
        json.dump(response, out)
    print(json.dumps(meta))
    return 0


def fail(message, code):
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
