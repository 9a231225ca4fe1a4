# shellcheck shell=bash disable=SC2034,SC2153  # globals here are read by the scripts that source this file
# aws CLI steps shared by the scripts: artifact buckets and uploads, StackSet operations, waits, tables.

# Waiting and retrying; the environment may shorten these (the tests do).
RETRY_SLEEP=${APITAP_RETRY_SLEEP:-30}
RETRY_MAX=${APITAP_RETRY_MAX:-40}
POLL_SECONDS=${APITAP_POLL_SECONDS:-10}

ARTIFACT_PREFIX=apitap
bucket_name() { printf '%s-%s' "$BUCKET_PREFIX" "$1"; }

# ---------------------------------------------------------------- buckets
bucket_exists() { aws s3api head-bucket --bucket "$1" --expected-bucket-owner "$ACCOUNT_ID" --region "$2" >/dev/null 2>&1; }

ensure_bucket() {
  local region=$1 b
  b=$(bucket_name "$region")
  [[ ${BUCKET_STATE[$region]:-} == exists ]] && return 0
  if [[ -z ${BUCKET_STATE[$region]:-} ]] && bucket_exists "$b" "$region"; then
    BUCKET_STATE["$region"]=exists
    return 0
  fi
  is_true MANAGE_BUCKETS true || die "bucket $b does not exist in $region and MANAGE_BUCKETS=false"
  info "creating bucket $b in $region"
  if [[ $region == us-east-1 ]]; then
    aws s3api create-bucket --bucket "$b" --region "$region" >/dev/null
  else
    aws s3api create-bucket --bucket "$b" --region "$region" --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  # New buckets already default to SSE-S3 encryption and BucketOwnerEnforced (objects the target accounts
  # write belong to this account); the public access block is set explicitly all the same.
  aws s3api put-public-access-block --bucket "$b" --region "$region" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  BUCKET_STATE["$region"]=exists
}

