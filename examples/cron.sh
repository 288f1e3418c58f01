#!/bin/sh
# A cron job: scan, keep yesterday's report as the baseline, and mail only
# what is new. Install with `crontab -e`:
#   17 3 * * * /usr/local/bin/exposecheck-cron.sh
set -u
cd /var/lib/exposecheck || exit 2
[ -f today.json ] && mv today.json yesterday.json
baseline=""
[ -f yesterday.json ] && baseline="--baseline yesterday.json"
# shellcheck disable=SC2086
exposecheck -iL targets.txt -q --json -o today.json $baseline
code=$?
jq -r '.findings[] | select(.baseline == "new") | "\(.severity)\t\(.ip):\(.port)\t\(.rule)\t\(.title)"' today.json > new.tsv
if [ -s new.tsv ] || [ "$code" -ge 2 ]; then
    { echo "exposecheck exit $code"; cat new.tsv; } | mail -s "exposecheck: new exposures" root
fi
exit "$code"
