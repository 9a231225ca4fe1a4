#!/usr/bin/env bash
# Applies, removes or shows apitap's Message Logging policy on MuleSoft Flex Gateway through Anypoint API Manager:
# an automated policy for the environment (FLEX_APIS=all) or one policy per API instance (FLEX_APIS=id,id), carrying
# the message layout the Flex stitcher reads (docs/flex-gateway.md, "The message layout apitap's policy configures").
# What is ours is what carries FLEX_POLICY_LABEL: the per-API policies' `label`, and for automated policies (which
# have no label) the item names `<label>:<field>`; nothing else is ever changed. Settings come from the .env
# (docs/configuration-deploy.md, "Flex Gateway policy script").
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 077

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"
# shellcheck source=lib/settings.sh
. "$LIB_DIR/settings.sh"

ML_GROUP=68ef9520-24e9-4cf2-b2f5-620025690913
ML_ASSET=message-logging
CONTROL_PLANES=(https://anypoint.mulesoft.com https://eu1.anypoint.mulesoft.com https://gov.anypoint.mulesoft.com)

# The items of apitap's layout, in order: name suffix, category, section, DataWeave message (tab-separated). This is
# the table of docs/flex-gateway.md; Tests/flexpolicy/run.sh compares the two.
LAYOUT=$(
  cat <<'EOF'
req-line	CQ1	firstSection	#['CQ1 ' ++ (vars.reqId default '-') ++ ' req.line ' ++ (attributes.method default '-') ++ ' ' ++ (attributes.scheme default '-') ++ ' ' ++ (attributes.version default '-') ++ ' ' ++ (attributes.requestUri default '-')]
req-meta	CQ1	firstSection	#['CQ1 ' ++ (vars.reqId default '-') ++ ' req.meta ' ++ (vars.receivedTs default '-') ++ ' ' ++ (attributes.remoteAddress default '-') ++ ' ' ++ (attributes.localAddress default '-') ++ ' ' ++ (vars.apiId default '-')]
req-headers	CQ1.req.headers	firstSection	#[attributes.headers]
req-body	CQ1	firstSection	#['CQ1 ' ++ (vars.reqId default '-') ++ ' req.body ' ++ (payload default '')]
res-status	CQ1.res.status	secondSection	#[attributes.statusCode]
res-headers	CQ1.res.headers	secondSection	#[attributes.headers]
res-body	CQ1	secondSection	#['CQ1 ' ++ (vars.reqId default '-') ++ ' res.body ' ++ (payload default '')]
EOF
)

ACTION=""
AP_BASE=""
AP_ORG=""
AP_ENV=""
AP_CLIENT_ID=""
AP_SECRET=""
AP_SECRET_NAME=""
LABEL=""
ASSET_VERSION=""
API_IDS=() # empty: the automated policy for the environment
API=""     # {base}/apimanager/api/v1/organizations/{org}
RETRY_SECONDS=${FLEX_POLICY_RETRY_SECONDS:-1}
HTTP_STATUS=000
WRITES=0

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") apply|remove|show [--env-file FILE] [--yes]
  apply    apply apitap's Message Logging policy: automated for ANYPOINT_ENV_ID (FLEX_APIS=all) or on each API
           instance FLEX_APIS lists; ours already there is updated, ours elsewhere in the environment removed
  remove   delete every policy in the environment that carries FLEX_POLICY_LABEL (nothing else)
  show     list the policies in the environment that carry FLEX_POLICY_LABEL
  --env-file FILE  settings file (default: .env in the repository root; --env FILE is the same)
  --yes            do not ask for confirmation
EOF
}

