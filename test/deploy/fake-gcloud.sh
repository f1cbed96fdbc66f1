#!/usr/bin/env bash
# Stand-in for gcloud, put first on PATH by test/deploy/fake-gcloud.ts. It records each call in
# $FAKE_GCLOUD_DIR: calls.log holds "$*" (one line a call), argv.log the working directory and
# every argument separated by \x1f, so a call can be replayed exactly. A file passed by absolute
# path (the scripts' temporary manifests, deleted when they exit) is copied to $FAKE_GCLOUD_FILES
# (default $FAKE_GCLOUD_DIR/files) first and recorded as the copy.
# It answers like a project where nothing exists yet: describe calls fail, except those that
# contain one of the |-separated strings in FAKE_GCLOUD_EXISTS; `projects describe` prints
# FAKE_PROJECT_NUMBER (default 123456789012); everything else succeeds silently.
set -u
dir=${FAKE_GCLOUD_DIR:?FAKE_GCLOUD_DIR is not set}
files=${FAKE_GCLOUD_FILES:-$dir/files}
echo "$*" >> "$dir/calls.log"
line=$PWD
for arg in "$@"; do
  if [[ $arg == /* && -f $arg ]]; then
    mkdir -p "$files"
    copy="$files/$(date +%s%N)-${arg##*/}"
    cp "$arg" "$copy"
    arg=$copy
  fi
  line+=$'\x1f'"$arg"
done
printf '%s\n' "$line" >> "$dir/argv.log"

case "$*" in
  "projects describe "*)
    echo "${FAKE_PROJECT_NUMBER:-123456789012}"
    exit 0 ;;
  *describe*)
    IFS='|' read -r -a existing <<< "${FAKE_GCLOUD_EXISTS:-}"
    for name in "${existing[@]}"; do
      [[ -n $name && "$*" == *"$name"* ]] && exit 0
    done
    exit 1 ;;
esac
exit 0
