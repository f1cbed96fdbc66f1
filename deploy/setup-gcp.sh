#!/usr/bin/env bash
# One-time setup of what the Cloud Tasks backend needs, as django-database-task documents it:
# the Cloud Tasks queues, the invoker service account whose OIDC tokens the handler checks,
# and the IAM bindings (roles/cloudtasks.enqueuer, roles/iam.serviceAccountUser, and on
# Cloud Run roles/run.invoker). On Cloud Run it also creates the Cloud Scheduler job that calls
# POST /tasks/maintain/ every minute; on App Engine cron.yaml does that (deploy/appengine.sh).
#
#   PROJECT_ID=my-project REGION=us-central1 PLATFORM=cloudrun|appengine QUEUES="default emails" bash deploy/setup-gcp.sh
#
# Optional on Cloud Run, for the maintenance job: SCHEDULER_JOB (default SERVICE-maintain),
# SCHEDULER_LOCATION (default REGION; Cloud Scheduler is not offered in every region),
# SERVICE_URL (default the deterministic https://SERVICE-PROJECT_NUMBER.REGION.run.app) and
# AUDIENCE (default SERVICE_URL's origin, which is what the handler checks unless the cloudtasks
# backend's `audience` option says otherwise).
set -euo pipefail

: "${PROJECT_ID:?set PROJECT_ID}"
: "${REGION:?set REGION (the Cloud Tasks location, e.g. us-central1)}"
PLATFORM=${PLATFORM:-cloudrun}
QUEUES=${QUEUES:-default}
SERVICE=${SERVICE:-database-task}
INVOKER=${INVOKER:-cloud-tasks-invoker}
INVOKER_EMAIL="${INVOKER}@${PROJECT_ID}.iam.gserviceaccount.com"
SCHEDULER_JOB=${SCHEDULER_JOB:-${SERVICE}-maintain}
SCHEDULER_LOCATION=${SCHEDULER_LOCATION:-$REGION}
case "${SERVICE_URL:-https://}" in
  https://* | http://*) ;;
  *) echo "SERVICE_URL must be a URL such as https://tasks.example.com, got: $SERVICE_URL" >&2; exit 2 ;;
esac

case "$PLATFORM" in
  cloudrun) APP_SA=${APP_SA:-database-task-app@${PROJECT_ID}.iam.gserviceaccount.com} ;;
  appengine) APP_SA=${APP_SA:-${PROJECT_ID}@appspot.gserviceaccount.com} ;;
  *) echo "PLATFORM must be cloudrun or appengine, got: $PLATFORM" >&2; exit 2 ;;
esac

run() { echo "+ $*"; "$@"; }
exists() { "$@" >/dev/null 2>&1; }

run gcloud services enable cloudtasks.googleapis.com --project "$PROJECT_ID"
# The maintenance pass is started by Cloud Scheduler on both platforms: on Cloud Run by the job
# created below, on App Engine by cron.yaml, which `gcloud app deploy cron.yaml` writes through
# the Cloud Scheduler API.
run gcloud services enable cloudscheduler.googleapis.com --project "$PROJECT_ID"

for queue in $QUEUES; do
  if exists gcloud tasks queues describe "$queue" --location "$REGION" --project "$PROJECT_ID"; then
    echo "queue $queue exists"
  else
    # Retries are Cloud Tasks': a failed task answers 500 and is delivered again with backoff.
    # MAX_ATTEMPTS counts the first delivery too (no --max-retry-duration is set, so the attempts
    # are the limit). The wait starts at MIN_BACKOFF and doubles up to MAX_BACKOFF: with the
    # defaults 5s, 10s, 20s, ... 320s, 600s, 600s, so the 10th and last attempt comes about
    # 30 minutes after the first. Then Cloud Tasks drops the task. If its row in the database
    # is still READY at that point (e.g. every delivery timed out or was refused), the
    # maintenance job (POST /tasks/maintain/, every minute) re-creates its Cloud Task, so the
    # task is delivered again rather than left waiting forever.
    run gcloud tasks queues create "$queue" --location "$REGION" --project "$PROJECT_ID" \
      --max-attempts "${MAX_ATTEMPTS:-10}" --min-backoff "${MIN_BACKOFF:-5s}" --max-backoff "${MAX_BACKOFF:-600s}"
  fi
done

if [ "$PLATFORM" = cloudrun ] && ! exists gcloud iam service-accounts describe "$APP_SA" --project "$PROJECT_ID"; then
  run gcloud iam service-accounts create "${APP_SA%%@*}" --display-name "database-task app" --project "$PROJECT_ID"
