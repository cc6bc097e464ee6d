#!/usr/bin/env bash
# make demo: every probe against the bundled council simulator, then faults.
#
# Everything happens under .demo/ with a throwaway $HOME, a throwaway CA and
# loopback ports; nothing of yours is touched and every process it starts is
# stopped on exit. It prints each command before running it, so it doubles as
# a walk-through of how an operator runs the probes by hand.
set -euo pipefail

BIN=$(cd "${1:-bin}" && pwd)
ROOT=$(pwd)/.demo
rm -rf "$ROOT"
mkdir -p "$ROOT/home"
export HOME="$ROOT/home"
unset COUNCIL_URL COUNCIL_MTLS_URL FORCE_FLOW_URL COUNCIL_TRANSPORT COUNCIL_LOG_FILE COUNCIL_STATE_DIR || true
export NO_COLOR=${NO_COLOR:-}
LOGS="$HOME/.openclaw/logs"
STATE="$HOME/.sanctum/state"
mkdir -p "$LOGS" "$STATE"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${FAKE_LAUNCHD_STATE:-}" ] && "$BIN/fake-launchctl" bootout "gui/$(id -u)/com.sanctum.mlx" >/dev/null 2>&1 || true
	[ -n "${FAKE_SYSTEMD_STATE:-}" ] && "$BIN/fake-systemctl" --user stop llama-server.service >/dev/null 2>&1 || true
}
trap cleanup EXIT

