#!/bin/sh
# Mosquitto entrypoint: generate the password file and the ACL from the environment, then run
# the broker (or the command given). Used by the container and by `solarstack dev` alike.
#
#   MOSQUITTO_CONF          broker config; its password_file and acl_file lines say where the
#                           generated files go   (default /mosquitto/config/mosquitto.conf)
#   MOSQUITTO_ACL_TEMPLATE  consumer rules       (default /mosquitto/config/acl.template)
#   MQTT_PASSWORD_<USER>    one per service user; a user without a password gets no account
#   INVERTER_DEVICES BMS_DEVICES HOUSE_DEVICES   device URLs; their ids scope each reader's ACL
#   WEATHER_DEVICES HOYMILES_DEVICES
#   MQTT_PREFIX HA_DISCOVERY_PREFIX              topic prefixes (solarstack, homeassistant)
#
# It must NOT print passwords, and must refuse to start a broker nobody can log in to.
set -eu

conf=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
template=${MOSQUITTO_ACL_TEMPLATE:-/mosquitto/config/acl.template}
prefix=${MQTT_PREFIX:-solarstack}
ha_prefix=${HA_DISCOVERY_PREFIX:-homeassistant}

conf_path() { sed -n "s/^$1[[:space:]][[:space:]]*//p" "$conf" | tail -n 1; }
passwd_file=$(conf_path password_file)
acl_file=$(conf_path acl_file)
[ -n "$passwd_file" ] && [ -n "$acl_file" ] || {
    echo "entrypoint: $conf must set password_file and acl_file" >&2
    exit 1
}

# The device id of each URL, exactly as solarstack.core.device_url names it: the `name=` option,
# else a slug of protocol and address ([^a-z0-9]+ -> _), else the protocol.
device_ids() {
    printf '%s\n' "$1" | tr ',' '\n' | while IFS= read -r url; do
        url=$(printf '%s' "$url" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
        [ -n "$url" ] || continue
        query=
        case $url in *\?*) query=${url#*\?} ;; esac
        name=$(printf '%s\n' "$query" | tr '&' '\n' | sed -n 's/^name=//p' | tail -n 1)
        if [ -z "$name" ]; then
            scheme=${url%%://*}
            protocol=$(printf '%s' "${scheme%%+*}" | tr 'A-Z' 'a-z')
            address=${url#*://}
            address=${address%%\?*}
            address=${address%%#*}
            name=$(printf '%s_%s' "$protocol" "$address" | tr 'A-Z' 'a-z' |
                sed 's/[^a-z0-9][^a-z0-9]*/_/g; s/^_*//; s/_*$//')
            [ -n "$name" ] || name=$protocol
        fi
        case $name in
        *[!a-z0-9_]* | '')
            echo "entrypoint: device id '$name' (from '$url') must match [a-z0-9_]+" >&2
            exit 1
            ;;
        esac
        printf '%s\n' "$name"
        # a parallel inverter system (`units=N`, docs/parallel.md) also publishes <name>_unit1..N
        units=$(printf '%s\n' "$query" | tr '&' '\n' | sed -n 's/^units=//p' | tail -n 1)
        case $units in [2-9]) i=1; while [ "$i" -le "$units" ]; do printf '%s_unit%s\n' "$name" "$i"; i=$((i + 1)); done ;; esac
        # a Hoymiles DTU publishes one device per microinverter, <name>_<serial> (docs/hoymiles.md):
        # `inverters=SERIAL;SERIAL` scopes them; without it see any_device_readers below
        serials=$(printf '%s\n' "$query" | tr '&' '\n' | sed -n 's/^inverters=//p' | tail -n 1)
        for serial in $(printf '%s' "$serials" | tr ';' ' '); do
            case $serial in *[!0-9a-fA-F]*) continue ;; esac
            printf '%s_%s\n' "$name" "$(printf '%s' "$serial" | tr 'A-F' 'a-f')"
        done
    done
}

# The topics of legacy sensors (`legacy+mqtt://house/kitchen?…`, devices/legacy.py): the reader
# that re-publishes them may read `<topic>/+`.
legacy_topics() {
    printf '%s\n' "$1" | tr ',' '\n' | sed -n 's/^[[:space:]]*legacy+mqtt:\/\/\([^?#[:space:]]*\).*/\1/p' |
        sed 's|^/*||; s|/*$||' | grep -v '[+#]' || true
}

# Readers that also read every device's catalogue and state, never write them: the weather
# reader's PV forecast learns from the devices whose catalogue has role `pv_energy_today`.
site_readers="weather"

upper() { printf '%s' "$1" | tr 'a-z' 'A-Z'; }
password_of() { printenv "MQTT_PASSWORD_$(upper "$1")" || true; }

umask 077
mkdir -p "$(dirname "$passwd_file")" "$(dirname "$acl_file")"
tmp_passwd="$passwd_file.new"
tmp_acl="$acl_file.new"
: >"$tmp_passwd"
: >"$tmp_acl"

# A random password for the healthcheck user, readable by the healthcheck only (same uid).
health_file="$(dirname "$passwd_file")/healthcheck.password"
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$health_file"
MQTT_PASSWORD_HEALTHCHECK=$(cat "$health_file")
export MQTT_PASSWORD_HEALTHCHECK

accounts=0
add_user() { # user password
    mosquitto_passwd -b "$tmp_passwd" "$1" "$2" >/dev/null
    accounts=$((accounts + 1))
}

# Consumer blocks from the template, skipping users without a password.
skip=0
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    "user "*)
        user=${line#user }
        pass=$(password_of "$user")
        if [ -n "$pass" ]; then
            skip=0
            add_user "$user" "$pass"
        else
            skip=1
            echo "entrypoint: no MQTT_PASSWORD_$(upper "$user"): user $user disabled" >&2
        fi
        ;;
    '') skip=0 ;;
    esac
    [ "$skip" = 1 ] && continue
    printf '%s\n' "$line" | sed "s|@PREFIX@|$prefix|g; s|@HA_PREFIX@|$ha_prefix|g" >>"$tmp_acl"