# The policy that lets the target accounts read the code and the API list and keep their own state
# under state/<their account id>/. Only written on buckets the scripts manage.
bucket_policy_json() {
  local b=$1 tls_only=true
  # Against a local plain-http endpoint (moto in the tests) a TLS-only policy would lock the scripts out.
  [[ ${AWS_ENDPOINT_URL:-} == http://* ]] && tls_only=false
  # shellcheck disable=SC2016  # jq variables, not shell ones
  jq -n -S --arg b "$b" --arg prefix "$ARTIFACT_PREFIX" --arg org "$(cfg ORGANIZATION_ID)" --argjson use_org "$ORG" --argjson tls_only "$tls_only" \
    --argjson accounts "$(printf '%s\n' "${TARGET_ACCOUNTS[@]}" | jq -R 'select(. != "")' | jq -s -c .)" '
    ("arn:aws:s3:::" + $b) as $bucket |
    ("state/${aws:PrincipalAccount}/*") as $own |
    (if $use_org then {Principal: "*", Condition: {StringEquals: {"aws:PrincipalOrgID": $org}}}
     else {Principal: {AWS: ($accounts | map("arn:aws:iam::" + . + ":root"))}} end) as $who |
    {Version: "2012-10-17", Statement: [
      (if $tls_only then {Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*",
       Resource: [$bucket, ($bucket + "/*")], Condition: {Bool: {"aws:SecureTransport": "false"}}} else empty end),
      ($who + {Sid: "TargetsReadArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: ($bucket + "/" + $prefix + "/*")}),
      ($who + {Sid: "TargetsOwnState", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: ($bucket + "/" + $own)}),
      ($who + {Sid: "TargetsListOwnState", Effect: "Allow", Action: "s3:ListBucket", Resource: $bucket,
               Condition: (($who.Condition // {}) + {StringLike: {"s3:prefix": $own}})})
    ]}'
}

ensure_bucket_policy() {
  local region=$1 b want have
  is_true MANAGE_BUCKETS true || return 0
  b=$(bucket_name "$region")
  want=$(bucket_policy_json "$b")
  have=$(aws s3api get-bucket-policy --bucket "$b" --region "$region" --query Policy --output text 2>/dev/null | jq -S . 2>/dev/null || true)
  [[ $want == "$have" ]] && return 0
  info "setting the bucket policy of $b (target accounts may read $ARTIFACT_PREFIX/* and keep state/<account>/)"
  aws s3api put-bucket-policy --bucket "$b" --region "$region" --policy "$want"
}

# upload_if_changed FILE BUCKET KEY REGION: single-part upload, so the ETag is the MD5 and a re-run can skip it.
# The ETags come from one listing per bucket (ETAGS, filled by list_etags).
declare -gA ETAGS=()
list_etags() {
  local b=$1 region=$2 key etag
  while IFS=$'\t' read -r key etag; do
    [[ -n $key ]] && ETAGS["$b/$key"]=${etag//\"/}
  done < <(aws s3api list-objects-v2 --bucket "$b" --prefix "$ARTIFACT_PREFIX/" --region "$region" --output json |
    jq -r '.Contents[]? | [.Key, .ETag] | @tsv')
}

upload_if_changed() {
  local file=$1 b=$2 key=$3 region=$4 md5
  md5=$(md5sum "$file" | cut -d' ' -f1)
  if [[ ${ETAGS["$b/$key"]:-} == "$md5" ]]; then
    log "    s3://$b/$key is up to date"
    return 0
  fi
  log "    uploading s3://$b/$key"
  aws s3api put-object --bucket "$b" --key "$key" --body "$file" --region "$region" >/dev/null
}

# The code key carries the zip's hash, so a new build changes a parameter and CloudFormation updates the functions.
code_key() {
  local h
  h=$(md5sum "$PACKAGE_ZIP" | cut -c1-12)
  printf '%s/apitap-%s.zip' "$ARTIFACT_PREFIX" "$h"
}
TEMPLATE_KEY="$ARTIFACT_PREFIX/apitap.json"
API_LIST_KEY="$ARTIFACT_PREFIX/api-list.json"

upload_artifacts() {
  local region=$1 b
  b=$(bucket_name "$region")
  list_etags "$b" "$region"
  upload_if_changed "$PACKAGE_ZIP" "$b" "$(code_key)" "$region"
  upload_if_changed "$TEMPLATE_FILE" "$b" "$TEMPLATE_KEY" "$region"
  if [[ -n $API_LIST_FILE ]]; then
    upload_if_changed "$API_LIST_FILE" "$b" "$API_LIST_KEY" "$region"
  fi
}

template_url() {
  local b
  b=$(bucket_name "$1")
  if [[ $1 == us-east-1 ]]; then
    printf 'https://%s.s3.amazonaws.com/%s' "$b" "$TEMPLATE_KEY"
  else
    printf 'https://%s.s3.%s.amazonaws.com/%s' "$b" "$1" "$TEMPLATE_KEY"
  fi
}

# ---------------------------------------------------------------- template parameters
# stack_parameters_json: the template's parameters from the .env (JSON list for --parameters).
stack_parameters_json() {
  local api_list_key=""
  if ! is_true API_AUTO_DISCOVERY true; then api_list_key=$API_LIST_KEY; fi
  # The secret reaches jq through its environment, never its command line (which ps shows to every user).
  APITAP_UAP_CLIENT_SECRET=$(cfg UAP_CLIENT_SECRET) jq -n \
    --arg NamePrefix "$(cfg NAME_PREFIX apitap)" \
    --arg ArtifactBucketPrefix "$BUCKET_PREFIX" \
    --arg CodeKey "$(code_key)" \
    --arg ApiListKey "$api_list_key" \
    --arg EnableRestApis "$(cfg ENABLE_REST_APIS true)" \
    --arg EnableHttpApis "$(cfg ENABLE_HTTP_APIS true)" \
    --arg ApiAutoDiscovery "$(cfg API_AUTO_DISCOVERY true)" \
    --arg ApiListCacheSeconds "$(cfg API_LIST_CACHE_SECONDS 300)" \
    --arg LogLevel "$(cfg LOG_LEVEL INFO | tr '[:lower:]' '[:upper:]')" \
    --arg UapClientSecretArn "$(cfg UAP_CLIENT_SECRET_ARN)" \
    --arg ReservedConcurrency "$(cfg RESERVED_CONCURRENCY 1)" \
    --arg Tracing "$(cfg TRACING PassThrough)" \
    --arg AlarmTopicArn "$(cfg ALARM_TOPIC_ARN)" \
    --arg ContentTypeRegex "$(cfg CONTENT_TYPE_REGEX)" \
    --arg ExcludedExtensionsRegex "$(cfg EXCLUDED_EXTENSIONS_REGEX)" \
    --arg UapAuthEnabled "$(cfg UAP_AUTH_ENABLED true)" \
    --arg UapClientId "$(cfg UAP_CLIENT_ID)" \
    --arg UapTokenUrl "$(cfg UAP_TOKEN_URL)" \
    --arg UapTransactionsUrl "$(cfg UAP_TRANSACTIONS_URL)" \
    --arg UapPayloadFormat "$(cfg UAP_PAYLOAD_FORMAT edge)" \
    --arg UapContentEncoding "$(cfg UAP_CONTENT_ENCODING identity)" \
    --arg MaxBatchTransactions "$(cfg MAX_BATCH_TRANSACTIONS 250)" \
    --arg LogRetentionDays "$(cfg LOG_RETENTION_DAYS 14)" \
    --arg ScheduleExpression "$(cfg SCHEDULE_EXPRESSION "rate(1 minute)")" \
    --arg LambdaRoleArn "$(cfg LAMBDA_ROLE_ARN)" \
    --arg ApiGatewayCloudWatchRoleArn "$(cfg APIGW_CLOUDWATCH_ROLE_ARN)" \
    --arg SchedulerRoleArn "$(cfg SCHEDULER_ROLE_ARN)" \
    --arg RestExecutionLogsAlreadyEnabled "$(cfg REST_EXECUTION_LOGS_ALREADY_ENABLED false)" \
    --arg HttpAccessLogsAlreadyEnabled "$(cfg HTTP_ACCESS_LOGS_ALREADY_ENABLED false)" \
    --arg HttpAccessLogGroupName "$(cfg HTTP_ACCESS_LOG_GROUP /aws/apigateway/apitap-http-access)" \
    --arg EnableDefaultStageLogging "$(cfg ENABLE_DEFAULT_STAGE_LOGGING false)" \
    --arg KmsKey "$(cfg KMS_KEY)" \
    --arg ApiRefreshSchedule "$(cfg API_REFRESH_SCHEDULE "rate(15 minutes)")" \
    --arg FailureDestination "$(cfg FAILURE_DESTINATION create)" \
    --arg DeliveryMode "$(cfg DELIVERY_MODE poll)" \
    --arg FlexSource "$(cfg FLEX_SOURCE none)" \
    --arg FlexLogGroupPrefix "$(cfg FLEX_LOG_GROUP_PREFIX /flex/)" \
    --arg FlexApis "$(cfg FLEX_APIS all)" \
    --arg FlexAnypointClientId "$(cfg FLEX_ANYPOINT_CLIENT_ID)" \
    --arg FlexAnypointClientSecretName "$(cfg FLEX_ANYPOINT_CLIENT_SECRET_NAME)" \
    --arg FlexAnypointOrgId "$(cfg FLEX_ANYPOINT_ORG_ID)" \
    --arg FlexAnypointEnvId "$(cfg FLEX_ANYPOINT_ENV_ID)" \
    '$ARGS.named + {UapClientSecret: $ENV.APITAP_UAP_CLIENT_SECRET} | to_entries | map({ParameterKey: .key, ParameterValue: .value})'
}

# params_match DESIRED-FILE: true when the parameter list on stdin (from describe-stack-set or describe-stacks)
# has every desired value. The secret is NoEcho (AWS answers ****), so it is left out; --force-update pushes a
# new one. Parameters the .env does not set (template defaults) are not compared.
params_match() {
  jq -e --slurpfile want "$1" '(map({(.ParameterKey): .ParameterValue}) | add // {}) as $have
    | all($want[0][] | select(.ParameterKey != "UapClientSecret"); $have[.ParameterKey] == .ParameterValue)' >/dev/null
}

# ---------------------------------------------------------------- StackSet calls
# ss_call ARGS...: aws cloudformation in the StackSet's region; waits and retries while another operation runs.
ss_call() {
  local attempt=1 out errf="$WORK_DIR/ss_call.err"
  while true; do
    if out=$(aws --region "$SS_REGION" --output json cloudformation "$@" 2>"$errf"); then
      printf '%s\n' "$out"
      return 0
    fi
    if grep -q OperationInProgressException "$errf" && ((attempt < RETRY_MAX)); then
      info "another operation is running on StackSet $SS_NAME; retrying in ${RETRY_SLEEP}s (attempt $attempt of $RETRY_MAX)"
      sleep "$RETRY_SLEEP"
      attempt=$((attempt + 1))
      continue
    fi
    cat "$errf" >&2
    return 1
  done
}

# ss_describe: the StackSet as JSON on stdout, nothing when it does not exist (or is DELETED).
ss_describe() {
  local out errf="$WORK_DIR/describe.err"
  if out=$(aws --region "$SS_REGION" --output json cloudformation describe-stack-set --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" 2>"$errf"); then
    [[ $(jq -r .StackSet.Status <<<"$out") == DELETED ]] && return 0
    printf '%s\n' "$out"
    return 0
  fi
  grep -q StackSetNotFoundException "$errf" && return 0
  cat "$errf" >&2
  return 1
}

operation_preferences() {
  local regions_json
  regions_json=$(printf '%s\n' "${REGIONS[@]}" | jq -R . | jq -s -c .)
  jq -n -c --arg rc "$(cfg REGION_CONCURRENCY PARALLEL)" --arg mode "$(cfg CONCURRENCY_MODE SOFT_FAILURE_TOLERANCE)" \
    --argjson max "$(cfg MAX_CONCURRENT_PERCENTAGE 100)" --argjson tol "$(cfg FAILURE_TOLERANCE_PERCENTAGE 0)" \
    --argjson order "$regions_json" \
    '{RegionConcurrencyType: $rc, MaxConcurrentPercentage: $max, FailureTolerancePercentage: $tol, ConcurrencyMode: $mode}
     + (if $rc == "SEQUENTIAL" then {RegionOrder: $order} else {} end)'
}

# wait_operation ID WHAT: polls until the operation ends; prints the failed results.
wait_operation() {
  local op=$1 what=$2 status deadline
  deadline=$(($(date +%s) + 60 * $(cfg OPERATION_TIMEOUT_MINUTES 60)))
  while true; do
    status=$(aws --region "$SS_REGION" cloudformation describe-stack-set-operation --stack-set-name "$SS_NAME" \
      --operation-id "$op" "${CALL_AS_ARGS[@]}" --query StackSetOperation.Status --output text)
    case $status in
      SUCCEEDED)
        info "$what: SUCCEEDED (operation $op)"
        return 0
        ;;
      FAILED | STOPPED)
        log "error: $what: $status (operation $op)"
        {
          printf 'ACCOUNT\tREGION\tSTATUS\tREASON\n'
          aws --region "$SS_REGION" cloudformation list-stack-set-operation-results --stack-set-name "$SS_NAME" \
            --operation-id "$op" "${CALL_AS_ARGS[@]}" --output json |
            jq -r '.Summaries[] | [.Account, .Region, .Status, (.StatusReason // "")] | @tsv'
        } | print_table >&2
        return 1
        ;;
    esac
    if (($(date +%s) > deadline)); then
      log "error: $what: still $status after $(cfg OPERATION_TIMEOUT_MINUTES 60) minutes (operation $op); see the CloudFormation console"
      return 1
    fi
    sleep "$POLL_SECONDS"
  done
}

# list_instances: one JSON object per line {Account, Region, Status, Detailed, Reason, Ou}.
list_instances() {
  aws --region "$SS_REGION" --output json cloudformation list-stack-instances --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" |
    jq -c '.Summaries[] | {Account, Region, Status, Detailed: (.StackInstanceStatus.DetailedStatus // ""),
                           Reason: (.StatusReason // ""), Ou: (.OrganizationalUnitId // "")}'
}

# result_table: per account and region; false when an instance is not CURRENT.
result_table() {
  local rows bad
  rows=$(list_instances)
  printf '\nStackSet %s (%s), stack instances:\n' "$SS_NAME" "$SS_REGION" >&2
  {
    printf 'ACCOUNT\tREGION\tSTATUS\tDETAIL\tREASON\n'
    [[ -z $rows ]] || jq -r '[.Account, .Region, .Status, .Detailed, .Reason] | @tsv' <<<"$rows" | sort
  } | print_table >&2
  [[ -z $rows ]] && {
    log "(no instances)"
    return 0
  }
  bad=$(jq -r 'select(.Status != "CURRENT") | .Account' <<<"$rows" | wc -l)
  if ((bad > 0)); then
    log "error: $bad instance(s) are not CURRENT"
    return 1
  fi
  return 0
}

# delete_all_instances: every instance of the set, whatever the .env's current region list says.
delete_all_instances() {
  local rows regions ous op prefs left
  rows=$(list_instances)
  if [[ -z $rows ]]; then
    info "StackSet $SS_NAME has no instances"
    return 0
  fi
  prefs=$(operation_preferences)
  mapfile -t regions < <(jq -r .Region <<<"$rows" | sort -u)
  if $ORG; then
    mapfile -t ous < <(jq -r 'select(.Ou != "") | .Ou' <<<"$rows" | sort -u)
    if ((${#ous[@]} == 0)); then
      mapfile -t ous < <(resolve_ou_ids)
    fi
    info "deleting the instances of $SS_NAME in OUs ${ous[*]} and regions ${regions[*]}"
    op=$(ss_call delete-stack-instances --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" \
      --deployment-targets "$(jq -n -c '{OrganizationalUnitIds: $ARGS.positional}' --args "${ous[@]}")" \
      --regions "${regions[@]}" --no-retain-stacks --operation-preferences "$prefs" | jq -r .OperationId)
    wait_operation "$op" "delete instances" || return 1
  else
    # One call per group of accounts that have instances in the same regions.
    local -A by_regions=()
    local account g accounts
    while IFS= read -r account; do
      g=$(jq -r --arg a "$account" 'select(.Account == $a) | .Region' <<<"$rows" | sort -u | tr '\n' ' ')
      by_regions[$g]+="$account "
    done < <(jq -r .Account <<<"$rows" | sort -u)
    for g in "${!by_regions[@]}"; do
      read -r -a accounts <<<"${by_regions[$g]}"
      read -r -a regions <<<"$g"
      info "deleting the instances of $SS_NAME in accounts ${accounts[*]}, regions ${regions[*]}"
      op=$(ss_call delete-stack-instances --stack-set-name "$SS_NAME" --accounts "${accounts[@]}" \
        --regions "${regions[@]}" --no-retain-stacks --operation-preferences "$prefs" | jq -r .OperationId)
      wait_operation "$op" "delete instances" || return 1
    done
  fi
  left=$(list_instances | wc -l)
  if ((left > 0)); then
    log "error: $left instance(s) of $SS_NAME remain after deleting; the StackSet is kept"
    result_table || true
    return 1
  fi
}

delete_stack_set() {
  local desc
  desc=$(ss_describe) || return 1
  if [[ -z $desc ]]; then
    info "StackSet $SS_NAME does not exist"
    return 0
  fi
  delete_all_instances || return 1
  info "deleting StackSet $SS_NAME"
  ss_call delete-stack-set --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" >/dev/null
}

# ---------------------------------------------------------------- Organizations (service-managed)
# resolve_ou_ids: the OU targets as ids (all/root become the root id).
resolve_ou_ids() {
  local o root=""
  for o in "${OU_TARGETS[@]}"; do
    if [[ ${o,,} == all || ${o,,} == root ]]; then
      [[ -n $root ]] || root=$(aws organizations list-roots --query 'Roots[0].Id' --output text)
      printf '%s\n' "$root"
    else
      printf '%s\n' "$o"
    fi
  done | sort -u
}

# accounts_under OU: active accounts in the OU and every OU below it.
accounts_under() {
  local parent=$1 child
  aws organizations list-accounts-for-parent --parent-id "$parent" --output json |
    jq -r '.Accounts[] | select((.Status // "ACTIVE") == "ACTIVE") | .Id'
  while IFS= read -r child; do
    [[ -n $child ]] && accounts_under "$child"
  done < <(aws organizations list-organizational-units-for-parent --parent-id "$parent" --output json | jq -r '.OrganizationalUnits[].Id')
}

# planned_org_accounts: the accounts StackSets will deploy to: OU accounts after the filter, never the management account.
planned_org_accounts() {
  local mgmt a
  mgmt=$(aws organizations describe-organization --query Organization.MasterAccountId --output text)
  while IFS= read -r a; do
    [[ $a == "$mgmt" ]] && continue
    case $FILTER_TYPE in
      INTERSECTION) [[ " ${FILTER_ACCOUNTS[*]} " == *" $a "* ]] || continue ;;
      DIFFERENCE) [[ " ${FILTER_ACCOUNTS[*]} " == *" $a "* ]] && continue ;;
    esac
    printf '%s\n' "$a"
  done < <(while IFS= read -r o; do accounts_under "$o"; done < <(resolve_ou_ids) | sort -u)
}