fi
if ! exists gcloud iam service-accounts describe "$INVOKER_EMAIL" --project "$PROJECT_ID"; then
  run gcloud iam service-accounts create "$INVOKER" --display-name "Cloud Tasks Invoker" --project "$PROJECT_ID"
fi

# The app creates tasks...
run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
  --member "serviceAccount:${APP_SA}" --role roles/cloudtasks.enqueuer --condition None
# ...and names the invoker account in their oidc_token, which needs actAs on it.
run gcloud iam service-accounts add-iam-policy-binding "$INVOKER_EMAIL" \
  --member "serviceAccount:${APP_SA}" --role roles/iam.serviceAccountUser --project "$PROJECT_ID"

# The Cloud Scheduler job that calls POST /tasks/maintain/ on Cloud Run every minute. Cloud Run
# gives an instance CPU only while it serves a request and scales to zero, so no timer inside the
# handler can be relied on. The job signs its requests with an OIDC token of the invoker account,
# the same check as Cloud Tasks' deliveries: Cloud Run lets it in (roles/run.invoker), and the
# handler accepts it when `aud` is the audience it expects. Whoever runs this script needs
# iam.serviceAccounts.actAs on the invoker account (project owners have it).
maintenance_job() {
  local url=${SERVICE_URL:-}
  if [ -z "$url" ]; then
    local number label
    number=$(gcloud projects describe "$PROJECT_ID" --format 'value(projectNumber)')
    [ -n "$number" ] || { echo "gcloud projects describe $PROJECT_ID gave no projectNumber" >&2; exit 1; }
    label=$(printf '%s' "${SERVICE}-${number}" | tr '[:upper:]' '[:lower:]')
    if [ "${#label}" -gt 63 ]; then
      echo "\"$label\" is longer than a hostname label (63 characters), so the service has no"
      echo "https://SERVICE-PROJECT_NUMBER.REGION.run.app URL. Set SERVICE_URL to the URL that"
      echo "\`gcloud run services describe $SERVICE\` shows (and AUDIENCE to the backend's \`audience\`),"
      echo "then run this script again for the Cloud Scheduler job that calls /tasks/maintain/."
      return 0
    fi
    url="https://${label}.${REGION}.run.app"
  fi
  url=${url%/}
  # The handler's default audience is the origin (scheme://host) of its URL, not the full URL.
  local rest=${url#*://}
  local audience=${AUDIENCE:-${url%%://*}://${rest%%/*}}
  # Every minute; no retries (--max-retry-attempts 0): the next run comes a minute later anyway,
  # and Cloud Scheduler never starts a run while the previous one is outstanding, so runs do
  # not pile up. A pass is bounded to about 20 s; the attempt deadline leaves room for a cold start.
  local flags=(--location "$SCHEDULER_LOCATION" --project "$PROJECT_ID"
    --schedule "* * * * *" --uri "${url}/tasks/maintain/" --http-method POST
    --oidc-service-account-email "$INVOKER_EMAIL" --oidc-token-audience "$audience"
    --attempt-deadline 60s --max-retry-attempts 0
    --description "database-task maintenance: re-dispatches lost Cloud Tasks, recovers expired leases")
  if exists gcloud scheduler jobs describe "$SCHEDULER_JOB" --location "$SCHEDULER_LOCATION" --project "$PROJECT_ID"; then
    run gcloud scheduler jobs update http "$SCHEDULER_JOB" "${flags[@]}"
  else
    run gcloud scheduler jobs create http "$SCHEDULER_JOB" "${flags[@]}"
  fi
}

if [ "$PLATFORM" = cloudrun ]; then
  # Cloud Run checks the OIDC token too: only the invoker may call the (private) service.
  if exists gcloud run services describe "$SERVICE" --region "$REGION" --project "$PROJECT_ID"; then
    run gcloud run services add-iam-policy-binding "$SERVICE" --region "$REGION" --project "$PROJECT_ID" \
      --member "serviceAccount:${INVOKER_EMAIL}" --role roles/run.invoker
    maintenance_job
  else
    echo "Cloud Run service $SERVICE does not exist yet: run deploy/cloudrun.sh, then this script again for roles/run.invoker"
    echo "and the Cloud Scheduler job $SCHEDULER_JOB that calls POST /tasks/maintain/ every minute."
  fi
else
  echo "Maintenance on App Engine: cron.yaml calls /tasks/maintain/ every minute; deploy/appengine.sh deploys it with app.yaml."
fi

echo
echo "Done. In database-task.config.ts, set the cloudtasks backend option:"
echo "  serviceAccountEmail: \"${INVOKER_EMAIL}\""
