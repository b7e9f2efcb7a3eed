#!/bin/sh
# The site broker's start in the LMS's compose file (infra/lms/compose.yaml), run as root in the
# eclipse-mosquitto container; Mosquitto itself then drops to user `mosquitto`.
#
# 1. The dynamic-security file, once: its admin user only (the LMS then manages every other client).
# 2. The TLS files the LMS wrote into the broker-tls volume (the site CA, the broker's certificate and key)
#    are installed where user `mosquitto` can read them (the key 0600, owned by it): the LMS's own user
#    cannot give it away.
# 3. Mosquitto replaces this shell (PID 1: `docker stop` reaches it directly). A watcher left in the
#    background compares the certificate every TLS_CHECK_S seconds and, when the LMS has renewed it, installs
#    it again and sends SIGHUP: Mosquitto reloads its certificates without dropping anyone.
#
# Paths are the container's; the variables exist so that tests can run this script outside a container.
set -eu

SOURCE=${BROKER_TLS_SOURCE:-/broker-tls}
TARGET=${BROKER_TLS_TARGET:-/mosquitto/tls}
CONF=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
DYNSEC=${DYNSEC_FILE:-/mosquitto/data/dynamic-security.json}
CHECK_S=${TLS_CHECK_S:-600}
OWNER=${BROKER_USER:-mosquitto}

install_tls() {
    mkdir -p "$TARGET"
    for name in ca.crt broker.crt broker.key; do
        cp "$SOURCE/$name" "$TARGET/.$name.new"
    done
    chmod 644 "$TARGET/.ca.crt.new" "$TARGET/.broker.crt.new"
    chown "$OWNER:$OWNER" "$TARGET/.broker.key.new"
    chmod 600 "$TARGET/.broker.key.new"
    # the key first: for a moment the old certificate sits beside the new key, never the reverse
    for name in broker.key ca.crt broker.crt; do
        mv "$TARGET/.$name.new" "$TARGET/$name"
    done
}

watch_tls() {  # $1: Mosquitto's PID (this shell's, once it has exec'd)
    while sleep "$CHECK_S" && kill -0 "$1" 2>/dev/null; do
        if ! cmp -s "$SOURCE/broker.crt" "$TARGET/broker.crt" || ! cmp -s "$SOURCE/ca.crt" "$TARGET/ca.crt"; then
            if install_tls; then
                echo "mosquitto-start: renewed TLS certificate installed; reloading the broker" >&2
                kill -HUP "$1"
            fi
        fi
    done
}

if [ ! -f "$DYNSEC" ]; then
    mosquitto_ctrl dynsec init "$DYNSEC" dynsec-admin "$CLASSTOP_LMS_DYNSEC_PASSWORD"
    chown "$OWNER:$OWNER" "$DYNSEC"
fi
for name in ca.crt broker.crt broker.key; do
    if [ ! -f "$SOURCE/$name" ]; then
        echo "mosquitto-start: $SOURCE/$name is missing: the LMS's site-tls step makes it (docs/deploy.md)" >&2
        exit 1
    fi
done
install_tls
watch_tls "$$" &
exec mosquitto -c "$CONF"
