#!/usr/bin/env bash
# One-time setup of what the Cloud Tasks backend needs, as django-database-task documents it:
# the Cloud Tasks queues, the invoker service account whose OIDC tokens the handler checks,
# and the IAM bindings (roles/cloudtasks.enqueuer, roles/iam.serviceAccountUser, and on
# Cloud Run roles/run.invoker).
#
#   PROJECT_ID=my-project REGION=us-central1 PLATFORM=cloudrun|appengine QUEUES="default emails" bash deploy/setup-gcp.sh
set -euo pipefail

: "${PROJECT_ID:?set PROJECT_ID}"
: "${REGION:?set REGION (the Cloud Tasks location, e.g. us-central1)}"
PLATFORM=${PLATFORM:-cloudrun}
QUEUES=${QUEUES:-default}
SERVICE=${SERVICE:-database-task}
INVOKER=${INVOKER:-cloud-tasks-invoker}
INVOKER_EMAIL="${INVOKER}@${PROJECT_ID}.iam.gserviceaccount.com"

case "$PLATFORM" in
  cloudrun) APP_SA=${APP_SA:-database-task-app@${PROJECT_ID}.iam.gserviceaccount.com} ;;
  appengine) APP_SA=${APP_SA:-${PROJECT_ID}@appspot.gserviceaccount.com} ;;
  *) echo "PLATFORM must be cloudrun or appengine, got: $PLATFORM" >&2; exit 2 ;;
esac

run() { echo "+ $*"; "$@"; }
exists() { "$@" >/dev/null 2>&1; }

run gcloud services enable cloudtasks.googleapis.com --project "$PROJECT_ID"

for queue in $QUEUES; do
  if exists gcloud tasks queues describe "$queue" --location "$REGION" --project "$PROJECT_ID"; then
    echo "queue $queue exists"
  else
    # Retries are Cloud Tasks': a failed task answers 500 and is delivered again with backoff.
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

if [ "$PLATFORM" = cloudrun ]; then
  # Cloud Run checks the OIDC token too: only the invoker may call the (private) service.
  if exists gcloud run services describe "$SERVICE" --region "$REGION" --project "$PROJECT_ID"; then
    run gcloud run services add-iam-policy-binding "$SERVICE" --region "$REGION" --project "$PROJECT_ID" \
      --member "serviceAccount:${INVOKER_EMAIL}" --role roles/run.invoker
  else
    echo "Cloud Run service $SERVICE does not exist yet: run deploy/cloudrun.sh, then this script again for roles/run.invoker."
  fi
fi

echo
echo "Done. In database-task.config.ts, set the cloudtasks backend option:"
echo "  serviceAccountEmail: \"${INVOKER_EMAIL}\""
