#!/usr/bin/env bash
# The daily bulk-delete run in Docker, for cron: submit the new IDs of /exports/*.csv, then
# reconcile, then apply the retention policy (pseudonymize IDs 30 days after June finished
# them, erase their rows after 730), and log the outcome by exit code. See docker-run.md for
# setup and alerting.
#
# crontab (daily at 03:15; cron mails nothing, the log and syslog tell):
#   15 3 * * * /opt/bulk-delete/cron-docker.sh >>/var/log/bulk-delete.log 2>&1
set -uo pipefail

image="${BULK_DELETE_IMAGE:-bulk-delete:0.1.0}"
exports="${BULK_DELETE_EXPORTS:-/srv/june-exports}"       # host directory of ID files
key_file="${BULK_DELETE_KEY_FILE:-/etc/bulk-delete/june_api_key}"  # readable by UID 10001
# The pseudonyms' key: outside the state volume, so whoever reads the volume cannot reverse
# a pseudonym; kept as long as the evidence (docs/retention.md).
pseudonym_key="${BULK_DELETE_PSEUDONYM_KEY:-/etc/bulk-delete/pseudonym_key}"

# --name: a second copy (yesterday's run still going) fails at once instead of overlapping.
# --stop-timeout 30: `docker stop` waits 30 s before SIGKILL; bulk-delete needs a few.
# The glob is quoted: bulk-delete expands it inside the container, not the host's shell.
docker run --rm --name bulk-delete-daily \
    --stop-timeout 30 \
    --read-only --tmpfs /tmp \
    --cap-drop ALL --security-opt no-new-privileges \
    -v bulk-delete-data:/data \
    -v "$exports":/exports:ro \
    -v "$key_file":/run/secrets/june_api_key:ro \
    -v "$pseudonym_key":/run/secrets/pseudonym_key:ro \
    -e JUNE_API_KEY_FILE=/run/secrets/june_api_key \
    -e BULK_DELETE_PSEUDONYM_KEY_FILE=/run/secrets/pseudonym_key \
    -e BULK_DELETE_LOG_FORMAT=json \
    "$image" run '/exports/*.csv' --kind user --pseudonymize-after 30 --erase-after 730
code=$?

case $code in
    0) priority=info message="done: every ID accepted and finished at June" ;;
    3) priority=notice message="in progress: requests pending at June (normal for up to 72 h)" ;;
    4) priority=warning message="attention nobody acknowledged: IDs rejected, missing, unverified or overdue; read the report" ;;
    6) priority=warning message="June unavailable; tomorrow's run resumes" ;;
    *) priority=err message="failed; see the log above (exit codes: docker-run.md)" ;;
esac
logger --tag bulk-delete --priority "user.$priority" "exit $code: $message"
exit "$code"
