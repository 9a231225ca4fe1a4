# shellcheck shell=bash disable=SC2034,SC2153  # globals here are read by the scripts that source this file
# Shared shell functions for enable/disable/teardown/deploy-stack: messages, .env parsing, validation, prompts.
# Sourced by the scripts in scripts/; never executed on its own. Needs bash 4.3+.

# ---------------------------------------------------------------- messages
log() { printf '%s\n' "$*" >&2; }
info() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Problems found while validating; reported all at once by report_problems.
PROBLEMS=()
problem() { PROBLEMS+=("$*"); }
report_problems() {
  local p
  ((${#PROBLEMS[@]} == 0)) && return 0
  printf 'error: %d problem(s) with the configuration; nothing was created or changed:\n' "${#PROBLEMS[@]}" >&2
  for p in "${PROBLEMS[@]}"; do
    printf '  - %s\n' "$p" >&2
  done
  exit 1
}

# ---------------------------------------------------------------- arguments
# Every script takes --env FILE and --yes; deploy-stack.sh adds its own flags.
ENV_FILE=""
ASSUME_YES=false
usage_common() {
  cat >&2 <<EOF
usage: $(basename "$0") [--env FILE] [--yes]$1
  --env FILE   settings file (default: .env in the repository root)
  --yes        do not ask for confirmation
EOF
}

# ---------------------------------------------------------------- temporary files
WORK_DIR=""
make_work_dir() {
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/apitap.XXXXXX")
  trap 'rm -rf -- "$WORK_DIR"' EXIT
}

# ---------------------------------------------------------------- .env parsing
# The .env is data, not code: it is never sourced or evaluated. Lines are KEY=VALUE
# (an optional leading "export " is accepted), values may be wrapped in matching
# single or double quotes (taken literally), an unquoted value ends at " #".
declare -gA CFG=()
declare -gA CFG_LINE=()

# The Cequence reference integration's setting names (from its published properties and policy script,
# docs/configuration-deploy.md "Aliases"), lower case, and the setting each stands for.
declare -gA ENV_ALIASES=(
  [cequence_is_aws_organization_deployment]=ORGANIZATION_DEPLOYMENT
  [cequence_transactions_endpoint_url]=UAP_TRANSACTIONS_URL
  [cequence_auth_endpoint_url]=UAP_TOKEN_URL
  [cequence_client_id]=UAP_CLIENT_ID
  [cequence_client_secret]=UAP_CLIENT_SECRET
  [cequence_enable_auth]=UAP_AUTH_ENABLED
  [cequence_log_level]=LOG_LEVEL
  [anypoint_client_id]=ANYPOINT_CLIENT_ID
  [anypoint_client_secret]=ANYPOINT_CLIENT_SECRET
  [organization]=ANYPOINT_ORG_ID
  [environment]=ANYPOINT_ENV_ID
  [base_url]=ANYPOINT_BASE_URL
)

env_load() {
  local file=$1 raw line key value n=0
  if [[ ! -e $file ]]; then
    problem "settings file $file does not exist (copy template/env.example to .env and edit it)"
    return 1
  fi
  if [[ ! -f $file || ! -r $file ]]; then
    problem "settings file $file is not a readable file"
    return 1
  fi
  while IFS= read -r raw || [[ -n $raw ]]; do
    n=$((n + 1))
    line=${raw%$'\r'}
    line=${line#"${line%%[![:space:]]*}"}
    [[ -z $line || $line == \#* ]] && continue
    if [[ ! $line =~ ^(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      problem "$file line $n: not a KEY=VALUE line"
      continue
    fi
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value == \"* || $value == \'* ]]; then
      local q=${value:0:1}
      if ((${#value} < 2)) || [[ ${value: -1} != "$q" ]]; then
        problem "$file line $n: $key: the value opens a quote ($q) it does not close at the end of the line"
        continue
      fi
      value=${value:1:${#value}-2}
    else
      value=${value%%[[:space:]]#*}
      value=${value%"${value##*[![:space:]]}"}
    fi
    # The reference integration's own names are accepted for ours (ENV_ALIASES), so its users can bring their file.
    local alias=${key,,}
    if [[ -n ${ENV_ALIASES[$alias]:-} ]]; then
      key=${ENV_ALIASES[$alias]}
      [[ $value == "True" || $value == "False" ]] && value=${value,,}
    fi
    if [[ -n ${CFG_LINE[$key]:-} ]]; then
      problem "$file line $n: $key is already set on line ${CFG_LINE[$key]} (under this name or an alias of it)"
      continue
    fi
    CFG[$key]=$value
    CFG_LINE[$key]=$n
  done <"$file"
  return 0
}

# cfg KEY [DEFAULT]: the value from the .env, or DEFAULT when unset or empty.
cfg() {
  local v=${CFG[$1]:-}
  if [[ -z $v ]]; then v=${2:-}; fi
  printf '%s' "$v"
}

# Every key the scripts understand; anything else in the .env is reported as a probable typo.
KNOWN_KEYS=(
  UAP_AUTH_ENABLED UAP_CLIENT_ID UAP_CLIENT_SECRET UAP_CLIENT_SECRET_ARN UAP_TOKEN_URL UAP_TRANSACTIONS_URL
  UAP_PAYLOAD_FORMAT UAP_CONTENT_ENCODING MAX_BATCH_TRANSACTIONS
  AWS_REGIONS ORGANIZATION_DEPLOYMENT ORGANIZATION_ID OU_TARGETS_FILE ACCOUNT_FILTER_TYPE ACCOUNT_FILTER_FILE ACCOUNTS_FILE
  ENABLE_REST_APIS ENABLE_HTTP_APIS API_AUTO_DISCOVERY API_LIST_FILE API_LIST_CACHE_SECONDS
  REST_EXECUTION_LOGS_ALREADY_ENABLED HTTP_ACCESS_LOGS_ALREADY_ENABLED HTTP_ACCESS_LOG_GROUP ENABLE_DEFAULT_STAGE_LOGGING API_REFRESH_SCHEDULE
  LOG_LEVEL CONTENT_TYPE_REGEX EXCLUDED_EXTENSIONS_REGEX LOG_RETENTION_DAYS SCHEDULE_EXPRESSION
  BUCKET_PREFIX MANAGE_BUCKETS DELETE_ARTIFACTS_ON_DESTROY PACKAGE_ZIP TEMPLATE_FILE NAME_PREFIX KMS_KEY FAILURE_DESTINATION
  RESERVED_CONCURRENCY TRACING ALARM_TOPIC_ARN DELIVERY_MODE
  STACKSET_NAME STACKSET_REGION AUTO_CREATE_STACKSET CALL_AS
  MAX_CONCURRENT_PERCENTAGE FAILURE_TOLERANCE_PERCENTAGE REGION_CONCURRENCY CONCURRENCY_MODE OPERATION_TIMEOUT_MINUTES
  LAMBDA_ROLE_ARN APIGW_CLOUDWATCH_ROLE_ARN SCHEDULER_ROLE_ARN
  STACK_NAME STACK_REGION
  FLEX_SOURCE FLEX_LOG_GROUP_PREFIX FLEX_APIS FLEX_ANYPOINT_CLIENT_ID FLEX_ANYPOINT_CLIENT_SECRET_NAME FLEX_ANYPOINT_ORG_ID FLEX_ANYPOINT_ENV_ID
  ANYPOINT_CLIENT_ID ANYPOINT_CLIENT_SECRET ANYPOINT_CLIENT_SECRET_NAME ANYPOINT_ORG_ID ANYPOINT_ENV_ID ANYPOINT_BASE_URL
  FLEX_POLICY_LABEL FLEX_POLICY_ASSET_VERSION
)

check_unknown_keys() {
  local key k known
  for key in "${!CFG[@]}"; do
    known=false
    for k in "${KNOWN_KEYS[@]}"; do
      if [[ $k == "$key" ]]; then
        known=true
        break
      fi
    done
    $known || warn "$ENV_FILE line ${CFG_LINE[$key]}: unknown setting $key (ignored)"
  done
}

# ---------------------------------------------------------------- value checks
lower() { printf '%s' "${1,,}"; }

# check_bool KEY DEFAULT: records a problem unless the value is true/false; normalises it in CFG.
check_bool() {
  local key=$1 v
  v=$(lower "$(cfg "$key" "$2")")
  case $v in
    true | false) CFG[$key]=$v ;;
    *) problem "$key must be true or false (got '$(cfg "$key")')" ;;
  esac
}

is_true() { [[ $(lower "$(cfg "$1" "${2:-false}")") == true ]]; }

is_placeholder() {
  local v=${1^^}
  [[ -z $1 || $v == *CHANGE_ME* || $v == *CHANGEME* || $v == \<*\> || $v == *REPLACE_ME* ]]
}

check_required_secret() {
  local key=$1 v
  v=$(cfg "$key")
  if [[ -z $v ]]; then
    problem "$key is empty"
  elif is_placeholder "$v"; then
    problem "$key still holds a placeholder value"
  fi
}

# check_url KEY: https URL (http only for loopback, for local tests).
check_url() {
  local key=$1 v
  v=$(cfg "$key")
  if [[ -z $v ]]; then
    problem "$key is empty"
  elif is_placeholder "$v"; then
    problem "$key still holds a placeholder value ($v)"
  elif [[ ! $v =~ ^https://[^[:space:]/?#]+([/?#][^[:space:]]*)?$ && ! $v =~ ^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/[^[:space:]]*)?$ ]]; then
    problem "$key is not an https:// URL (got '$v')"
  fi
}

check_int_range() {
  local key=$1 def=$2 min=$3 max=$4 v
  v=$(cfg "$key" "$def")
  if [[ ! $v =~ ^[0-9]+$ ]] || ((10#$v < min || 10#$v > max)); then
    problem "$key must be a whole number from $min to $max (got '$v')"
  fi
}

check_enum() {
  local key=$1 def=$2 v a
  shift 2
  v=$(cfg "$key" "$def")
  for a in "$@"; do
    [[ $v == "$a" ]] && return 0
  done
  problem "$key must be one of: $* (got '$v')"
}

REGION_RE='^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$'
ROLE_RE='^(arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+|[A-Za-z0-9+=,.@_-]{1,64})$'

check_role() {
  local key=$1 v
  v=$(cfg "$key")
  [[ -z $v ]] && return 0
  [[ $v =~ $ROLE_RE ]] || problem "$key must be an IAM role ARN or a role name (got '$v')"
}

# A readable CSV file; relative paths are relative to the .env file's directory.
resolve_path() {
  local p=$1
  if [[ $p == /* ]]; then printf '%s' "$p"; else printf '%s/%s' "$(dirname -- "$ENV_FILE")" "$p"; fi
}

check_file() {
  local key=$1 what=$2 v p
  v=$(cfg "$key")
  if [[ -z $v ]]; then
    problem "$key is empty but $what"
    return 1
  fi
  p=$(resolve_path "$v")
  if [[ ! -f $p || ! -r $p ]]; then
    problem "$key: $p is not a readable file"
    return 1
  fi
  return 0
}

# csv_values FILE: "LINE<TAB>VALUE", the first column of every data line with its line number (comments, blank
# lines and a header line skipped).
csv_values() {
  local file=$1 line first n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# ]] && continue
    first=${line%%,*}
    first=${first//[[:space:]\"]/}
    [[ -z $first ]] && continue
    case ${first,,} in account | account_id | accountid | ou | ou_id | target | targets) continue ;; esac
    printf '%s\t%s\n' "$n" "$first"
  done <"$file"
}

# report_bad_lines KEY WHAT LINES... : one problem naming the bad line numbers (at most 10) and only the first bad
# value, cut short, so that a file that is not what it should be (/etc/passwd, say) is never echoed into the output.
report_bad_lines() {
  local key=$1 what=$2 first=$3
  shift 3
  local lines=("$@") shown more=""
  shown=$(IFS=,; echo "${lines[*]:0:10}")
  ((${#lines[@]} > 10)) && more=" and $((${#lines[@]} - 10)) more"
  first=${first:0:24}
  first=${first//[^[:print:]]/?}
  problem "$key: line(s) ${shown//,/, }$more: not $what (the first bad value starts '$first')"
}

# ---------------------------------------------------------------- confirmation
# confirm "question": true with --yes; otherwise asks on the terminal; refuses without one.
confirm() {
  local answer tty=""
  if $ASSUME_YES; then return 0; fi
  if [[ -t 0 ]]; then
    tty=/dev/stdin
  elif { : </dev/tty; } 2>/dev/null; then
    tty=/dev/tty
  fi
  if [[ -z $tty ]]; then
    log "error: $1 -- no terminal to ask on; run again with --yes to proceed"
    return 1
  fi
  printf '%s [y/N] ' "$1" >&2
  IFS= read -r answer <"$tty" || answer=""
  [[ $answer == y || $answer == Y || $answer == yes || $answer == YES ]]
}

# ---------------------------------------------------------------- table
# print_table: tab-separated lines on stdin, the first one the header.
print_table() {
  column -t -s $'\t' 2>/dev/null || cat
}
