#!/usr/bin/env bash
# Builds the image from source and deploys cloudrun.yaml, after deploy/setup-gcp.sh.
#   PROJECT_ID=my-project REGION=us-central1 bash deploy/cloudrun.sh
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID}"
: "${REGION:?set REGION}"
SERVICE=${SERVICE:-database-task}
IMAGE=${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT_ID}/cloud-run-source-deploy/${SERVICE}:$(date +%Y%m%d-%H%M%S)}
cd "$(dirname "$0")/.."

echo "+ gcloud builds submit --pack image=$IMAGE (buildpacks run npm start: node handler/index.ts)"
gcloud builds submit --pack "image=$IMAGE" --project "$PROJECT_ID" .

manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
sed -e "s|PROJECT_ID|${PROJECT_ID}|g" -e "s|REGION|${REGION}|g" -e "s|IMAGE|${IMAGE}|g" \
  -e "s|name: database-task$|name: ${SERVICE}|" cloudrun.yaml > "$manifest"
echo "+ gcloud run services replace (cloudrun.yaml) --region $REGION"
gcloud run services replace "$manifest" --region "$REGION" --project "$PROJECT_ID"
# Private service: only the invoker account (roles/run.invoker, set by setup-gcp.sh) may call it.
echo "URL: $(gcloud run services describe "$SERVICE" --region "$REGION" --project "$PROJECT_ID" --format 'value(status.url)')"
