#!/usr/bin/env bash
# Offline vulnerability scan (README: "Vulnerability scan"). Everything comes
# through the Go module proxy, pinned here:
#   govulncheck  golang.org/x/vuln/cmd/govulncheck@GOVULNCHECK_VERSION
#   the data     golang.org/x/vulndb@VULNDB_VERSION (data/osv), indexed by its
#                own cmd/indexdb into a v1 database read with -db file://...
#   the stdlib   of Go VULN_GO, or of the go this environment runs when
#                that is newer (VULN_GO is a golang.org/toolchain module,
#                checksum-verified, as GOTOOLCHAIN fetches it)
# It scans ./... in source mode and fails on any vulnerability reachable from
# our code unless vuln/accepted.txt accepts it with a reason (vuln/gate).
# Tools and the database are kept in VULN_CACHE, keyed by version.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
VULN_GO=${VULN_GO:-go1.26.11}
GO=${GO:-go}
VULN_CACHE=${VULN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/wotkit-vuln}
SELFTEST_ID=GO-2021-0113 # golang.org/x/text/language.Parse, vuln/testdata/reachable

start=$SECONDS
step() { printf 'vuln: %s (%ds)\n' "$*" $((SECONDS - start)) >&2; }
die() {
	echo "vuln: $*" >&2
	exit 1
}

mkdir -p "$VULN_CACHE"
run=$VULN_CACHE/run
rm -rf "$run" && mkdir -p "$run"

# 1. The toolchain whose standard library is scanned: the one this
#    environment's go runs (GOTOOLCHAIN as given), or VULN_GO when that is
#    older. Tools are built with it too.
given_tc=${GOTOOLCHAIN:-}
env_go=$($GO env GOVERSION)
if [ "$(printf '%s\n%s\n' "${env_go#go}" "${VULN_GO#go}" | sort -V | tail -1)" = "${env_go#go}" ]; then
	scan_go=$env_go
else
	export GOTOOLCHAIN=$VULN_GO
	scan_go=$VULN_GO
fi

# 2. Downloads and builds, side by side (mostly waiting on the proxy): the
#    tools, each from its own go.mod (go install pkg@version, checksums
#    verified against the checksum database), the toolchain, our modules.
install() { # PKG VERSION DIR
	local dir=$3
	[ -x "$dir/$(basename "$1")" ] && return 0
	step "installing $1@$2"
	rm -rf "$dir.tmp"
	GOBIN=$dir.tmp $GO install "$1@$2"
	rm -rf "$dir" && mv "$dir.tmp" "$dir"
}
# govulncheck reads the standard library with the go/build tags of the Go it
# was built with, so it is built with (and kept per) the scanned version.
govulncheck=$VULN_CACHE/govulncheck@$GOVULNCHECK_VERSION-$scan_go/govulncheck
indexdb=$VULN_CACHE/indexdb@$VULNDB_VERSION/indexdb
install golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION" "$(dirname "$govulncheck")" &
p1=$!
install golang.org/x/vulndb/cmd/indexdb "$VULNDB_VERSION" "$(dirname "$indexdb")" &
p2=$!
{ $GO mod download && $GO -C vuln/testdata/reachable mod download; } &
p3=$!
wait $p1 || die "could not install govulncheck@$GOVULNCHECK_VERSION"
wait $p2 || die "could not install indexdb@$VULNDB_VERSION"
wait $p3 || die "could not download $scan_go or the modules"
[ "$($GO env GOVERSION)" = "$scan_go" ] || die "could not get $scan_go (GOTOOLCHAIN=${GOTOOLCHAIN:-})"
step "tools ready; standard library of $scan_go (this environment's go: $env_go)"

# 3. The database: data/osv of the vulndb module zip, indexed locally.
db=$VULN_CACHE/db@$VULNDB_VERSION
if [ ! -s "$db/index/modules.json" ]; then
	step "building the database from golang.org/x/vulndb@$VULNDB_VERSION"
	src=$(cd "$run" && GOWORK=off $GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/data/osv" ] || die "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION (got: '$src')"
	rm -rf "$db.tmp"
	"$indexdb" -vulns "$src/data/osv" -out "$db.tmp"
	want=$(find "$src/data/osv" -name 'GO-*.json' | wc -l)
	got=$(find "$db.tmp/ID" -name 'GO-*.json' | wc -l)
	[ "$want" -gt 1000 ] && [ "$got" -eq "$want" ] || die "database has $got entries of $want in data/osv"
	# indexdb leaves the database's modified time at zero; use the commit time
	# in the pseudo-version so govulncheck reports how old the data is.
	ts=$(echo "$VULNDB_VERSION" | sed -n 's/^v0\.0\.0-\([0-9]\{14\}\)-.*/\1/p')
	printf '{"modified":"%s-%s-%sT%s:%s:%sZ"}' "${ts:0:4}" "${ts:4:2}" "${ts:6:2}" "${ts:8:2}" "${ts:10:2}" "${ts:12:2}" >"$db.tmp/index/db.json"
	gzip -nc "$db.tmp/index/db.json" >"$db.tmp/index/db.json.gz"
	rm -rf "$db" && mv "$db.tmp" "$db"
fi
step "database: $(find "$db/ID" -name 'GO-*.json' | wc -l) entries, $(cat "$db/index/db.json")"

$GO build -o "$run/gate" ./vuln/gate
scan() { # DIR OUT [GOTOOLCHAIN]
	GOTOOLCHAIN=${3-${GOTOOLCHAIN:-}} "$govulncheck" -C "$1" -db "file://$db" -format json ./... >"$2" ||
		die "govulncheck failed in $1 (output: $2)"
}

# 4. Self-test: a known reachable vulnerability must fail the gate, or the
#    database or the scan is broken and a green result would mean nothing.
scan vuln/testdata/reachable "$run/selftest.json"
rc=0
"$run/gate" -go "$scan_go" <"$run/selftest.json" >"$run/selftest.txt" 2>&1 || rc=$?
if [ $rc -ne 1 ] || ! grep -q "^REACHABLE $SELFTEST_ID golang.org/x/text@" "$run/selftest.txt"; then
	cat "$run/selftest.txt" >&2
	die "self-test: $SELFTEST_ID in vuln/testdata/reachable was not reported as reachable (gate exit $rc)"
fi
step "self-test: $SELFTEST_ID found reachable in vuln/testdata/reachable, as it must"

# 5. The scan.
$GO list -deps ./... >"$run/deps.txt"
scan . "$run/scan.json"
if ! "$run/gate" -accept vuln/accepted.txt -deps "$run/deps.txt" -go "$scan_go" <"$run/scan.json"; then
	die "reachable vulnerabilities; details: GOTOOLCHAIN=$GOTOOLCHAIN $govulncheck -db file://$db ./..."
fi
step "done: no reachable vulnerability that vuln/accepted.txt does not accept"

# 6. For the record (never fails): what this environment's older go would add.
if [ "$scan_go" != "$env_go" ]; then
	scan . "$run/scan-env.json" "$given_tc"
	"$run/gate" <"$run/scan-env.json" >"$run/scan-env.txt" 2>&1 || true
	ids=$(sed -n 's/^REACHABLE \(GO-[0-9-]*\) stdlib@.*/\1/p' "$run/scan-env.txt")
	step "note: built with this environment's $env_go instead, $(echo "$ids" | grep -c GO-) reachable standard library vulnerabilities: $(echo $ids) (build with GOTOOLCHAIN=$scan_go; README: Vulnerability scan)"
fi