parse_args() {
  while (($#)); do
    case $1 in
      apply | remove | show)
        [[ -z $ACTION ]] || die "one action only (got $ACTION and $1)"
        ACTION=$1
        shift
        ;;
      --env-file | --env)
        (($# >= 2)) || die "$1 needs a file name"
        ENV_FILE=$2
        shift 2
        ;;
      --env-file=* | --env=*)
        ENV_FILE=${1#*=}
        shift
        ;;
      --yes | -y)
        ASSUME_YES=true
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage
        exit 2
        ;;
    esac
  done
  if [[ -z $ACTION ]]; then
    usage
    exit 2
  fi
  [[ -n $ENV_FILE ]] || ENV_FILE="$REPO_ROOT/.env"
}

# ---------------------------------------------------------------- settings

load_policy_settings() {
  env_load "$ENV_FILE" || true
  check_unknown_keys
  command -v curl >/dev/null 2>&1 || problem "curl is not installed (needed to call Anypoint)"
  command -v jq >/dev/null 2>&1 || problem "jq is not installed (needed to build and read JSON)"

  check_required_secret ANYPOINT_CLIENT_ID
  AP_CLIENT_ID=$(cfg ANYPOINT_CLIENT_ID)
  [[ -z $AP_CLIENT_ID || $AP_CLIENT_ID =~ ^[A-Za-z0-9._-]{1,128}$ ]] || problem "ANYPOINT_CLIENT_ID is not a Connected App client id"

  # The secret: the process environment's ANYPOINT_CLIENT_SECRET, else the .env's, else Secrets Manager.
  AP_SECRET=${ANYPOINT_CLIENT_SECRET:-$(cfg ANYPOINT_CLIENT_SECRET)}
  AP_SECRET_NAME=$(cfg ANYPOINT_CLIENT_SECRET_NAME)
  if [[ -n $AP_SECRET && -n $AP_SECRET_NAME ]]; then
    problem "ANYPOINT_CLIENT_SECRET and ANYPOINT_CLIENT_SECRET_NAME are both set: give the secret one way"
  elif [[ -z $AP_SECRET && -z $AP_SECRET_NAME ]]; then
    problem "no client secret: set ANYPOINT_CLIENT_SECRET_NAME (a Secrets Manager secret) or ANYPOINT_CLIENT_SECRET (in the environment or the .env)"
  elif [[ -n $AP_SECRET ]] && is_placeholder "$AP_SECRET"; then
    problem "ANYPOINT_CLIENT_SECRET still holds a placeholder value"
  elif [[ -n $AP_SECRET_NAME ]]; then
    [[ $AP_SECRET_NAME =~ ^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+|[A-Za-z0-9/_+=.@-]{1,512})$ ]] ||
      problem "ANYPOINT_CLIENT_SECRET_NAME must be a Secrets Manager secret name or ARN (got '$AP_SECRET_NAME')"
    command -v aws >/dev/null 2>&1 || problem "the aws CLI is not installed or not on PATH (needed to read ANYPOINT_CLIENT_SECRET_NAME)"
  fi

  local key v
  for key in ANYPOINT_ORG_ID ANYPOINT_ENV_ID; do
    v=$(cfg "$key")
    if [[ -z $v ]]; then
      problem "$key is empty"
    elif is_placeholder "$v"; then
      problem "$key still holds a placeholder value"
    elif [[ ! $v =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,63}$ ]]; then
      problem "$key must be an Anypoint id (letters, digits and hyphens; got '$v')"
    fi
  done
  AP_ORG=$(cfg ANYPOINT_ORG_ID)
  AP_ENV=$(cfg ANYPOINT_ENV_ID)

  AP_BASE=$(cfg ANYPOINT_BASE_URL "${CONTROL_PLANES[0]}")
  AP_BASE=${AP_BASE%/}
  if [[ " ${CONTROL_PLANES[*]} " != *" $AP_BASE "* && ! $AP_BASE =~ ^http://(127\.0\.0\.1|localhost):[0-9]{1,5}$ ]]; then
    problem "ANYPOINT_BASE_URL must be one of ${CONTROL_PLANES[*]} (US, EU, Gov) (got '$AP_BASE')"
  fi
  API="$AP_BASE/apimanager/api/v1/organizations/$AP_ORG"

  LABEL=$(cfg FLEX_POLICY_LABEL apitap-message-logging)
  [[ $LABEL =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    problem "FLEX_POLICY_LABEL must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (got '$LABEL')"
  ASSET_VERSION=$(cfg FLEX_POLICY_ASSET_VERSION 2.0.2)
  [[ $ASSET_VERSION =~ ^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$ ]] ||
    problem "FLEX_POLICY_ASSET_VERSION must be a version such as 2.0.2 (got '$ASSET_VERSION')"

  local apis id list seen=" " given=0
  apis=$(cfg FLEX_APIS all)
  apis=${apis//[[:space:]]/}
  if [[ ${apis,,} != all ]]; then
    IFS=, read -r -a list <<<"$apis"
    for id in "${list[@]}"; do
      [[ -z $id ]] && continue
      given=$((given + 1))
      if [[ ! $id =~ ^[0-9]{1,12}$ ]]; then
        problem "FLEX_APIS: '$id' is not an API instance id (the policy script needs the numeric ids API Manager shows; or all)"
        continue
      fi
      [[ $seen == *" $id "* ]] && continue
      seen+="$id "
      API_IDS+=("$id")
    done
    ((given)) || problem "FLEX_APIS lists no API instance id (use all for the automated policy)"
  fi
  [[ $RETRY_SECONDS =~ ^[0-9]+(\.[0-9]+)?$ ]] || problem "FLEX_POLICY_RETRY_SECONDS must be a number of seconds (got '$RETRY_SECONDS')"
  report_problems
}

# ---------------------------------------------------------------- HTTP

# urlencode TEXT: form/URL encoding (every byte but unreserved ones as %XX), in bash: no secret on a command line.
urlencode() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c" && out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# short_reply FILE: the server's message (JSON `message`/`error_description`/`error`, else the text), one line, cut.
short_reply() {
  local text
  text=$(jq -r 'if type == "object" then (.message // .error_description // .error // tostring) else tostring end' "$1" 2>/dev/null ||
    head -c 300 "$1")
  text=${text//[^[:print:]]/ }
  printf '%s' "${text:0:200}"
}

# retry_wait ATTEMPT: Retry-After (seconds, at most 60) when the last answer had one, else RETRY_SECONDS × 2^(ATTEMPT-1).
retry_wait() {
  local ra
  ra=$(tr -d '\r' <"$WORK_DIR/headers" 2>/dev/null | awk 'tolower($1) == "retry-after:" {print $2}' | tail -1)
  if [[ $ra =~ ^[0-9]+$ ]] && ((ra <= 60)); then
    printf '%s' "$ra"
  else
    awk -v b="$RETRY_SECONDS" -v a="$1" 'BEGIN { printf "%g", b * 2 ^ (a - 1) }'
  fi
}

# curl_retry OUT ARGS...: curl with the answer's body in OUT and its status in HTTP_STATUS; 429s are retried (5
# attempts in all) with backoff, and so are 5xx and connection failures unless RETRY_FAILURES=false (a create: it may
# have been done, and a second one would be refused or doubled; a re-run finds it instead).
RETRY_FAILURES=true
curl_retry() {
  local out=$1 attempt=1 wait
  shift
  while :; do
    HTTP_STATUS=$(curl -sS --max-time 60 -o "$out" -D "$WORK_DIR/headers" -w '%{http_code}' "$@" 2>"$WORK_DIR/curl.err") || HTTP_STATUS=000
    case $HTTP_STATUS in
      429 | 5?? | 000)
        if ((attempt < 5)) && { [[ $HTTP_STATUS == 429 ]] || $RETRY_FAILURES; }; then
          wait=$(retry_wait "$attempt")
          if [[ $HTTP_STATUS == 000 ]]; then
            warn "no answer from $AP_BASE ($(head -c 200 "$WORK_DIR/curl.err" | tr -s '\n' ' ')); retrying in ${wait}s"
          else
            warn "HTTP $HTTP_STATUS from Anypoint; retrying in ${wait}s"
          fi
          sleep "$wait"
          attempt=$((attempt + 1))
          continue
        fi
        ;;
    esac
    [[ $HTTP_STATUS != 000 ]] || jq -n -c --rawfile e "$WORK_DIR/curl.err" '{message: ("no answer: " + ($e[0:200] | gsub("\\s+"; " ")))}' >"$out"
    return 0
  done
}

# get_token: a client-credentials token; the form (with the secret) goes to curl from a file in the private work
# directory, the token into a header file: neither is ever on a command line.
get_token() {
  local token RETRY_FAILURES=true # asking for a token again does no harm
  { printf 'grant_type=client_credentials&client_id=%s&client_secret=' "$(urlencode "$AP_CLIENT_ID")"; urlencode "$AP_SECRET"; } >"$WORK_DIR/form"
  curl_retry "$WORK_DIR/token.json" -X POST -H 'Content-Type: application/x-www-form-urlencoded' -H 'Accept: application/json' \
    --data-binary @"$WORK_DIR/form" "$AP_BASE/accounts/api/v2/oauth2/token"
  rm -f -- "$WORK_DIR/form"
  case $HTTP_STATUS in
    2??) ;;
    400 | 401 | 403) die "Anypoint refused the Connected App's credentials (HTTP $HTTP_STATUS: $(short_reply "$WORK_DIR/token.json")): check ANYPOINT_CLIENT_ID and its secret; $(unchanged)" ;;
    *) die "no token from $AP_BASE (HTTP $HTTP_STATUS: $(short_reply "$WORK_DIR/token.json")); $(unchanged)" ;;
  esac
  token=$(jq -r '.access_token // empty' "$WORK_DIR/token.json" 2>/dev/null || true)
  rm -f -- "$WORK_DIR/token.json"
  [[ $token =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "the token endpoint answered without an access_token; $(unchanged)"
  printf 'Authorization: Bearer %s\n' "$token" >"$WORK_DIR/auth"
}

# call METHOD URL [BODY-FILE]: an API Manager call, the answer in $WORK_DIR/reply; a 401 fetches a new token once.
call() {
  local method=$1 url=$2 body=${3:-} renewed=false RETRY_FAILURES=true
  [[ $method != POST ]] || RETRY_FAILURES=false
  local args=(-X "$method" -H @"$WORK_DIR/auth" -H 'Accept: application/json')
  [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary @"$body")
  while :; do
    curl_retry "$WORK_DIR/reply" "${args[@]}" "$url"
    if [[ $HTTP_STATUS == 401 ]] && ! $renewed; then
      renewed=true
      get_token
      continue
    fi
    return 0
  done
}

# failed WHAT: the last call's failure as one line, with the scope to grant on a 403.
failed() {
  local hint=""
  [[ $HTTP_STATUS == 403 ]] && hint=" (the Connected App needs View Policies and Manage Policies, and View APIs Configuration, on environment $AP_ENV)"
  printf '%s: HTTP %s: %s%s' "$1" "$HTTP_STATUS" "$(short_reply "$WORK_DIR/reply")" "$hint"
}

ok() { [[ $HTTP_STATUS == 2?? ]]; }

# unchanged: what a failure leaves behind.
unchanged() {
  if ((WRITES == 0)); then
    printf 'nothing was changed'
  else
    printf '%d change(s) were made before this failure; run the script again once it is fixed' "$WRITES"
  fi
}

# ---------------------------------------------------------------- the policy

config_json() {
  jq -c -R -s --arg lbl "$LABEL" '
    {loggingConfiguration: [split("\n")[] | select(length > 0) | split("\t") | {
      itemName: ($lbl + ":" + .[0]),
      itemData: {message: .[3], conditional: "#[true]", category: .[1], level: "INFO",
                 firstSection: (.[2] == "firstSection"), secondSection: (.[2] == "secondSection")}}]}' <<<"$LAYOUT"
}

automated_body() {
  jq -c -n --arg env "$AP_ENV" --arg org "$AP_ORG" --arg g "$ML_GROUP" --arg a "$ML_ASSET" --arg v "$ASSET_VERSION" --argjson c "$CONFIG" \
    '{ruleOfApplication: {environmentId: $env, organizationId: $org, technologies: ["flexGateway"]},
      groupId: $g, assetId: $a, assetVersion: $v, configurationData: $c, disabled: false}'
}

api_body() { # api_body create|patch
  jq -c -n --arg mode "$1" --arg g "$ML_GROUP" --arg a "$ML_ASSET" --arg v "$ASSET_VERSION" --arg l "$LABEL" --argjson c "$CONFIG" \
    '{configurationData: $c, assetVersion: $v, label: $l, pointcutData: null, disabled: false}
     + (if $mode == "create" then {groupId: $g, assetId: $a} else {} end)'
}

# ---------------------------------------------------------------- reading what is there

AUTOMATED_OURS=()   # "id,version,state" of ours
AUTOMATED_OTHERS=() # ids of other Message Logging automated policies in the environment
ENV_APIS=()         # every API instance id of the environment (none when the Connected App may not list them)
declare -A API_OURS=()   # api id -> "pid,version,state pid,version,state ..."
declare -A API_OTHERS=() # api id -> other Message Logging policy ids

read_automated() {
  call GET "$API/automated-policies?environmentId=$AP_ENV"
  ok || die "$(failed "listing the automated policies of environment $AP_ENV"); $(unchanged)"
  local rows
  rows=$(jq -r --arg g "$ML_GROUP" --arg a "$ML_ASSET" --arg p "$LABEL:" --arg env "$AP_ENV" --argjson c "$CONFIG" --arg v "$ASSET_VERSION" '
    .automatedPolicies[]? | select(.groupId == $g and .assetId == $a and (.ruleOfApplication.environmentId // $env) == $env)
    | (.configurationData | if type == "object" then (.loggingConfiguration // []) else [] end) as $items
    | (($items | length) > 0 and all($items[]; (.itemName // "") | startswith($p))) as $ours
    | [(if $ours then "ours" else "other" end), (.id | tostring), (.assetVersion // "?"),
       (if .disabled == true then "disabled" elif .configurationData == $c and .assetVersion == $v then "current" else "outdated" end)]
    | @tsv' "$WORK_DIR/reply" 2>/dev/null) || die "the automated policy listing is not what API Manager documents; $(unchanged)"
  local kind id version state
  while IFS=$'\t' read -r kind id version state; do
    [[ -z $kind ]] && continue
    if [[ $kind == ours ]]; then AUTOMATED_OURS+=("$id,$version,$state"); else AUTOMATED_OTHERS+=("$id"); fi
  done <<<"$rows"
}

# list_env_apis: every API instance id of the environment (the listing pages by assets, not instances).
list_env_apis() {
  local offset=0 page n
  while :; do
    call GET "$AP_BASE/apimanager/api/v1/organizations/$AP_ORG/environments/$AP_ENV/apis?offset=$offset&limit=100"
    if [[ $HTTP_STATUS == 403 ]]; then
      return 1
    fi
    ok || die "$(failed "listing the API instances of environment $AP_ENV"); $(unchanged)"
    page=$(jq -r '.assets[]?.apis[]?.id | tostring' "$WORK_DIR/reply" 2>/dev/null) || die "the API listing is not what API Manager documents; $(unchanged)"
    [[ -z $page ]] || mapfile -t -O "${#ENV_APIS[@]}" ENV_APIS <<<"$page"
    n=$(jq '.assets | length' "$WORK_DIR/reply")
    ((n >= 100)) || break
    offset=$((offset + 100))
    ((offset < 100000)) || die "the API listing of environment $AP_ENV does not end; $(unchanged)"
  done
}

# read_api_policies API: ours (by label) and the other Message Logging policies on one API instance. The listing comes
# in three shapes (docs/posture.md); fullInfo=false lists disabled policies too, so ours is found even when disabled.
read_api_policies() {
  local api=$1 rows kind pid version disabled state
  call GET "$AP_BASE/apimanager/api/v1/organizations/$AP_ORG/environments/$AP_ENV/apis/$api/policies?fullInfo=false"
  ok || die "$(failed "listing the policies of API instance $api"); $(unchanged)"
  rows=$(jq -r --arg g "$ML_GROUP" --arg a "$ML_ASSET" --arg l "$LABEL" '
    (if type == "object" then (.policies // []) else . end)[]
    | {id: (.id // .policyId), group: (.groupId // .template.groupId // .implementationAsset.groupId),
       asset: (.assetId // .template.assetId // .implementationAsset.assetId),
       version: (.assetVersion // .template.assetVersion // .implementationAsset.version // "?"), label: .label, disabled: (.disabled == true)}
    | select(.group == $g and .asset == $a)
    | [(if .label == $l then "ours" else "other" end), (.id | tostring), .version, (.disabled | tostring)] | @tsv' "$WORK_DIR/reply" 2>/dev/null) ||
    die "the policy listing of API instance $api is not what API Manager documents; $(unchanged)"
  while IFS=$'\t' read -r kind pid version disabled; do
    [[ -z $kind ]] && continue
    if [[ $kind == other ]]; then
      API_OTHERS[$api]+="$pid "
      continue
    fi
    if [[ $disabled == true ]]; then
      state=disabled
    else
      call GET "$AP_BASE/apimanager/api/v1/organizations/$AP_ORG/environments/$AP_ENV/apis/$api/policies/$pid"
      ok || die "$(failed "reading policy $pid of API instance $api"); $(unchanged)"
      state=$(jq -r --argjson c "$CONFIG" --arg v "$ASSET_VERSION" \
        'if (.configurationData // .configuration) == $c and (.assetVersion // .template.assetVersion) == $v and .pointcutData == null
         then "current" else "outdated" end' "$WORK_DIR/reply" 2>/dev/null || echo outdated)
    fi
    API_OURS[$api]+="$pid,$version,$state "
  done <<<"$rows"
}

# read_state: everything ours (and the other Message Logging policies) in the environment. Per-API policies are read
# on every API instance of the environment; when the Connected App may not list them (no View APIs Configuration),
# applying per API is refused and otherwise only the automated policy is looked at, with a warning.
read_state() {
  read_automated
  local api check=()
  if list_env_apis; then
    check=("${ENV_APIS[@]}")
    for api in "${API_IDS[@]}"; do
      [[ " ${ENV_APIS[*]} " == *" $api "* ]] || problem "FLEX_APIS: API instance $api is not in environment $AP_ENV"
    done
    report_problems
  else
    if ((${#API_IDS[@]})); then
      die "$(failed "listing the API instances of environment $AP_ENV") (applying per API instance needs View APIs Configuration); $(unchanged)"
    fi
    warn "the Connected App may not list the API instances of $AP_ENV (View APIs Configuration): per-API policies are not looked at"
  fi
  for api in "${check[@]}"; do
    [[ -n $api ]] && read_api_policies "$api"
  done
  return 0
}

# ---------------------------------------------------------------- actions

show_table() {
  local row api id version state
  {
    printf 'ID\tSCOPE\tASSET\tVERSION\tLABEL\tSTATE\n'
    for row in "${AUTOMATED_OURS[@]}"; do
      IFS=, read -r id version state <<<"$row"
      printf '%s\tenvironment %s (automated)\t%s\t%s\t%s\t%s\n' "$id" "$AP_ENV" "$ML_ASSET" "$version" "$LABEL" "$state"
    done
    for api in $(sorted_apis); do
      while IFS=, read -r id version state; do
        printf '%s\tapi %s\t%s\t%s\t%s\t%s\n' "$id" "$api" "$ML_ASSET" "$version" "$LABEL" "$state"
      done < <(api_entries "$api")
    done | sort -t $'\t' -k2,2 -k1,1n
  } | print_table
  local others=""
  ((${#AUTOMATED_OTHERS[@]} == 0)) || others+=" automated ${AUTOMATED_OTHERS[*]};"
  for api in "${!API_OTHERS[@]}"; do others+=" api $api: ${API_OTHERS[$api]% };"; done
  [[ -z $others ]] || log "other Message Logging policies in $AP_ENV (not labelled $LABEL, left alone):${others%;}"
}

# The changes, as "verb<TAB>scope<TAB>api<TAB>id" lines: creates and updates first, deletes last, so that moving from
# one scope to the other never leaves the gateway without the policy.
PLAN=()

# api_entries API: the "pid,version,state" entries of ours on one API instance, one a line.
api_entries() { tr ' ' '\n' <<<"${API_OURS[$1]:-}" | sed '/^$/d'; }

# sorted_apis: the API instances with a policy of ours, in order.
sorted_apis() { printf '%s\n' "${!API_OURS[@]}" | sed '/^$/d' | sort -n; }

step() { printf '%s\t%s\t%s\t%s' "$@"; }

plan_apply() {
  local row api id state first writes=() deletes=()
  if ((${#API_IDS[@]} == 0)); then
    first=true
    for row in "${AUTOMATED_OURS[@]}"; do
      IFS=, read -r id _ state <<<"$row"
      if $first; then
        first=false
        [[ $state == current ]] || writes+=("$(step update automated - "$id")")
      else
        deletes+=("$(step delete automated - "$id")")
      fi
    done
    $first && writes+=("$(step create automated - -)")
    for api in $(sorted_apis); do
      while IFS=, read -r id _ _; do deletes+=("$(step delete api "$api" "$id")"); done < <(api_entries "$api")
    done
  else
    for api in "${API_IDS[@]}"; do
      first=true
      while IFS=, read -r id _ state; do
        if $first; then
          first=false
          [[ $state == current ]] || writes+=("$(step update api "$api" "$id")")
        else
          deletes+=("$(step delete api "$api" "$id")")
        fi
      done < <(api_entries "$api")
      $first && writes+=("$(step create api "$api" -)")
    done
    for api in $(sorted_apis); do
      [[ " ${API_IDS[*]} " == *" $api "* ]] && continue
      while IFS=, read -r id _ _; do deletes+=("$(step delete api "$api" "$id")"); done < <(api_entries "$api")
    done
    for row in "${AUTOMATED_OURS[@]}"; do deletes+=("$(step delete automated - "${row%%,*}")"); done
  fi
  PLAN=("${writes[@]}" "${deletes[@]}")
}

plan_remove() {
  local row api id
  for row in "${AUTOMATED_OURS[@]}"; do PLAN+=("$(step delete automated - "${row%%,*}")"); done
  for api in $(sorted_apis); do
    while IFS=, read -r id _ _; do PLAN+=("$(step delete api "$api" "$id")"); done < <(api_entries "$api")
  done
}

describe() { # describe VERB SCOPE API ID
  local what
  if [[ $2 == automated ]]; then what="the automated policy of environment $AP_ENV"; else what="the policy on API instance $3"; fi
  case $1 in
    create) printf 'create %s (%s %s, label %s)' "$what" "$ML_ASSET" "$ASSET_VERSION" "$LABEL" ;;
    update) printf 'update %s (id %s) to %s %s with the current layout' "$what" "$4" "$ML_ASSET" "$ASSET_VERSION" ;;
    delete) printf 'delete %s (id %s)' "$what" "$4" ;;
  esac
}

run_step() { # run_step VERB SCOPE API ID
  local verb=$1 scope=$2 api=$3 id=$4 url body="$WORK_DIR/body.json"
  if [[ $scope == automated ]]; then
    url="$API/automated-policies"
    automated_body >"$body"
  else
    url="$API/environments/$AP_ENV/apis/$api/policies"
    if [[ $verb == create ]]; then api_body create >"$body"; else api_body patch >"$body"; fi
  fi
  case $verb in
    create) call POST "$url" "$body" ;;
    update) call PATCH "$url/$id" "$body" ;;
    delete) call DELETE "$url/$id" ;;
  esac
  if [[ $verb == delete && $HTTP_STATUS == 404 ]]; then
    info "$(describe "$verb" "$scope" "$api" "$id"): already gone"
    return 0
  fi
  if ! ok; then
    if [[ $verb == create && ($HTTP_STATUS == 5?? || $HTTP_STATUS == 000) ]]; then
      die "$(failed "$(describe "$verb" "$scope" "$api" "$id")"); it may have been created all the same: run apply again, it finds it; $(unchanged)"
    fi
    if [[ $verb == create && $scope == automated && $HTTP_STATUS == 409 ]]; then
      die "environment $AP_ENV already has a Message Logging automated policy that is not labelled $LABEL (id(s) ${AUTOMATED_OTHERS[*]:-?}) and API Manager refused a second one (HTTP 409: $(short_reply "$WORK_DIR/reply")): remove that one, or apply per API instance (FLEX_APIS=id,id); $(unchanged)"
    fi
    die "$(failed "$(describe "$verb" "$scope" "$api" "$id")"); $(unchanged)"
  fi
  WRITES=$((WRITES + 1))
  info "$(describe "$verb" "$scope" "$api" "$id"): done"
}

execute_plan() {
  local step verb scope api id
  if ((${#PLAN[@]} == 0)); then
    info "nothing to change"
    return 0
  fi
  info "planned changes in environment $AP_ENV of organization $AP_ORG ($AP_BASE):"
  for step in "${PLAN[@]}"; do
    IFS=$'\t' read -r verb scope api id <<<"$step"
    log "    $(describe "$verb" "$scope" "$api" "$id")"
  done
  confirm "Proceed?" || die "cancelled; $(unchanged)"
  for step in "${PLAN[@]}"; do
    IFS=$'\t' read -r verb scope api id <<<"$step"
    run_step "$verb" "$scope" "$api" "$id"
  done
}

read_secret() {
  [[ -n $AP_SECRET_NAME ]] || return 0
  local region=() out
  # The secret's region: the ARN's, else AWS_REGION (the CLI reads only AWS_DEFAULT_REGION and its profile).
  if [[ $AP_SECRET_NAME =~ ^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+): ]]; then
    region=(--region "${BASH_REMATCH[1]}")
  elif [[ -n ${AWS_REGION:-} && -z ${AWS_DEFAULT_REGION:-} ]]; then
    region=(--region "$AWS_REGION")
  fi
  if ! out=$(aws secretsmanager get-secret-value "${region[@]}" --secret-id "$AP_SECRET_NAME" --query SecretString --output text 2>"$WORK_DIR/aws.err"); then
    die "cannot read the client secret from Secrets Manager ($AP_SECRET_NAME: $(head -c 200 "$WORK_DIR/aws.err" | tr -s '\n' ' ')); $(unchanged)"
  fi
  [[ -n $out && $out != None ]] || die "Secrets Manager secret $AP_SECRET_NAME holds no SecretString; $(unchanged)"
  AP_SECRET=$out
}

main() {
  parse_args "$@"
  make_work_dir
  load_policy_settings
  CONFIG=$(config_json)
  read_secret
  get_token
  read_state
  case $ACTION in
    show)
      show_table
      return 0
      ;;
    apply) plan_apply ;;
    remove) plan_remove ;;
  esac
  execute_plan
  if ((WRITES)); then
    # What is there now, read back.
    AUTOMATED_OURS=() AUTOMATED_OTHERS=() ENV_APIS=() PLAN=() API_OURS=() API_OTHERS=()
    read_state
  fi
  show_table
}

main "$@"
