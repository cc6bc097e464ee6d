#!/bin/sh
# observe.sh installs the probes' units with council-units into a REAL
# systemd user manager and prints when each probe ticked: at install, across
# a second install (daemon-reload and enable again), across a restart of
# the user manager (what a login is to it) and across an uninstall. The
# probes are stand-ins that only log the time. What it showed is in
# docs/DESIGN.md section 7.
#
# The manager and journald run in a private mount namespace with a tmpfs
# over /run, as pkg/host/systemctl/testdata/capture.sh does: it needs root
# (unshare -m), systemd installed and NOT booted as init. Nothing outside
# the namespace changes; both daemons are killed at the end. It takes about
# two minutes.
#
#   go build -o /tmp/council-units ./units/cmd/council-units
#   sudo sh units/testdata/observe.sh /tmp/council-units
set -eu

bin=${1:?usage: observe.sh PATH-TO-council-units}
[ "$(id -u)" = 0 ] || { echo "observe.sh: needs root (unshare -m)" >&2; exit 1; }
[ -d /run/systemd/system ] && { echo "observe.sh: this host runs systemd as init; run it in a container that does not" >&2; exit 1; }
if [ "${OBSERVE_INSIDE:-}" != 1 ]; then
	OBSERVE_INSIDE=1 exec unshare -m --propagation private sh "$0" "$@"
fi

mount -t tmpfs tmpfs /run
rt=/run/user/0
mkdir -p /run/systemd/system /run/systemd/journal "$rt/config"
chmod 700 $rt
export XDG_RUNTIME_DIR=$rt XDG_CONFIG_HOME=$rt/config
home=$(mktemp -d)
log=$home/ticks.log
mkdir -p "$home/bin"
# One stand-in per probe of the registry, named after the services
# council-units renders.
HOME=$home "$bin" render --destdir "$home/rendered" --bindir "$home/bin" 2>/dev/null
for svc in "$home"/rendered/council-*.service; do
	p=$(basename "$svc" .service)
	printf '#!/bin/sh\necho "$(date +%%s) %s" >> %s\n' "${p#council-}" "$log" > "$home/bin/$p"
	chmod +x "$home/bin/$p"
done

/lib/systemd/systemd-journald &
journald=$!
manager=
start_manager() {
	/usr/lib/systemd/systemd --user --log-target=journal &
	manager=$!
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		systemctl --user is-system-running >/dev/null 2>&1 && return
		sleep 0.5
	done
}
trap 'kill $manager $journald 2>/dev/null || true; rm -rf "$home"' EXIT
sleep 1
start_manager
t0=$(date +%s)
mark() { echo "$(date +%s) -- $*" >> "$log"; }
# run runs council-units and logs its exit status and what it said beyond
# the file and command lines.
run() {
	set +e
	HOME=$home "$bin" "$@" --bindir "$home/bin" > "$home/out" 2>&1
	rc=$?
	set -e
	mark "council-units $1: exit $rc"
	grep -v -e '^written ' -e '^unchanged ' -e '^removed ' -e '^systemctl --user ' -e '^enabled and started ' "$home/out" | sed 's/^/        /' >> "$log" || true
}

mark "install (the user manager has run about 1 s)"
run install
sleep 40
mark "second install: daemon-reload and an enable per timer again"
run install
sleep 10
mark "user manager restarted (a login)"
kill $manager
wait $manager 2>/dev/null || true
start_manager
sleep 35
mark "uninstall"
run uninstall
sleep 5
mark "end: $(systemctl --user list-timers --all --no-legend | wc -l) timers left"
awk -v t0="$t0" '$1 ~ /^[0-9]+$/ { $1 = sprintf("%4ds", $1 - t0) } { print }' "$log"
