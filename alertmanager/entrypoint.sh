#!/bin/sh
# Alertmanager entrypoint: render the receivers from the environment into the config, then run
# Alertmanager (or the binary given) on it. Alertmanager does not read the environment itself.
#
#   ALERTMANAGER_TEMPLATE  the shipped config with ${ALERT_...} names (default
#                          /etc/alertmanager/alertmanager.yml)
#   ALERTMANAGER_CONFIG    where the rendered config goes (default /tmp/alertmanager.yml)
#   ALERTMANAGER_BIN       what runs on it, given --config.file=<rendered> and this script's
#                          arguments (default /bin/alertmanager, as in the prom/alertmanager image)
#   ALERT_EMAIL_TO ALERT_SMTP_SMARTHOST ALERT_SMTP_FROM ALERT_SMTP_USERNAME ALERT_SMTP_PASSWORD
#   ALERT_WEBHOOK_URL ALERT_NTFY_URL ALERT_NTFY_TOKEN     the receivers (alertmanager.yml says which)
#
# A block `# begin NAME` … `# end NAME` of the template is dropped when its variable is empty.
# It must NOT print a secret, and must refuse a half-configured receiver.
set -eu

template=${ALERTMANAGER_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
out=${ALERTMANAGER_CONFIG:-/tmp/alertmanager.yml}
bin=${ALERTMANAGER_BIN:-/bin/alertmanager}

if [ -n "${ALERT_EMAIL_TO:-}" ] && { [ -z "${ALERT_SMTP_SMARTHOST:-}" ] || [ -z "${ALERT_SMTP_FROM:-}" ]; }; then
    echo "alertmanager: ALERT_EMAIL_TO is set: set ALERT_SMTP_SMARTHOST (host:port) and ALERT_SMTP_FROM too" >&2
    exit 1
fi

# block name -> the variable that turns it on
script=""
for pair in email:ALERT_EMAIL_TO smtp_auth:ALERT_SMTP_USERNAME webhook:ALERT_WEBHOOK_URL \
    ntfy:ALERT_NTFY_URL ntfy_token:ALERT_NTFY_TOKEN; do
    block=${pair%%:*}
    var=${pair#*:}
    eval "value=\${$var:-}"
    if [ -z "$value" ]; then
        script="$script/^[[:space:]]*# begin $block\$/,/^[[:space:]]*# end $block\$/d;"
    fi
done

# The values go inside single-quoted YAML scalars: a ' doubles; & | \ are escaped for sed.
for var in ALERT_EMAIL_TO ALERT_SMTP_SMARTHOST ALERT_SMTP_FROM ALERT_SMTP_USERNAME ALERT_SMTP_PASSWORD \
    ALERT_WEBHOOK_URL ALERT_NTFY_URL ALERT_NTFY_TOKEN; do
    eval "value=\${$var:-}"
    case $value in
    *"
"*)
        echo "alertmanager: $var holds a line break; give it on one line" >&2
        exit 1
        ;;
    esac
    escaped=$(printf '%s' "$value" | sed -e "s/'/''/g" -e 's/[\\&|]/\\&/g')
    script="$script s|\${$var}|$escaped|g;"
done

umask 077 # the rendered file may hold the SMTP password and the ntfy token
sed -e "$script" "$template" >"$out"
exec "$bin" --config.file="$out" "$@"
