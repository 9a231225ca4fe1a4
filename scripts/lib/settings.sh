# shellcheck shell=bash disable=SC2034,SC2153  # globals here are read by the scripts that source this file
# Loads and validates the .env for one script (enable, disable, teardown, stack) and resolves
# account, regions, buckets and targets. Every problem is collected and reported at once.

# Results (globals, read by the scripts and lib/aws.sh).
ACCOUNT_ID=""
REGIONS=()        # regions the StackSet instances go to
BUCKET_REGIONS=() # REGIONS plus the StackSet's own region (it holds the template the StackSet reads)
SS_NAME=""
SS_REGION=""
BUCKET_PREFIX=""
ORG=false
CALL_AS_ARGS=()
TARGET_ACCOUNTS=() # self-managed targets
OU_TARGETS=()      # service-managed targets as written (all, root, r-..., ou-...)
FILTER_TYPE=NONE
FILTER_ACCOUNTS=()
PACKAGE_ZIP=""
TEMPLATE_FILE=""
API_LIST_FILE=""
AWS_OK=false
declare -gA BUCKET_STATE=() # region -> exists|missing, from validation

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)

# parse_common_args "$@": sets ENV_FILE and ASSUME_YES; unknown flags go to EXTRA_ARGS.
EXTRA_ARGS=()
parse_common_args() {
  while (($#)); do
    case $1 in
      --env)
        (($# >= 2)) || die "--env needs a file name"
        ENV_FILE=$2
        shift 2
        ;;
      --env=*)
        ENV_FILE=${1#--env=}
        shift
        ;;
      --yes | -y)
        ASSUME_YES=true
        shift
        ;;
      *)
        EXTRA_ARGS+=("$1")
        shift
        ;;
    esac
  done
  [[ -n $ENV_FILE ]] || ENV_FILE="$REPO_ROOT/.env"
}

check_tools() {
  command -v jq >/dev/null 2>&1 || problem "jq is not installed (needed to build and read JSON)"
  if ! command -v aws >/dev/null 2>&1; then
    problem "the aws CLI is not installed or not on PATH"
    return 0
  fi
  local out
  if out=$(aws sts get-caller-identity --query Account --output text 2>&1); then
    ACCOUNT_ID=$out
    AWS_OK=true
  else
    problem "the aws CLI is not configured or has no valid credentials (sts get-caller-identity: $(printf '%s' "$out" | tr -s '\n' ' ' | cut -c1-200))"
  fi
}

# resolve_regions: AWS_REGIONS is "all" or a comma list; "all" never includes cn-* or us-gov-*.
resolve_regions() {
  local spec r enabled=() seen=" "
  spec=$(cfg AWS_REGIONS)
  spec=${spec//[[:space:]]/}
  if [[ -z $spec ]]; then
    problem "AWS_REGIONS is empty (use all or a comma-separated list such as us-east-1,eu-west-1)"
    return 0
  fi
  if $AWS_OK; then
    local out
    if out=$(aws ec2 describe-regions --region "$SS_REGION" --query 'Regions[].RegionName' --output text 2>&1); then
      read -r -a enabled <<<"$(printf '%s' "$out" | tr '\t\n' '  ')"
    else
      problem "cannot list the account's regions (ec2 describe-regions: $(printf '%s' "$out" | head -c 200))"
    fi
  fi
  if [[ ${spec,,} == all ]]; then
    for r in "${enabled[@]}"; do
      [[ $r == cn-* || $r == us-gov-* ]] && continue
      REGIONS+=("$r")
    done
    if $AWS_OK && ((${#REGIONS[@]} == 0)); then problem "AWS_REGIONS=all resolved to no region"; fi
  else
    local list
    IFS=, read -r -a list <<<"$spec"
    for r in "${list[@]}"; do
      [[ -z $r ]] && continue
      if [[ ! $r =~ $REGION_RE ]]; then
        problem "AWS_REGIONS: '$r' is not a region name"
        continue
      fi
      if ((${#enabled[@]})) && [[ " ${enabled[*]} " != *" $r "* ]]; then
        problem "AWS_REGIONS: $r is not a region enabled in account $ACCOUNT_ID"
        continue
      fi
      [[ $seen == *" $r "* ]] && continue
      seen+="$r "
      REGIONS+=("$r")
    done
  fi
  BUCKET_REGIONS=("${REGIONS[@]}")
  if [[ $SS_REGION =~ $REGION_RE && " ${REGIONS[*]} " != *" $SS_REGION "* ]]; then
    BUCKET_REGIONS+=("$SS_REGION")
  fi
}

read_accounts_csv() { # read_accounts_csv KEY ARRAYNAME
  local key=$1 a n bad=() first_bad=""
  local -n out=$2
  check_file "$key" "it is needed here" || return 0
  while IFS=$'\t' read -r n a; do
    if [[ $a =~ ^[0-9]{12}$ ]]; then
      out+=("$a")
    else
      [[ -n $first_bad ]] || first_bad=$a
      bad+=("$n")
    fi
  done < <(csv_values "$(resolve_path "$(cfg "$key")")")
  ((${#bad[@]} == 0)) || report_bad_lines "$key" "12-digit account ids" "$first_bad" "${bad[@]}"
  ((${#out[@]})) || ((${#bad[@]})) || problem "$key: $(resolve_path "$(cfg "$key")") lists no account"
}

resolve_targets() {
  if $ORG; then
    local v o
    v=$(cfg ORGANIZATION_ID)
    [[ $v =~ ^o-[a-z0-9]{10,32}$ ]] || problem "ORGANIZATION_ID must look like o-abcd123456 (got '$v')"
    if check_file OU_TARGETS_FILE "ORGANIZATION_DEPLOYMENT=true needs it"; then
      local n bad=() first_bad=""
      while IFS=$'\t' read -r n o; do
        if [[ ${o,,} == all || ${o,,} == root || $o =~ ^r-[a-z0-9]{4,32}$ || $o =~ ^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$ ]]; then
          OU_TARGETS+=("$o")
        else
          [[ -n $first_bad ]] || first_bad=$o
          bad+=("$n")
        fi
      done < <(csv_values "$(resolve_path "$(cfg OU_TARGETS_FILE)")")
      ((${#bad[@]} == 0)) || report_bad_lines OU_TARGETS_FILE "all, root, a root id (r-...) or an OU id (ou-...)" "$first_bad" "${bad[@]}"
      ((${#OU_TARGETS[@]})) || ((${#bad[@]})) || problem "OU_TARGETS_FILE lists no target"
    fi
    FILTER_TYPE=$(cfg ACCOUNT_FILTER_TYPE NONE)
    FILTER_TYPE=${FILTER_TYPE^^}
    case $FILTER_TYPE in
      NONE) ;;
      INTERSECTION | DIFFERENCE) read_accounts_csv ACCOUNT_FILTER_FILE FILTER_ACCOUNTS ;;
      *) problem "ACCOUNT_FILTER_TYPE must be NONE, INTERSECTION or DIFFERENCE (got '$FILTER_TYPE'; UNION is not allowed when creating instances)" ;;
    esac
  else
    read_accounts_csv ACCOUNTS_FILE TARGET_ACCOUNTS
  fi
}

# check_buckets: bucket names, and (for enable/stack) whether each exists, is ours, or may be created.
check_buckets() {
  local mode=$1 r b out
  BUCKET_PREFIX=$(cfg BUCKET_PREFIX "apitap-${ACCOUNT_ID:-000000000000}")
  if [[ ! $BUCKET_PREFIX =~ ^[a-z0-9][a-z0-9-]{1,40}$ || $BUCKET_PREFIX == *--* ]]; then
    problem "BUCKET_PREFIX must be 2-41 lowercase letters, digits and single hyphens (got '$BUCKET_PREFIX')"
    return 0
  fi
  [[ $mode == enable || $mode == stack ]] || return 0
  $AWS_OK || return 0
  for r in "${BUCKET_REGIONS[@]}"; do
    b="$BUCKET_PREFIX-$r"
    if out=$(aws s3api head-bucket --bucket "$b" --expected-bucket-owner "$ACCOUNT_ID" --region "$r" 2>&1); then
      BUCKET_STATE[$r]=exists
      continue
    fi
    if [[ $out == *404* || $out == *"Not Found"* || $out == *NoSuchBucket* ]]; then
      BUCKET_STATE[$r]=missing
      is_true MANAGE_BUCKETS true || problem "bucket $b does not exist in $r and MANAGE_BUCKETS=false (create it or set MANAGE_BUCKETS=true)"
    else
      problem "bucket $b in $r is not usable by account $ACCOUNT_ID (owned by someone else or access denied); choose another BUCKET_PREFIX"
    fi
  done
}

# load_settings MODE: MODE is enable, disable, teardown or stack (deploy-stack.sh).
load_settings() {
  local mode=$1
  env_load "$ENV_FILE" || true
  check_tools
  check_unknown_keys

  SS_NAME=$(cfg STACKSET_NAME apitap)
  [[ $SS_NAME =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || problem "STACKSET_NAME must start with a letter and hold only letters, digits and hyphens (got '$SS_NAME')"
  SS_REGION=$(cfg STACKSET_REGION us-east-1)
  if [[ ! $SS_REGION =~ $REGION_RE ]]; then
    problem "STACKSET_REGION: '$SS_REGION' is not a region name"
  fi
  for k in ORGANIZATION_DEPLOYMENT MANAGE_BUCKETS DELETE_ARTIFACTS_ON_DESTROY AUTO_CREATE_STACKSET; do
    case $k in
      ORGANIZATION_DEPLOYMENT) check_bool "$k" false ;;
      *) check_bool "$k" true ;;
    esac
  done
  is_true ORGANIZATION_DEPLOYMENT && ORG=true
  check_enum CALL_AS SELF SELF DELEGATED_ADMIN
  if $ORG; then
    CALL_AS_ARGS=(--call-as "$(cfg CALL_AS SELF)")
  elif [[ $(cfg CALL_AS SELF) == DELEGATED_ADMIN ]]; then
    problem "CALL_AS=DELEGATED_ADMIN needs ORGANIZATION_DEPLOYMENT=true (self-managed StackSets have no delegated administrator)"
  fi

  if [[ $mode == enable || $mode == stack || $mode == disable ]]; then
    check_bool ENABLE_REST_APIS true
    check_bool ENABLE_HTTP_APIS true
  fi
  if [[ $mode == enable || $mode == stack ]]; then
    check_tick_settings
  fi
  if [[ $mode == enable || $mode == disable ]]; then
    check_int_range MAX_CONCURRENT_PERCENTAGE 100 1 100
    check_int_range FAILURE_TOLERANCE_PERCENTAGE 0 0 100
    check_enum REGION_CONCURRENCY PARALLEL PARALLEL SEQUENTIAL
    check_enum CONCURRENCY_MODE SOFT_FAILURE_TOLERANCE SOFT_FAILURE_TOLERANCE STRICT_FAILURE_TOLERANCE
    check_int_range OPERATION_TIMEOUT_MINUTES 60 1 720
  fi

  if [[ $mode == stack ]]; then
    local sr
    sr=$(cfg STACK_REGION "$SS_REGION")
    if [[ ! $sr =~ $REGION_RE ]]; then
      problem "STACK_REGION: '$sr' is not a region name"
    fi
    CFG[AWS_REGIONS]=$sr
    SS_REGION=$sr
  fi
  resolve_regions
  if [[ $mode == enable ]]; then
    resolve_targets
  fi
  check_buckets "$mode"
  report_problems
}

# The Flex Gateway source (docs/flex-gateway.md): off unless FLEX_SOURCE names where its lines are read.
check_flex_settings() {
  local key s
  check_enum FLEX_SOURCE none none cloudwatch anypoint-archive
  s=$(cfg FLEX_LOG_GROUP_PREFIX /flex/)
  [[ $s =~ ^[A-Za-z0-9_/.#-]{1,500}$ ]] || problem "FLEX_LOG_GROUP_PREFIX is not the start of a log group name (got '$s')"
  if [[ $(cfg FLEX_SOURCE none) == anypoint-archive ]]; then
    for key in FLEX_ANYPOINT_CLIENT_ID FLEX_ANYPOINT_CLIENT_SECRET_NAME FLEX_ANYPOINT_ORG_ID FLEX_ANYPOINT_ENV_ID; do
      check_required_secret "$key"
    done
    s=$(cfg FLEX_ANYPOINT_CLIENT_SECRET_NAME)
    [[ -z $s || $s =~ ^[A-Za-z0-9/_+=.@-]{1,512}$ ]] || problem "FLEX_ANYPOINT_CLIENT_SECRET_NAME is not a Secrets Manager secret name (got '$s')"
  fi
}

check_tick_settings() {
  local rest http
  rest=$(cfg ENABLE_REST_APIS true)
  http=$(cfg ENABLE_HTTP_APIS true)
  if [[ $rest == false && $http == false && $(cfg FLEX_SOURCE none) == none ]]; then
    problem "ENABLE_REST_APIS and ENABLE_HTTP_APIS are both false and FLEX_SOURCE is none: nothing to collect (use disable.sh or teardown.sh to switch apitap off)"
  fi
  check_flex_settings
  check_bool UAP_AUTH_ENABLED true
  check_bool API_AUTO_DISCOVERY true
  check_bool REST_EXECUTION_LOGS_ALREADY_ENABLED false
  check_bool HTTP_ACCESS_LOGS_ALREADY_ENABLED false
  check_bool ENABLE_DEFAULT_STAGE_LOGGING false
  check_url UAP_TRANSACTIONS_URL
  check_enum UAP_PAYLOAD_FORMAT edge edge native
  check_enum UAP_CONTENT_ENCODING identity identity gzip
  check_int_range MAX_BATCH_TRANSACTIONS 250 1 10000
  if is_true UAP_AUTH_ENABLED true; then
    check_required_secret UAP_CLIENT_ID
    if [[ -z $(cfg UAP_CLIENT_SECRET_ARN) ]]; then
      check_required_secret UAP_CLIENT_SECRET
    elif [[ ! $(cfg UAP_CLIENT_SECRET_ARN) =~ ^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+|[A-Za-z0-9/_+=.@-]{1,512})$ ]]; then
      problem "UAP_CLIENT_SECRET_ARN must be a Secrets Manager secret ARN or name"
    fi
    check_url UAP_TOKEN_URL
  fi
  s=$(cfg LOG_LEVEL INFO)
  [[ ${s^^} =~ ^(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)$ ]] ||
    problem "LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (got '$s'; the same values as Lambda's log level and the runtime)"
  s=$(cfg RESERVED_CONCURRENCY 1)
  [[ $s =~ ^(none|[1-9][0-9]{0,3})$ ]] || problem "RESERVED_CONCURRENCY must be none or a number (got '$s')"
  check_enum TRACING PassThrough PassThrough Active
  s=$(cfg ALARM_TOPIC_ARN)
  [[ -z $s || $s =~ ^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$ ]] || problem "ALARM_TOPIC_ARN must be empty or an SNS topic ARN (got '$s')"
  check_enum LOG_RETENTION_DAYS 14 1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653
  check_int_range API_LIST_CACHE_SECONDS 300 0 86400
  local s
  s=$(cfg SCHEDULE_EXPRESSION "rate(1 minute)")
  [[ $s =~ ^(rate\([1-9][0-9]*\ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$ ]] || problem "SCHEDULE_EXPRESSION must be rate(N unit) or cron(...) (got '$s')"
  s=$(cfg API_REFRESH_SCHEDULE "rate(15 minutes)")
  [[ $s =~ ^(disabled|rate\([1-9][0-9]*\ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$ ]] ||
    problem "API_REFRESH_SCHEDULE must be rate(N unit), cron(...) or disabled (got '$s')"
  s=$(cfg NAME_PREFIX apitap)
  [[ $s =~ ^[a-z][a-z0-9-]{1,20}$ ]] || problem "NAME_PREFIX must be 2-21 lowercase letters, digits and hyphens, starting with a letter (got '$s')"
  s=$(cfg HTTP_ACCESS_LOG_GROUP /aws/apigateway/apitap-http-access)
  [[ $s =~ ^[A-Za-z0-9_/.#-]+\*?$ ]] || problem "HTTP_ACCESS_LOG_GROUP is not a log group name (got '$s')"
  if [[ $s == *'*' ]] && ! is_true HTTP_ACCESS_LOGS_ALREADY_ENABLED; then
    problem "HTTP_ACCESS_LOG_GROUP may end in * only with HTTP_ACCESS_LOGS_ALREADY_ENABLED=true (apitap creates the group otherwise)"
  fi
  local re
  for re in CONTENT_TYPE_REGEX EXCLUDED_EXTENSIONS_REGEX; do
    s=$(cfg "$re")
    [[ -z $s ]] && continue
    # grep -E is close enough to the tick's regex dialect to catch typos such as unbalanced brackets.
    local rc=0
    printf '' | grep -Eq -- "$s" 2>/dev/null || rc=$?
    ((rc == 2)) && problem "$re is not a valid regular expression"
  done
  s=$(cfg KMS_KEY)
  [[ -z $s || $s =~ ^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/)?(mrk-)?[a-f0-9-]{32,36}$ ]] ||
    problem "KMS_KEY must be empty, a KMS key id (mrk-... for a multi-Region key) or a key ARN (got '$s')"
  s=$(cfg FAILURE_DESTINATION create)
  [[ $s =~ ^(create|none|arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}|arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$ ]] ||
    problem "FAILURE_DESTINATION must be create, none, a standard SQS queue ARN or an S3 bucket ARN (arn:aws:s3:::bucket) (got '$s'; Lambda's on-failure destinations take no FIFO queue)"
  check_enum DELIVERY_MODE poll poll subscription
  if [[ $(cfg DELIVERY_MODE poll) == subscription && $s == none ]]; then
    problem "DELIVERY_MODE=subscription needs a FAILURE_DESTINATION (create, a queue or a bucket): a push that fails is kept there for scripts/replay-failures.sh, not lost"
  fi
  check_role LAMBDA_ROLE_ARN
  check_role APIGW_CLOUDWATCH_ROLE_ARN
  check_role SCHEDULER_ROLE_ARN

  PACKAGE_ZIP=$(resolve_path_repo "$(cfg PACKAGE_ZIP .build/lambda/apitap.zip)")
  if [[ ! -f $PACKAGE_ZIP || ! -r $PACKAGE_ZIP ]]; then
    problem "the Lambda package $PACKAGE_ZIP does not exist (build it with 'make package', or point PACKAGE_ZIP at it)"
  fi
  TEMPLATE_FILE=$(resolve_path_repo "$(cfg TEMPLATE_FILE template/apitap.json)")
  if [[ ! -r $TEMPLATE_FILE ]]; then
    problem "the template $TEMPLATE_FILE is not readable"
  elif ! jq -e . "$TEMPLATE_FILE" >/dev/null 2>&1; then
    problem "the template $TEMPLATE_FILE is not valid JSON"
  fi
  if is_true API_AUTO_DISCOVERY true; then
    [[ -z $(cfg API_LIST_FILE) ]] || warn "API_LIST_FILE is ignored while API_AUTO_DISCOVERY=true"
  else
    if check_file API_LIST_FILE "API_AUTO_DISCOVERY=false needs an API list"; then
      API_LIST_FILE=$(resolve_path "$(cfg API_LIST_FILE)")
      jq -e 'type == "array" and all(.[]; (.apiId|type) == "string" and (.stage|type) == "string" and ((.type // "rest") | IN("rest","http")))' \
        "$API_LIST_FILE" >/dev/null 2>&1 ||
        problem "API_LIST_FILE: $API_LIST_FILE is not a JSON array of {region, apiId, stage, type: rest|http}"
    fi
  fi
}

# Paths of build outputs are relative to the repository root unless absolute.
resolve_path_repo() {
  if [[ $1 == /* ]]; then printf '%s' "$1"; else printf '%s/%s' "$REPO_ROOT" "$1"; fi
}
