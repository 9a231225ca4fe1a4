#!/usr/bin/env bash
# Replays failed asynchronous invocations of one apitap function (a subscription push to awslogs, a tick, an API
# refresh) from its on-failure destination: an SQS queue, or an S3 bucket (prefix). Each record is Lambda's
# invocation record; its requestPayload (for awslogs the original {"awslogs":{"data":...}} event) is invoked again,
# synchronously, and the message or object is deleted only after that invocation succeeded. Records of other
# functions are left where they are. --dry-run lists and changes nothing.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") --function NAME|ARN (--queue-url URL | --bucket NAME|ARN [--prefix PREFIX])
                        [--region REGION] [--dry-run] [--max N]
  --function   the function whose failed invocations are replayed (e.g. apitap-awslogs-us-east-1); records of
               other functions in the same destination are left alone
  --queue-url  the on-failure SQS queue (stack output FailureQueueUrl)
  --bucket     the on-failure S3 bucket; --prefix narrows the keys read (default: the whole bucket)
  --region     the region of the function and the destination (default: the aws CLI's)
  --dry-run    list the records (time, error, log group and event count of an awslogs push); change nothing
  --max N      stop after N records (default 1000)
Exit code: 0 when every matching record was replayed (or listed), 1 when some could not be, 2 on bad arguments.
EOF
}

FUNCTION="" QUEUE_URL="" BUCKET="" PREFIX="" REGION="" DRY_RUN=false MAX=1000
REGION_ARGS=()
REPLAYED=0 FAILED=0 SKIPPED=0 LISTED=0

