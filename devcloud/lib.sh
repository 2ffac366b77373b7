# Shared settings and helpers for devcloud/up, devcloud/down and devcloud/smoke.
# Sourced, not executed.
# shellcheck disable=SC2034  # the settings are used by the scripts that source this file

DEVCLOUD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEVCLOUD_STATE="${DEVCLOUD_STATE:-/var/lib/virtbench-devcloud}"
# The venv and the wheel cache live outside the state directory: `up` wipes the
# state (a fresh cloud every time) but must not pay for pip twice.
DEVCLOUD_HOME="${DEVCLOUD_HOME:-/opt/virtbench-devcloud}"
DEVCLOUD_VENV="${DEVCLOUD_VENV:-$DEVCLOUD_HOME/venv}"
DEVCLOUD_WHEELS="${DEVCLOUD_WHEELS:-$DEVCLOUD_HOME/wheels}"
DEVCLOUD_CONSTRAINTS="${DEVCLOUD_CONSTRAINTS:-$DEVCLOUD_DIR/constraints.txt}"
DEVCLOUD_PASSWORD="${DEVCLOUD_PASSWORD:-virtbench-devcloud}"

# Ports, all on 127.0.0.1. A block of its own so that it does not collide with
# the calculator (50000-50004) or the usual OpenStack ports of another cloud.
DEVCLOUD_PORT_BASE="${DEVCLOUD_PORT_BASE:-36000}"
PORT_KEYSTONE=$((DEVCLOUD_PORT_BASE + 0))
PORT_GLANCE=$((DEVCLOUD_PORT_BASE + 1))
PORT_PLACEMENT=$((DEVCLOUD_PORT_BASE + 2))
PORT_NOVA=$((DEVCLOUD_PORT_BASE + 3))
PORT_NEUTRON=$((DEVCLOUD_PORT_BASE + 4))
PORT_MYSQL=$((DEVCLOUD_PORT_BASE + 6))
PORT_AMQP=$((DEVCLOUD_PORT_BASE + 7))
PORT_EPMD=$((DEVCLOUD_PORT_BASE + 8))
PORT_ERLDIST=$((DEVCLOUD_PORT_BASE + 9))

# The tenant network: not docker's 172.17.0.0/16, not 10.213.0.0/24, not QEMU
# user-net's 10.0.2.0/24. The external (floating IP) range is a second subnet
# carried by the same bridge.
BRIDGE="${DEVCLOUD_BRIDGE:-vbdc0}"
TENANT_CIDR="10.99.0.0/24"
TENANT_GW="10.99.0.1"
EXT_CIDR="10.98.0.0/24"
EXT_GW="10.98.0.1"
METADATA_IP="169.254.169.254"
IPT_TAG="virtbench-devcloud"

VENV_BIN="$DEVCLOUD_VENV/bin"
RUN="$DEVCLOUD_STATE/run"
LOGS="$DEVCLOUD_STATE/log"
ETC="$DEVCLOUD_STATE/etc"

# Packages from Debian that `up` installs when missing.
APT_PACKAGES=(mariadb-server rabbitmq-server libvirt-daemon libvirt-daemon-driver-qemu
  libvirt-clients libvirt-dev dnsmasq-base qemu-system-x86 qemu-utils pkg-config gcc
  python3-venv python3-dev iproute2 iptables socat openssl)

# What the venv holds (versions of the OpenStack services fixed here, their
# libraries pinned by the constraints file).
PIP_PACKAGES=(keystone==30.0.0 glance==33.0.0 openstack-placement==16.0.0 nova==34.0.0
  neutron==29.0.0 uWSGI PyMySQL libvirt-python==12.8.0 python-openstackclient)

log() { printf '[devcloud %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Stage timing: `stage NAME` closes the previous stage and opens the next one.
_STAGE_NAME=""
_STAGE_T0=0
_STAGES_REPORT=""
_now() { date +%s.%N; }
stage() {
  local now; now=$(_now)
  if [[ -n "$_STAGE_NAME" ]]; then
    local d; d=$(awk -v a="$_STAGE_T0" -v b="$now" 'BEGIN{printf "%.1f", b-a}')
    _STAGES_REPORT+=$(printf '  %-28s %7ss' "$_STAGE_NAME" "$d")$'\n'
    log "stage '$_STAGE_NAME' took ${d}s"
  fi
  _STAGE_NAME="$1"
  _STAGE_T0=$now
  [[ -n "$1" ]] && log "stage '$1'..."
  return 0
}

# Start a daemon in the background, its output in $LOGS/NAME.log, its PID in
# $RUN/NAME.pid (down stops exactly these PIDs).
start_bg() {
  local name="$1"; shift
  mkdir -p "$RUN" "$LOGS"
  # The process writes its own PID (setsid may fork) and then becomes the daemon.
  # shellcheck disable=SC2016  # expanded by the inner bash, on purpose
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$RUN/$name.pid" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  local t=0
  while [[ ! -s "$RUN/$name.pid" ]] && ((t++ < 50)); do sleep 0.1; done
}

# Alive and not a zombie (an orphan may wait a while for init to reap it).
pid_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z ]]
}

# Wait until URL answers any HTTP status (the server is up), or fail after $2 s.
wait_http() {
  local url="$1" timeout="${2:-120}" name="${3:-$1}" t=0
  while ! curl -s -o /dev/null --max-time 3 "$url"; do
    sleep 0.5; t=$((t + 1))
    if ((t > timeout * 2)); then die "$name did not answer on $url within ${timeout}s (see $LOGS)"; fi
  done
}

# Run the openstack CLI against the devcloud as admin.
os_admin() { OS_CLIENT_CONFIG_FILE="$DEVCLOUD_STATE/clouds.yaml" "$VENV_BIN/openstack" --os-cloud virtbench-devcloud-admin "$@"; }
