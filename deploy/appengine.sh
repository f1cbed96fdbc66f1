#!/usr/bin/env bash
# Deploys the handler to App Engine standard (app.yaml) and its cron jobs (cron.yaml), after
# deploy/setup-gcp.sh. Cron jobs are not part of a version: only deploying cron.yaml itself
# creates or changes them, so both files go in one `gcloud app deploy`.
#   PROJECT_ID=my-project bash deploy/appengine.sh [--version v2] [--no-promote]
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID}"
cd "$(dirname "$0")/.."
echo "+ gcloud app deploy app.yaml cron.yaml --project $PROJECT_ID $*"
gcloud app deploy app.yaml cron.yaml --project "$PROJECT_ID" --quiet "$@"
echo "Handler: $(gcloud app describe --project "$PROJECT_ID" --format 'value(defaultHostname)')/tasks/execute/{task_id}/"