parse_args() {
  local v
  while (($#)); do
    case $1 in
      --function | --queue-url | --bucket | --prefix | --region | --max)
        (($# >= 2)) || { usage; die "$1 needs a value"; }
        v=$2
        case $1 in
          --function) FUNCTION=$v ;;
          --queue-url) QUEUE_URL=$v ;;
          --bucket) BUCKET=$v ;;
          --prefix) PREFIX=$v ;;
          --region) REGION=$v ;;
          --max) MAX=$v ;;
        esac
        shift 2
        ;;
      --dry-run)
        DRY_RUN=true
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage
        log "error: unknown argument '$1'"
        exit 2
        ;;
    esac
  done
  local bad=()
  [[ $FUNCTION =~ ^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}$ ]] ||
    bad+=("--function must be a function name or ARN (got '${FUNCTION:0:80}')")
  if [[ -n $QUEUE_URL && -n $BUCKET ]] || [[ -z $QUEUE_URL && -z $BUCKET ]]; then
    bad+=("give exactly one of --queue-url and --bucket")
  fi
  [[ -z $QUEUE_URL || $QUEUE_URL =~ ^https?://[A-Za-z0-9.:-]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}$ ]] ||
    bad+=("--queue-url must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/apitap-tick-failures-us-east-1 (got '${QUEUE_URL:0:120}')")
  BUCKET=${BUCKET#arn:aws:s3:::}
  BUCKET=${BUCKET#arn:aws-cn:s3:::}
  BUCKET=${BUCKET#arn:aws-us-gov:s3:::}
  [[ -z $BUCKET || $BUCKET =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || bad+=("--bucket must be a bucket name or ARN (got '${BUCKET:0:80}')")
  [[ -z $PREFIX || -n $BUCKET ]] || bad+=("--prefix goes with --bucket")
  [[ ${#PREFIX} -le 1024 && $PREFIX != *[[:cntrl:]]* ]] || bad+=("--prefix is not an S3 key prefix")
  [[ -z $REGION || $REGION =~ $REGION_RE ]] || bad+=("--region: '$REGION' is not a region name")
  [[ $MAX =~ ^[1-9][0-9]{0,5}$ ]] || bad+=("--max must be a number from 1 to 999999 (got '$MAX')")
  if ((${#bad[@]})); then
    usage
    printf 'error: %s\n' "${bad[@]}" >&2
    exit 2
  fi
  [[ -z $REGION ]] || REGION_ARGS=(--region "$REGION")
}

# The function name of an ARN or name, without a version or alias qualifier.
function_name() {
  local n=$1 parts=()
  if [[ $n == arn:* ]]; then
    IFS=: read -r -a parts <<<"$n"
    n=${parts[6]:-}
  fi
  printf '%s' "$n"
}

# describe_record FILE: one line on an invocation record, for the listing and the messages.
describe_record() {
  local what
  what=$(jq -r '[.timestamp // "?", (.requestContext.condition // "?"), (.responseContext.functionError // ""),
                 ((.responsePayload.errorMessage? // "") | tostring | .[0:120])] | @tsv' "$1" 2>/dev/null || echo "?")
  # An awslogs push: which log group and how many events (the payload is base64 of gzip of JSON).
  local data payload=""
  data=$(jq -r '.requestPayload.awslogs.data // empty' "$1" 2>/dev/null || true)
  if [[ -n $data ]]; then
    payload=$(printf '%s' "$data" | base64 -d 2>/dev/null | gzip -dc 2>/dev/null |
      jq -r '"log group \(.logGroup), \(.logEvents | length) event(s)"' 2>/dev/null || echo "undecodable awslogs payload")
  fi
  printf '%s\t%s' "$what" "${payload:-event}"
}

# check_record FILE: true when FILE is an invocation record of our function with a request payload.
# Sets RECORD_FUNCTION (the record's function name) for the messages.
RECORD_FUNCTION=""
check_record() {
  local arn
  if ! jq -e 'type == "object" and has("requestPayload") and (.requestContext.functionArn | type) == "string"' "$1" >/dev/null 2>&1; then
    RECORD_FUNCTION=""
    return 1
  fi
  arn=$(jq -r '.requestContext.functionArn' "$1")
  RECORD_FUNCTION=$(function_name "$arn")
  [[ $RECORD_FUNCTION == "$(function_name "$FUNCTION")" ]]
}

# invoke_payload FILE: invokes the function with the record's requestPayload, synchronously. True only for a
# StatusCode 200 without FunctionError (a handled error or one the runtime reported is a failure).
invoke_payload() {
  local record=$1 payload="$WORK_DIR/payload.json" out="$WORK_DIR/response.json" meta
  jq -c '.requestPayload' "$record" >"$payload"
  rm -f -- "$out"
  if ! meta=$(aws "${REGION_ARGS[@]}" lambda invoke --function-name "$FUNCTION" --invocation-type RequestResponse \
    --cli-binary-format raw-in-base64-out --payload "fileb://$payload" --output json "$out" 2>&1); then
    INVOKE_ERROR=$(printf '%s' "$meta" | tr -s '\n' ' ' | cut -c1-200)
    return 1
  fi
  if jq -e '.StatusCode == 200 and ((.FunctionError // "") == "")' >/dev/null 2>&1 <<<"$meta"; then
    return 0
  fi
  INVOKE_ERROR="$(jq -r '"status \(.StatusCode // "?") \(.FunctionError // "")"' <<<"$meta" 2>/dev/null || echo "$meta"): $(head -c 200 "$out" 2>/dev/null || true)"
  return 1
}
INVOKE_ERROR=""

# handle_record FILE LABEL: lists or replays one record; returns 0 when it may be deleted.
handle_record() {
  local file=$1 label=$2
  if ! check_record "$file"; then
    SKIPPED=$((SKIPPED + 1))
    if [[ -n $RECORD_FUNCTION ]]; then
      info "$label: a record of $RECORD_FUNCTION, not $(function_name "$FUNCTION"): left in place"
    else
      info "$label: not a Lambda invocation record: left in place"
    fi
    return 1
  fi
  if $DRY_RUN; then
    LISTED=$((LISTED + 1))
    printf '%s\t%s\n' "$label" "$(describe_record "$file")"
    return 1
  fi
  if invoke_payload "$file"; then
    REPLAYED=$((REPLAYED + 1))
    info "$label: replayed ($(describe_record "$file" | cut -f5))"
    return 0
  fi
  FAILED=$((FAILED + 1))
  warn "$label: the invocation failed, the record is kept: $INVOKE_ERROR"
  return 1
}

# ---------------------------------------------------------------- SQS
replay_queue() {
  local batch n i body id receipt seen=" " count=0 fresh
  while ((count < MAX)); do
    # Received messages stay invisible for 5 minutes while they are handled; one handled already ends the run.
    batch=$(aws "${REGION_ARGS[@]}" sqs receive-message --queue-url "$QUEUE_URL" --max-number-of-messages 10 \
      --visibility-timeout 300 --wait-time-seconds 1 --output json) || die "cannot receive from $QUEUE_URL"
    [[ -n $batch ]] || break
    n=$(jq '.Messages // [] | length' <<<"$batch")
    ((n > 0)) || break
    fresh=0
    for ((i = 0; i < n && count < MAX; i++)); do
      id=$(jq -r ".Messages[$i].MessageId" <<<"$batch")
      receipt=$(jq -r ".Messages[$i].ReceiptHandle" <<<"$batch")
      if [[ $seen == *" $id "* ]]; then
        # Handled already in this run and received again: visible again at once, for whoever reads next.
        aws "${REGION_ARGS[@]}" sqs change-message-visibility --queue-url "$QUEUE_URL" --receipt-handle "$receipt" \
          --visibility-timeout 0 2>/dev/null || true
        continue
      fi
      seen+="$id "
      fresh=$((fresh + 1))
      count=$((count + 1))
      body="$WORK_DIR/message.json"
      jq -r ".Messages[$i].Body" <<<"$batch" >"$body"
      if handle_record "$body" "message $id"; then
        aws "${REGION_ARGS[@]}" sqs delete-message --queue-url "$QUEUE_URL" --receipt-handle "$receipt" ||
          warn "message $id was replayed but could not be deleted: it will be replayed again next time"
      elif $DRY_RUN || [[ -z $RECORD_FUNCTION ]] || [[ $RECORD_FUNCTION != "$(function_name "$FUNCTION")" ]]; then
        # Listed or not ours: visible again at once for whoever reads the queue next.
        aws "${REGION_ARGS[@]}" sqs change-message-visibility --queue-url "$QUEUE_URL" --receipt-handle "$receipt" \
          --visibility-timeout 0 2>/dev/null || true
      fi
    done
    ((fresh > 0)) || break
  done
}

# ---------------------------------------------------------------- S3
replay_bucket() {
  local keys key count=0 file="$WORK_DIR/object.json"
  keys=$(aws "${REGION_ARGS[@]}" s3api list-objects-v2 --bucket "$BUCKET" --prefix "$PREFIX" --query 'Contents[].Key' \
    --output json) || die "cannot list s3://$BUCKET/$PREFIX"
  while IFS= read -r key; do
    [[ -n $key ]] || continue
    ((count < MAX)) || break
    count=$((count + 1))
    rm -f -- "$file"
    if ! aws "${REGION_ARGS[@]}" s3api get-object --bucket "$BUCKET" --key "$key" "$file" >/dev/null; then
      FAILED=$((FAILED + 1))
      warn "s3://$BUCKET/$key could not be read"
      continue
    fi
    if handle_record "$file" "s3://$BUCKET/$key"; then
      aws "${REGION_ARGS[@]}" s3api delete-object --bucket "$BUCKET" --key "$key" >/dev/null ||
        warn "s3://$BUCKET/$key was replayed but could not be deleted: it will be replayed again next time"
    fi
  done < <(jq -r '(. // [])[]' <<<"${keys:-null}")
  ((count < MAX)) || info "stopped after --max $MAX record(s)"
}

main() {
  parse_args "$@"
  command -v aws >/dev/null 2>&1 || die "the aws CLI is not installed or not on PATH"
  command -v jq >/dev/null 2>&1 || die "jq is not installed"
  make_work_dir
  if [[ -n $QUEUE_URL ]]; then replay_queue; else replay_bucket; fi
  if $DRY_RUN; then
    info "$LISTED record(s) of $(function_name "$FUNCTION") listed, $SKIPPED left alone (other functions or not records); nothing changed"
  else
    info "$REPLAYED replayed and deleted, $FAILED failed and kept, $SKIPPED left alone (other functions or not records)"
  fi
  ((FAILED == 0))
}

main "$@"
