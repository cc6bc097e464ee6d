#!/bin/sh
# capture.sh regenerates the fixtures in this directory from a REAL systemd:
# it runs systemd's own user manager (and journald) in a private mount
# namespace, starts test units in the states the probes must read (running,
# waiting to restart after a SIGSEGV, restarted after one, failed with an
# exit code, a core dump, a crash loop cut off by the start limit, a flapping
# unit that hits start-limit-hit, enabled, disabled and stopped, not found)
# and writes what `systemctl --user show` and `journalctl -o cat` print.
#
# Needs root (for unshare -m and the tmpfs over /run), systemd installed and
# NOT booted as init: a host booted with systemd already has the /run marker
# and a user manager of its own. Nothing outside the namespace changes; the
# manager and journald are killed at the end.
#
#   sudo sh pkg/host/systemctl/testdata/capture.sh
#
# The fixtures in git were captured with systemd 252 (252.38-1~deb12u1) on
# Debian 12. In the namespace the manager is not under user@.service, so the
# journal files its messages as system ones: the script matches the journal
# on USER_UNIT= and _SYSTEMD_UNIT= instead of `journalctl --user -u`; the
# message text, which is what the parser reads, is the same.
set -eu

out=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "capture.sh: needs root (unshare -m)" >&2; exit 1; }
[ -d /run/systemd/system ] && { echo "capture.sh: this host runs systemd as init; run it in a container that does not" >&2; exit 1; }

# An error's text and exit status, as one fixture: "exit N" then the output.
fails() {
	name=$1
	shift
	set +e
	msg=$("$@" 2>&1)
	rc=$?
	set -e
	printf 'exit %d\n%s\n' "$rc" "$msg" > "$out/error-$name.txt"
}

if [ "${CAPTURE_INSIDE:-}" != 1 ]; then
	# What a probe sees on a host not booted with systemd at all.
	fails not-booted systemctl show council-ok.service
	CAPTURE_INSIDE=1 exec unshare -m --propagation private sh "$0" "$@"
fi

# Inside the private mount namespace from here on.
mount -t tmpfs tmpfs /run
rt=/run/user/0
units=$rt/config/systemd/user
mkdir -p /run/systemd/system /run/systemd/journal "$units"
chmod 700 $rt
export XDG_RUNTIME_DIR=$rt XDG_CONFIG_HOME=$rt/config

/lib/systemd/systemd-journald &
journald=$!
sleep 1
/usr/lib/systemd/systemd --user --log-target=journal &
manager=$!
trap 'kill $manager $journald 2>/dev/null || true' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do
	systemctl --user is-system-running >/dev/null 2>&1 && break
	sleep 0.5
done
systemctl --user --version | head -1 > "$out/systemd-version.txt"

unit() { # name description [Service] lines...
	name=$1 desc=$2
	shift 2
	{
		printf '[Unit]\nDescription=%s\n[Service]\n' "$desc"
		for l in "$@"; do printf '%s\n' "$l"; done
		printf '[Install]\nWantedBy=default.target\n'
	} > "$units/$name.service"
}
# '$$$$' is two '$' after systemd's own expansion: the shell's pid.
unit council-ok "a primary that runs" 'ExecStart=/bin/sleep infinity' 'Restart=always'
unit council-segv "a primary killed by SIGSEGV, restarted after 60 s" 'ExecStart=/bin/sh -c "kill -SEGV $$$$"' 'Restart=always' 'RestartSec=60'
unit council-once "a primary that crashes once and runs after the restart" \
	'ExecStart=/bin/sh -c "if [ -e /run/user/0/crashed-once ]; then exec sleep infinity; fi; touch /run/user/0/crashed-once; echo ggml_metal_init: error: failed to allocate >&2; kill -SEGV $$$$"' \
	'Restart=always' 'RestartSec=1'
unit council-exit "a primary that exits 3" 'ExecStart=/bin/sh -c "echo fatal: model file not found >&2; exit 3"'
unit council-core "a primary that aborts with a core dump" 'ExecStart=/bin/sh -c "kill -ABRT $$$$"' 'LimitCORE=infinity' "WorkingDirectory=$rt"
unit council-loop "a primary that crash-loops into the start limit" 'ExecStart=/bin/false' 'Restart=always' 'RestartSec=100ms'
unit council-flap "a primary that exits 0 at once, restarted until the start limit" 'ExecStart=/bin/true' 'Restart=always' 'RestartSec=100ms'
# A hostile server: it exits 3, and once restarted prints systemd's own
# words for a death by SIGSEGV and an OOM kill (journal-liar.*). The
# journal's trusted _SYSTEMD_UNIT field tells its lines from systemd's.
cat > "$units/council-liar.service" <<'UNIT'
[Unit]
Description=a primary that exits 3, then lies about it once restarted
[Service]
ExecStart=/bin/sh -c "if [ -e /run/user/0/exited-once ]; then echo 'council-liar.service: Main process exited, code=killed, status=11/SEGV'; echo \"council-liar.service: Failed with result 'oom-kill'.\"; exec sleep infinity; fi; touch /run/user/0/exited-once; exit 3"
Restart=always
RestartSec=1
UNIT
systemctl --user daemon-reload

props=LoadState,ActiveState,SubState,MainPID,NRestarts,Result,ExecMainCode,ExecMainStatus,ExecMainStartTimestampMonotonic,UnitFileState
show() { systemctl --user show "$1" -p $props > "$out/show-$2.txt"; }
journal() { journalctl -o cat --no-pager USER_UNIT="$1" + _SYSTEMD_UNIT="$1" > "$out/journal-$2.txt"; }
journaljson() {
	journalctl -o json --output-fields=MESSAGE,_SYSTEMD_UNIT,_SYSTEMD_USER_UNIT --no-pager USER_UNIT="$1" + _SYSTEMD_UNIT="$1" > "$out/journal-$2.json"
}

for u in ok segv once exit core loop flap liar; do systemctl --user start council-$u.service || true; done
sleep 4 # once restarts after 1 s; loop and flap reach the start limit in ~0.6 s
# Within the 10 s of the start limit: refused until reset-failed.
fails restart-start-limit systemctl --user restart council-flap.service

show council-ok.service running
show council-segv.service auto-restart
show council-once.service restarted
show council-exit.service failed-exit
show council-core.service failed-core
show council-loop.service failed-loop
show council-flap.service start-limit-hit
show council-nosuch.service not-found
for u in segv once exit core loop flap liar; do journal council-$u.service $u; done
journaljson council-liar.service liar

systemctl --user enable --now council-ok.service 2> "$out/enable-now.txt"
show council-ok.service running-enabled
systemctl --user disable --now council-ok.service 2> "$out/disable-now.txt"
show council-ok.service stopped-disabled

fails restart-not-found systemctl --user restart council-nosuch.service
systemctl --user reset-failed council-flap.service
show council-flap.service reset-failed
fails no-user-manager env -u XDG_RUNTIME_DIR systemctl --user show council-ok.service
fails no-runtime-dir env XDG_RUNTIME_DIR=/nonexistent systemctl --user show council-ok.service
fails other-user setpriv --reuid=65534 --regid=65534 --clear-groups systemctl --user show council-ok.service
echo "captured into $out"