bold=$'\033[1m' dim=$'\033[2m' off=$'\033[0m'
[ -n "$NO_COLOR" ] || [ ! -t 1 ] && bold='' dim='' off=''
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
note() { printf '%s# %s%s\n' "$dim" "$*" "$off"; }
show() { printf '$ %s\n' "$*"; }
# run shows a command, runs it, and reports its exit code without stopping
# the demo (probes exit non-zero on purpose below).
run() {
	show "$*"
	set +e
	"$@"
	rc=$?
	set -e
	printf '%s-> exit %d%s\n' "$dim" "$rc" "$off"
}
# tick runs a probe like run, remembering where its log stood, so events
# can show just what this tick wrote.
declare -A mark
tick() {
	local probe=${1##*council-}
	mark[$probe]=$({ wc -l <"$LOGS/council-$probe.log"; } 2>/dev/null || echo 0)
	run "$@"
}
# events prints the JSON events of the probe's last tick that match a jq
# filter, without the fields every line has, trimmed for reading.
events() {
	local probe=$1 filter=${2:-.}
	tail -n +"$((${mark[$probe]:-0} + 1))" "$LOGS/council-$probe.log" |
		jq -c "select(.event != \"tick_done\") | $filter | del(.ts, .probe, .duration_ms) | with_entries(select(.value != null))" |
		tail -n "${3:-6}"
}
# wait_line waits for a KEY=value line in a file and prints the value.
wait_line() {
	local file=$1 key=$2
	for _ in $(seq 1 100); do
		v=$(sed -n "s/^$key=//p" "$file" 2>/dev/null | head -n1)
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.1
	done
	echo "timed out waiting for $key in $file" >&2
	cat "$file" >&2
	return 1
}

step "1. A throwaway CA and client certificates, and a bearer token (mode 0600)"
run "$BIN/council-sim" pki --home "$HOME"
mkdir -p "$HOME/.sanctum/secrets"
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HOME/.sanctum/secrets/council-mlx.token")
note "token written to ~/.sanctum/secrets/council-mlx.token (never printed, never logged)"

step "2. The stand-ins: Force Flow (alerts), the council simulator, a fake launchd"
note "forceflow-sim and council-sim are simulators for tests and demos; neither is the real thing."
"$BIN/forceflow-sim" >"$ROOT/forceflow.out" 2>&1 &
pids+=($!)
export FORCE_FLOW_URL
FORCE_FLOW_URL=$(wait_line "$ROOT/forceflow.out" FORCE_FLOW_URL)
echo "FORCE_FLOW_URL=$FORCE_FLOW_URL"

# The "primary" is the simulator binary installed where the real sanctum-mlx
# lives, so integrity can check its signature, metallib and running inode.
PRIMARY="$HOME/sanctum-rs/target/release/sanctum-mlx"
mkdir -p "$(dirname "$PRIMARY")"
cp "$BIN/council-sim" "$PRIMARY"
head -c 4096 /dev/urandom >"$(dirname "$PRIMARY")/mlx.metallib"
CERTS="$HOME/.sanctum/certs"
answers=()
while IFS=$'\t' read -r prompt answer; do
	answers+=(--answer "$prompt=$(printf '%b' "$answer")")
done < <(jq -r --slurpfile a probes/paritysmoke/testdata/sim-answers.json \
	'.prompts[] | [.prompt, ($a[0][.id] | gsub("\n"; "\\n"))] | @tsv' probes/paritysmoke/prompts/default.json)
"$PRIMARY" --listen 127.0.0.1:0 --mtls-listen 127.0.0.1:0 --control 127.0.0.1:0 \
	--ca-cert "$CERTS/ca.crt" --server-cert "$CERTS/server.crt" --server-key "$CERTS/server.key" \
	--token-file "$HOME/.sanctum/secrets/council-mlx.token" \
	--access-log "$LOGS/sanctum-mlx.log" --pid-file "$STATE/sanctum-mlx.pid" \
	--ttft 150ms --token-delay 10ms "${answers[@]}" >"$ROOT/sim.out" 2>&1 &
pids+=($!)
export COUNCIL_URL COUNCIL_MTLS_URL
COUNCIL_URL=$(wait_line "$ROOT/sim.out" COUNCIL_URL)
COUNCIL_MTLS_URL=$(wait_line "$ROOT/sim.out" COUNCIL_MTLS_URL)
CONTROL=$(wait_line "$ROOT/sim.out" COUNCIL_SIM_CONTROL_URL)
printf 'COUNCIL_URL=%s\nCOUNCIL_MTLS_URL=%s\n' "$COUNCIL_URL" "$COUNCIL_MTLS_URL"
fault() {
	show "curl -X POST $CONTROL/fault -d '{\"fault\":\"$1\"}'"
	curl -sf -X POST "$CONTROL/fault" -d "{\"fault\":\"$1\"}" >/dev/null
}

# launchd does not exist here: the probes talk to fake-launchctl, a test
# double that keeps launchd's state in a file and prints launchctl's formats.
# This host plays a Mac (--service-manager launchd) until step 12, Linux.
export FAKE_LAUNCHD_STATE="$ROOT/launchd.json" COUNCIL_LAUNCHCTL="$BIN/fake-launchctl" COUNCIL_SERVICE_MANAGER=launchd
AGENTS="$HOME/Library/LaunchAgents"
mkdir -p "$AGENTS"
cat >"$AGENTS/com.sanctum.mlx.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
	<key>Label</key><string>com.sanctum.mlx</string>
	<key>ProgramArguments</key><array><string>$PRIMARY</string></array>
	<key>RunAtLoad</key><false/>
</dict></plist>
EOF
run "$BIN/council-plists" render --destdir "$AGENTS" --with-fallback >/dev/null
"$BIN/fake-launchctl" bootstrap "gui/$(id -u)" "$AGENTS/com.sanctum.mlx.plist"
"$BIN/fake-launchctl" disable "gui/$(id -u)/com.sanctum.server-mlx"
note "com.sanctum.mlx loaded in the fake launchd; the fallback plist ships RunAtLoad=false, Disabled=true and is disabled in launchd"

step "3. Every probe once against the healthy council (transport auto-detected)"
tick "$BIN/council-canary"
events canary 'select(.event=="canary_ok") | {event, transport, model, answer, latency_ms, finish_reason}' 1
tick "$BIN/council-canary" --stream
events canary 'select(.event=="canary_ok") | {event, transport, mode, answer, ttft_ms, chunks, completion_tokens}' 1
tick "$BIN/council-guardian"
events guardian 'select(.event=="probe_ok") | {event, transport, probe_ms, http_status}' 1
tick "$BIN/council-parity-smoke" --table always
note "council-pace learns the council's usual speed (the simulator runs at 150 ms to first token, 10 ms a token);"
note "short settings for the demo: --warmup 3 (default 6), a 128-token prompt and 16 tokens (default 512 and 128)"
PACE=("$BIN/council-pace" --warmup 3 --prompt-tokens 128 --decode-tokens 16)
tick "${PACE[@]}"
# Signing keys for integrity: the operator's one-time set-up.
KEYS="$HOME/.sanctum/keys"
run "$BIN/council-integrity" keygen --out "$KEYS"
run "$BIN/council-integrity" sign --key "$KEYS/council-integrity.key" "$PRIMARY"
INTEGRITY=("$BIN/council-integrity" --primary-binary "$PRIMARY" --signing-pubkey "$KEYS/council-integrity.pub"
	--pid-source pid-file --pid-file "$STATE/sanctum-mlx.pid")
tick "${INTEGRITY[@]}"
events integrity 'select(.event | test("check_")) | {event, check, detail}' 6
# drift: a git repo holding the canonical plist, and the deployed copy.
REPO="$HOME/sanctum-rs"
mkdir -p "$REPO/deploy"
cp "$AGENTS/com.sanctum.mlx.plist" "$REPO/deploy/"
git -C "$REPO" init -q
git -C "$REPO" -c user.name=demo -c user.email=demo@example.invalid add deploy
git -C "$REPO" -c user.name=demo -c user.email=demo@example.invalid commit -qm "canonical plists"
echo "$AGENTS/com.sanctum.mlx.plist = deploy/com.sanctum.mlx.plist" >"$HOME/.sanctum/council-drift.map"
note "council-context: the simulated sanctum-mlx cannot say its context window, so the operator says it (--expect-context);"
note "one needle prompt fills 80% of it (3276 words), a code at each end, and must be counted whole"
CONTEXT=("$BIN/council-context" --expect-context 4096)
tick "${CONTEXT[@]}"
events context 'select(.event=="context_needle" or .event=="context_log") | {event, words, prompt_tokens, needle_first, needle_last, first}' 2
DRIFT=("$BIN/council-drift" --expect-agent com.sanctum.mlx)
tick "${DRIFT[@]}"
run "$BIN/council-status"

step "4. Fault: chat hangs while /v1/models still answers 200 (the eight-minute incident)"
fault hang
note "guardian's /v1/models check still passes: that is why the canary exists"
tick "$BIN/council-guardian"
note "the canary catches it; hysteresis holds the first miss, the second alerts"
tick "$BIN/council-canary" --deadline 4s --ttfb-timeout 2s
tick "$BIN/council-canary" --deadline 4s --ttfb-timeout 2s
events canary 'select(.level != "info" or (.event | test("alert_"))) | {event, level, check, detail, sink, via}' 3
fault none
tick "$BIN/council-canary"
note "one 'recovered' info alert"

step "5. Fault: the server is down; guardian restarts after 3 misses (dry-run shows the remediation)"
fault down
note "two real ticks count the failures (nothing to do yet below --restart-after 3)"
for i in 1 2; do tick "$BIN/council-guardian" --timeout 2s --busy-window 0; done
note "the third would restart: --dry-run prints what it would run and send (and changes no state)"
tick "$BIN/council-guardian" --dry-run --timeout 2s --busy-window 0
events guardian 'select(.event | test("probe_fail|restart")) | {event, check, consecutive, detail}' 4
fault none
tick "$BIN/council-guardian"
note "the primary answers again: the count resets (the dry run sent no alert, so there is no recovery to announce)"

step "6. Fault: Force Flow is down; the alert is spooled, then delivered on a later tick"
fault wrong
tick "$BIN/council-canary" --force-flow-url http://127.0.0.1:9/notify --alert-budget 1s
tick "$BIN/council-canary" --force-flow-url http://127.0.0.1:9/notify --alert-budget 1s
show "jq '.entries[] | {sink, check: .notice.check, severity: .notice.severity}' $STATE/council-canary.outbox.json"
jq -c '.entries[] | {sink, check: .notice.check, severity: .notice.severity}' "$STATE/council-canary.outbox.json"
fault none
tick "$BIN/council-canary"
events canary 'select(.event | test("alert_|recovered")) | {event, check, severity, via, spooled_for_ms}' 4
note "the spooled wrong_answer alert went out first, then the recovery"

step "7. Fault: a deployed plist drifts from the committed one; a dirty repo stays info"
echo "<!-- edited by hand -->" >>"$AGENTS/com.sanctum.mlx.plist"
echo "<!-- work in progress -->" >>"$REPO/deploy/com.sanctum.mlx.plist"
tick "${DRIFT[@]}"
events drift 'select(.level != "info" or .check == "repo_dirty") | {event, level, check, detail}' 3

step "8. Fault: the primary binary is deleted (the sixteen-hour incident)"
note "a build tool deletes the binary; the old process keeps answering health checks"
cp -p "$PRIMARY" "$ROOT/sanctum-mlx.backup"
rm "$PRIMARY"
tick "$BIN/council-guardian"
tick "${INTEGRITY[@]}" --dry-run
events integrity 'select(.level != "info") | {event, level, check, detail}' 6
note "integrity would promote the fallback (dry-run above printed the exact launchctl sequence)"

step "9. The council gets slow: council-pace learns its usual speed, then catches TTFT x4 and decode /3"
# pace sets the simulator's speed over its control listener.
pace() {
	show "curl -X POST $CONTROL/fault -d '{\"ttft\":\"$1\",\"token_delay\":\"$2\"}'"
	curl -sf -X POST "$CONTROL/fault" -d "{\"ttft\":\"$1\",\"token_delay\":\"$2\"}" >/dev/null
}
note "two more learning samples (the first was in step 3), then a judged one"
for i in 1 2; do tick "${PACE[@]}"; done
tick "${PACE[@]}"
events pace 'select(.event=="pace_sample") | {result, model, ttft_ms, decode_tps, baseline_ttft_ms, ttft_ratio, decode_ratio}' 1
note "TTFT x4: degraded at once (exit 1), alerted at warn on the second tick"
pace 600ms 10ms
for i in 1 2; do tick "${PACE[@]}"; done
events pace 'select(.event | test("pace_degraded|alert_")) | {event, check, severity, detail}' 2
pace 150ms 10ms
tick "${PACE[@]}"
events pace 'select(.event | test("recovered|alert_")) | {event, check, severity}' 2
note "decode /3: its own channel, decode_degraded"
pace 150ms 30ms
for i in 1 2; do tick "${PACE[@]}"; done
events pace 'select(.event | test("pace_degraded|alert_")) | {event, check, severity, detail}' 2
pace 150ms 10ms
tick "${PACE[@]}"
events pace 'select(.event | test("recovered|alert_")) | {event, check, severity}' 2
note "the degraded samples never entered the baseline: it still says the usual speed"

step "10. A hostile server: it renames its model on every answer while 3x slower; pace keeps judging it"
note "the baseline is the operator's (--model, or the first id /v1/models lists), not what the answers call themselves"
recoveries() { grep -c 'ttft_degraded recovered' "$ROOT/forceflow.out" || true; }
before=$(recoveries)
show "curl -X POST $CONTROL/fault -d '{\"fault\":\"rename_model\",\"ttft\":\"450ms\",\"token_delay\":\"10ms\"}'"
curl -sf -X POST "$CONTROL/fault" -d '{"fault":"rename_model","ttft":"450ms","token_delay":"10ms"}' >/dev/null
for i in 1 2 3 4; do tick "${PACE[@]}"; done
events pace 'select(.event | test("pace_sample|identity_|alert_")) | {event, result, model, served_model, ttft_ratio, check, field, to}' 8
if [ "$(recoveries)" != "$before" ]; then
	echo "pace sent a ttft_degraded recovery while the renamed server stayed 3x slower" >&2
	exit 1
fi
note "ttft_degraded every tick and alerted once, no recovery sent; identity_unstable warns: more than 3 changes in 24 h"
fault none
pace 150ms 10ms
tick "${PACE[@]}"
events pace 'select(.event | test("recovered")) | {event, check}' 2
note "the recovery comes only now, from a sample judged within the limit"

step "11. Fault: the council's window shrinks to 2048 tokens and it cuts long prompts silently, as Ollama does"
note "a prompt longer than the window is answered 200, with usage.prompt_tokens capped and only a WARN in the server's log"
show "curl -X POST $CONTROL/fault -d '{\"fault\":\"truncate\",\"context_window\":2048}'"
curl -sf -X POST "$CONTROL/fault" -d '{"fault":"truncate","context_window":2048}' >/dev/null
note "another client of the council sends a 3000-word prompt; it gets a 200 and never learns its first 952 words were dropped"
jq -n --arg p "$(printf 'word %.0s' $(seq 1 3000))" '{messages: [{role: "user", content: $p}], max_tokens: 8}' >"$ROOT/long-prompt.json"
show "curl -X POST \$COUNCIL_URL/v1/chat/completions -H 'Authorization: Bearer …' -d @long-prompt.json"
curl -sf -X POST "$COUNCIL_URL/v1/chat/completions" -H "Authorization: Bearer $(cat "$HOME/.sanctum/secrets/council-mlx.token")" \
	-H 'Content-Type: application/json' -d @"$ROOT/long-prompt.json" | jq -c '{finish: .choices[0].finish_reason, usage}'
show "grep 'truncating input prompt' $LOGS/sanctum-mlx.log"
grep 'truncating input prompt' "$LOGS/sanctum-mlx.log" | tail -n 1
note "council-context: its needle is cut too (context_truncated, error), and the other client's loss is context_pressure (warn)"
tick "${CONTEXT[@]}"
events context 'select(.level != "info") | {event, level, check, detail}' 2
show "curl -X POST $CONTROL/fault -d '{\"fault\":\"none\",\"context_window\":4096}'"
curl -sf -X POST "$CONTROL/fault" -d '{"fault":"none","context_window":4096}' >/dev/null
tick "${CONTEXT[@]}"
events context 'select(.event=="recovered") | {event, check}' 2

step "12. Another server: council-sim playing llama-server while it loads, then Ollama with the model half on the CPU, then upgraded"
note "--personality serves that server's own documented endpoints; the probes' --backend auto detects it"
note "these ticks keep their own state and log (another host's), so the council's own rows stay the council's"
OTHER="$ROOT/other-host"
mkdir -p "$OTHER/state"
# other_events prints the matching events of one of those logs.
other_events() {
	jq -c "select(.event != \"tick_done\") | $2 | del(.ts, .probe, .duration_ms) | with_entries(select(.value != null))" "$OTHER/$1.log" | tail -n "${3:-6}"
}
"$BIN/council-sim" --personality llama-server --backend-fault loading --listen 127.0.0.1:0 >"$ROOT/llama.out" 2>&1 &
pids+=($!)
LLAMA_URL=$(wait_line "$ROOT/llama.out" COUNCIL_URL)
run "$BIN/council-guardian" --transport bearer --url "$LLAMA_URL" --state-dir "$OTHER/state" --log-file "$OTHER/llama.log"
other_events llama 'select(.event=="backend_detected" or .event=="server_loading") | {event, backend, evidence, detail}' 2
note "loading is not a failure and is not restarted, for up to --max-loading (10 min)"
"$BIN/council-sim" --personality ollama --backend-fault on_cpu --listen 127.0.0.1:0 --control 127.0.0.1:0 >"$ROOT/ollama.out" 2>&1 &
pids+=($!)
OLLAMA_URL=$(wait_line "$ROOT/ollama.out" COUNCIL_URL)
OLLAMA_CONTROL=$(wait_line "$ROOT/ollama.out" COUNCIL_SIM_CONTROL_URL)
run "$BIN/council-guardian" --transport bearer --url "$OLLAMA_URL" --model council-sim-27b --gpu required --state-dir "$OTHER/state" --log-file "$OTHER/ollama.log"
other_events ollama 'select(.event=="backend_detected" or .event=="model_on_cpu") | {event, backend, level, detail}' 2
note "drift records who the server is (version, the model's digest); an upgrade between two ticks is news at info"
mkdir -p "$OTHER/deployed"
git -C "$REPO" show HEAD:deploy/com.sanctum.mlx.plist >"$OTHER/deployed/com.sanctum.mlx.plist"
echo "$OTHER/deployed/com.sanctum.mlx.plist = deploy/com.sanctum.mlx.plist" >"$OTHER/drift.map"
DRIFT_OTHER=("$BIN/council-drift" --transport bearer --url "$OLLAMA_URL" --state-dir "$OTHER/state" --log-file "$OTHER/drift.log"
	--map "$OTHER/drift.map" --expect-agent com.sanctum.mlx --watch-probe guardian=15m)
run "${DRIFT_OTHER[@]}"
show "curl -X POST $OLLAMA_CONTROL/backend-fault -d '{\"fault\":\"version_changed\"}'"
curl -sf -X POST "$OLLAMA_CONTROL/backend-fault" -d '{"fault":"version_changed"}' >/dev/null
note "an upgrade re-checks at once: drift starts parity-smoke and context now (launchctl kickstart); --dry-run shows the commands"
run "${DRIFT_OTHER[@]}" --dry-run
other_events drift 'select(.event | test("server_changed|remediation")) | {event, level, detail, probe, service}' 3

step "13. Linux: the same probes under systemd (simulated); the guardian heals a primary and names a crash's signal"
note "fake-systemctl and fake-journalctl are a SIMULATED systemd (pkg/testkit/systemdsim): real processes, systemd's formats"
note "a Linux host: --service-manager systemd (auto picks it on Linux), the user's manager (--scope user), units in ~/.config/systemd/user"
LINUX="$ROOT/linux-host"
mkdir -p "$LINUX/state" "$HOME/.config/systemd/user"
export FAKE_SYSTEMD_STATE="$LINUX/systemd.json" COUNCIL_SYSTEMCTL="$BIN/fake-systemctl" COUNCIL_JOURNALCTL="$BIN/fake-journalctl"
# free_port prints a loopback port nothing listens on (a restarted server
# must come back on the same one), below Linux's ephemeral range (32768
# up), where the machine's own outgoing connections take ports.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
LS_PORT=$(free_port)
LS_CONTROL=$(free_port)
cat >"$HOME/.config/systemd/user/llama-server.service" <<UNIT
[Unit]
Description=llama-server (council-sim playing it)

[Service]
ExecStart=$BIN/council-sim --personality llama-server --listen 127.0.0.1:$LS_PORT --control 127.0.0.1:$LS_CONTROL --access-log /dev/stdout --crash-signal SEGV
Restart=always
RestartSec=1

[Install]
WantedBy=default.target
UNIT
show "cat ~/.config/systemd/user/llama-server.service"
cat "$HOME/.config/systemd/user/llama-server.service"
run "$BIN/fake-systemctl" --user enable --now llama-server.service
LS_URL="http://127.0.0.1:$LS_PORT"
for _ in $(seq 1 100); do curl -sf "$LS_URL/v1/models" >/dev/null && break; sleep 0.1; done
note "the primary logs to the journal: --primary-log journal reads it (journalctl --user -u llama-server.service)"
GUARDIAN_LINUX=("$BIN/council-guardian" --service-manager systemd --primary-unit llama-server.service --primary-log journal
	--primary-binary "$BIN/council-sim" --transport bearer --url "$LS_URL" --state-dir "$LINUX/state" --log-file "$LINUX/guardian.log"
	--fallback-lock "$LINUX/state/council-fallback.lock" --remediation-lock "$LINUX/state/council-remediation.lock")
# linux_events prints the matching events of the Linux guardian's log.
linux_events() {
	jq -c "select(.event != \"tick_done\") | $1 | del(.ts, .probe, .duration_ms) | with_entries(select(.value != null))" "$LINUX/guardian.log" | tail -n "${2:-6}"
}
run "${GUARDIAN_LINUX[@]}"
note "the primary goes down (its listener closes): the guardian restarts it with systemctl and verifies the heal"
note "short settings for the demo: restart at the first miss, no start-up grace (the unit started seconds ago)"
show "curl -X POST http://127.0.0.1:$LS_CONTROL/fault -d '{\"fault\":\"down\"}'"
curl -sf -X POST "http://127.0.0.1:$LS_CONTROL/fault" -d '{"fault":"down"}' >/dev/null
run "${GUARDIAN_LINUX[@]}" --restart-after 1 --startup-grace 0 --timeout 2s --busy-window 0
linux_events 'select(.event | test("restarting|restart_verified")) | {event, check, action, verify_attempts}' 2
run "${GUARDIAN_LINUX[@]}"
note "that healthy tick remembered the primary's pid and start time; the next checks them in /proc and runs no systemctl"
note "now it crashes by SIGSEGV; Restart=always brings it back at once, and /v1/models never notices"
show "curl -X POST http://127.0.0.1:$LS_CONTROL/fault -d '{\"fault\":\"crash\"}'; curl -X POST $LS_URL/v1/chat/completions ..."
curl -sf -X POST "http://127.0.0.1:$LS_CONTROL/fault" -d '{"fault":"crash"}' >/dev/null
curl -s -m 2 -X POST "$LS_URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}]}' >/dev/null || true
sleep 1.5
for _ in $(seq 1 100); do curl -sf "$LS_URL/v1/models" >/dev/null && break; sleep 0.1; done
run "$BIN/fake-journalctl" --user -u llama-server.service -o cat -n 12
note "systemd's properties already say success again (only NRestarts counts); the cause is read from the journal"
run "${GUARDIAN_LINUX[@]}"
linux_events 'select(.event=="crashed") | {event, level, restarts, last_exit, last_exit_source, fatal_lines}' 1

step "14. What Force Flow received, and the suite at a glance"
cat "$ROOT/forceflow.out" | grep -v '^FORCE_FLOW_URL=' || true
run "$BIN/council-status"
# The screen must fit the terminal it is read on: checked here, line by
# line, not by eye. The width is the terminal's (100 without one), passed
# as $COLUMNS because the check reads council-status through a pipe.
cols=$(stty size 2>/dev/null </dev/tty | cut -d' ' -f2) || true
cols=${COLUMNS:-${cols:-100}}
too_wide=$(COLUMNS=$cols "$BIN/council-status" --color never | jq -Rr --argjson w "$cols" 'select(length > $w)') || true
if [ -n "$too_wide" ]; then
	echo "council-status printed lines wider than the $cols-column terminal:" >&2
	echo "$too_wide" >&2
	exit 1
fi
note "every line of the status screen fits in $cols columns"

step "Done"
note "logs: $LOGS/council-*.log (JSON lines; try: jq -c 'select(.level != \"info\")' $LOGS/council-canary.log)"