done <"$template"

# Reader blocks: each reader user may publish only its own devices' topics. The readers are the
# registry's (src/solarstack/services/registry.py; tests/stack/test_registry.py keeps them equal).
for reader in inverter bms hoymiles house weather; do
    pass=$(password_of "$reader")
    [ -n "$pass" ] || continue
    var=$(upper "$reader")_DEVICES
    ids=$(device_ids "$(printenv "$var" || true)")
    legacy=$(legacy_topics "$(printenv "$var" || true)")
    add_user "$reader" "$pass"
    {
        printf '\n# %s: devices from %s\nuser %s\n' "$reader" "$var" "$reader"
        printf 'topic read %s/status\n' "$ha_prefix"
        printf 'topic read %s/refresh\n' "$prefix"
        for id in $ids; do
            printf 'topic readwrite %s/%s/#\n' "$prefix" "$id"
            printf 'topic readwrite %s/device/%s/config\n' "$ha_prefix" "$id"
            printf 'topic readwrite %s/+/%s/+/config\n' "$ha_prefix" "$id"
        done
        for topic in $legacy; do
            printf 'topic read %s/+\n' "$topic"
        done
        # A DTU's microinverters are known only from its answers: a hoymiles URL without
        # `inverters=` lets that reader publish every device's topics (a warning says so).
        if [ "$reader" = hoymiles ] && [ -n "$ids" ] && printf '%s' "$(printenv "$var" || true)" | grep -q 'hoymiles+' &&
            ! printf '%s' "$(printenv "$var" || true)" | grep -q 'inverters='; then
            echo "entrypoint: HOYMILES_DEVICES lists no inverters=SERIAL;…: the hoymiles user may publish any device's topics" >&2
            printf 'topic readwrite %s/+/#\ntopic readwrite %s/device/+/config\n' "$prefix" "$ha_prefix"
        fi
        case " $site_readers " in *" $reader "*)
            printf 'topic read %s/+/catalog\ntopic read %s/+/state\n' "$prefix" "$prefix"
            ;;
        esac
    } >>"$tmp_acl"
done

if [ "$accounts" -le 1 ]; then
    echo "entrypoint: no service has a password; set MQTT_PASSWORD_<USER> in .env (see .env.example)" >&2
    exit 1
fi
mv "$tmp_passwd" "$passwd_file"
mv "$tmp_acl" "$acl_file"
echo "entrypoint: $accounts MQTT accounts, ACL written to $acl_file" >&2

if [ "$#" -eq 0 ]; then
    set -- mosquitto -c "$conf"
fi
exec "$@"
