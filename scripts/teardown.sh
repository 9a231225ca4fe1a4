#!/usr/bin/env bash
# Removes every trace of apitap: the StackSet and its instances, the plain stack, the artifacts and the managed buckets.
# Each step tolerates what an earlier, interrupted run already removed.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"
# shellcheck source=lib/settings.sh
. "$LIB_DIR/settings.sh"
# shellcheck source=lib/aws.sh
. "$LIB_DIR/aws.sh"
# shellcheck source=lib/stack.sh
. "$LIB_DIR/stack.sh"

main() {
  parse_common_args "$@"
  if ((${#EXTRA_ARGS[@]})); then
    usage_common ""
    [[ ${EXTRA_ARGS[0]} == -h || ${EXTRA_ARGS[0]} == --help ]] && exit 0
    exit 2
  fi
  make_work_dir
  load_settings teardown
  plain_stack_settings

  local buckets=()
  mapfile -t buckets < <(our_buckets)
  local names=("${buckets[@]%% *}")
  info "account $ACCOUNT_ID: teardown will remove"
  log "    StackSet $SS_NAME in $SS_REGION with every instance (stacks not retained)"
  log "    plain stack $STACK_NAME in $STACK_REGION, if it exists"
  if is_true DELETE_ARTIFACTS_ON_DESTROY true; then
    if is_true MANAGE_BUCKETS true; then
      log "    buckets (with every object): ${names[*]:-none found}"
    else
      log "    objects under $ARTIFACT_PREFIX/ and state/ in: ${names[*]:-none found} (buckets are not managed: they stay)"
    fi
  else
    log "    (DELETE_ARTIFACTS_ON_DESTROY=false: artifacts and buckets stay)"
  fi
  confirm "Delete all of this?" || die "cancelled; nothing was removed"

  # The StackSet goes first: its custom resource restores the stage settings it recorded in the artifact bucket.
  delete_stack_set || die "the StackSet could not be removed; artifacts are kept (run teardown.sh again once it is fixed)"
  delete_plain_stack || die "the plain stack could not be removed; artifacts are kept (run teardown.sh again once it is fixed)"

  is_true DELETE_ARTIFACTS_ON_DESTROY true || {
    info "done (artifacts kept)"
    return 0
  }
  local entry b r
  for entry in "${buckets[@]}"; do
    b=${entry%% *}
    r=${entry##* }
    if is_true MANAGE_BUCKETS true; then
      empty_bucket "$b" "$r" ""
      info "deleting bucket $b"
      aws s3api delete-bucket --bucket "$b" --region "$r"
    else
      empty_bucket "$b" "$r" "$ARTIFACT_PREFIX/"
      empty_bucket "$b" "$r" "state/"
    fi
  done
  info "done"
}

# our_buckets: "name region" for every existing bucket named BUCKET_PREFIX-<region>, in any region,
# so that buckets of regions since dropped from AWS_REGIONS go too.
our_buckets() {
  aws s3api list-buckets --query 'Buckets[].Name' --output json | jq -r '.[]' | while IFS= read -r b; do
    [[ $b == "$BUCKET_PREFIX-"* ]] || continue
    local r=${b#"$BUCKET_PREFIX-"}
    [[ $r =~ $REGION_RE ]] || continue
    printf '%s %s\n' "$b" "$r"
  done
}

# empty_bucket BUCKET REGION PREFIX: every object version and delete marker under PREFIX, 1000 at a time.
empty_bucket() {
  local b=$1 r=$2 prefix=$3 batch n
  while true; do
    batch=$(aws s3api list-object-versions --bucket "$b" --region "$r" --prefix "$prefix" --max-items 1000 --output json |
      jq -c '{Objects: ([(.Versions // [])[], (.DeleteMarkers // [])[] | {Key, VersionId}] | .[:1000]), Quiet: true}')
    n=$(jq '.Objects | length' <<<"$batch")
    ((n == 0)) && return 0
    info "deleting $n object(s) from s3://$b/$prefix"
    printf '%s\n' "$batch" >"$WORK_DIR/delete.json"
    aws s3api delete-objects --bucket "$b" --region "$r" --delete "file://$WORK_DIR/delete.json" >/dev/null
  done
}

main "$@"
