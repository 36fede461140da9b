#!/bin/sh
# Profiles wotkit's broker and bare mochi under the same load, one after the
# other: CPU profiles of the connect path (keys, and tokens for wotkit) and of
# the publish path (QoS 0 and 1). Brokers run pinned to the last CPU, the load
# to the first (when there are two or more and taskset exists).
#
#   make build && go build -o bin/wotkit-bench ./cmd/wotkit-bench && bench/profile.sh [OUTDIR]
#
# Then, for example:
#   go tool pprof -top OUTDIR/wotkit-qos0.pb.gz
#   go tool pprof -top -diff_base OUTDIR/mochi-qos0.pb.gz OUTDIR/wotkit-qos0.pb.gz
set -eu
out=${1:-bench-profiles}
secs=${PROFILE_SECONDS:-10}
mkdir -p "$out"
work=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

broker_pin="" load_pin=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	broker_pin="taskset -c $(($(nproc) - 1))"
	load_pin="taskset -c 0"
fi

bin/wotkit-bench setup --wotkit bin/wotkit --data "$work/data" >/dev/null
$broker_pin bin/wotkit-bench wotkit --data "$work/data" --mqtt 127.0.0.1:21883 --pprof 127.0.0.1:21884 --log-level warn 2>"$work/wotkit.log" &
pids="$pids $!"
$broker_pin bin/wotkit-bench mochi --mqtt 127.0.0.1:21885 --pprof 127.0.0.1:21886 --log-level warn 2>"$work/mochi.log" &
pids="$pids $!"
sleep 1

# profile NAME PPROF_ADDR LOAD_ARGS...: CPU profile of the broker while the load runs.
profile() {
	name=$1 pprof=$2
	shift 2
	$load_pin bin/wotkit-bench load --duration $((secs + 2))s "$@" >"$out/$name.txt" &
	load=$!
	sleep 1
	curl -sf -o "$out/$name.pb.gz" "http://$pprof/debug/pprof/profile?seconds=$secs"
	wait $load
	echo "$name: $(cat "$out/$name.txt")"
}

for scenario in connect qos0 qos1; do
	profile "wotkit-$scenario" 127.0.0.1:21884 --addr 127.0.0.1:21883 --creds "$work/data/keys.json" --scenario $scenario
	profile "mochi-$scenario" 127.0.0.1:21886 --addr 127.0.0.1:21885 --scenario $scenario
done
profile wotkit-connect-token 127.0.0.1:21884 --addr 127.0.0.1:21883 --creds "$work/data/tokens.json" --scenario connect
echo "profiles in $out"
