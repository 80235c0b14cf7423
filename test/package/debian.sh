#!/usr/bin/env bash
# test/package/debian.sh: the Debian package, as a user of the machine's
# PostgreSQL would take it (TAP; run as root from anywhere).
#
# Builds postgresql-15-webflow with scripts/deb (which also runs `make
# installcheck` on the staged files and lintian), installs it with dpkg on
# the machine's PostgreSQL 15, starts a throwaway cluster of its own that
# preloads the library, and in it runs CREATE EXTENSION webflow and one
# API call against the local Webflow fake.  Then it purges the package and
# puts back whatever files of the same names were there before (a `make
# install`), so the machine is left as it was.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. scripts/lib.sh
. test/package/tap.sh
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP installing a package needs root"; exit 0; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/webflow-pkg.XXXXXX")
chmod 755 "$WORK"
backup="$WORK/backup"
PKG=postgresql-15-webflow
cleanup() {
	cluster_stop "$WORK/cluster"
	bash "$ROOT/test/services" stop "$WORK/services" >/dev/null 2>&1 || true
	if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed" &&
		[ ! -f "$WORK/was-installed" ]; then
		dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	# put back the files a `make install` had there
	[ -d "$backup" ] && cp -a "$backup/." /
	rm -rf "$WORK"
}
trap cleanup EXIT

deb=$(OUT="$WORK/out" bash scripts/deb 2>"$WORK/deb.err" | grep "/${PKG}_.*_amd64\.deb$")
check "scripts/deb builds ${PKG}_<version>_amd64.deb (installcheck and lintian pass)" test -f "$deb"
[ -f "$deb" ] || { cat "$WORK/deb.err" | sed 's/^/# /' | tail -40; finish; }
version=$(dpkg-deb -f "$deb" Version)
check "the package's version is META.json's ($version)" grep -q "\"version\": \"$version\"" META.json

# keep what the package will overwrite, to put it back afterwards
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed" && touch "$WORK/was-installed"
mkdir -p "$backup"
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' | while read -r f; do
	[ -f "$f" ] && { mkdir -p "$backup$(dirname "$f")"; cp -a "$f" "$backup$f"; }
done

check "dpkg installs it on the machine's PostgreSQL" dpkg -i "$deb"
check "the library and the SQL scripts belong to the package" \
	bash -c "dpkg -S \"\$(pg_config --pkglibdir)/webflow.so\" && dpkg -S \"\$(pg_config --sharedir)/extension/webflow.control\""

# a cluster of our own, preloading the installed library, and the fake
WITHOUT_PRISM=1 bash test/services start "$WORK/services" >/dev/null 2>&1
. "$WORK/services/env"
port=$(free_port)
mkdir -p "$WORK/cluster"
chown "$(pg_owner)" "$WORK/cluster"
check "a cluster preloading the packaged library starts" cluster_start "$WORK/cluster" "$port" \
	"shared_preload_libraries = 'webflow'" "webflow.token = 'test-token'" \
	"webflow.api_url = '$WEBFLOW_FAKE_URL'"
psql_() { as_pg psql -X -q -At -h "$WORK/cluster" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" webflow.control)
# extension_created: CREATE EXTENSION makes the control file's version
extension_created() {
	psql_ 'CREATE EXTENSION webflow' && [ "$(psql_ "SELECT extversion FROM pg_extension WHERE extname = 'webflow'")" = "$want" ]
}
# api_call_works: one request to the fake through the installed library
api_call_works() {
	psql_ "SELECT s->>'displayName' FROM webflow.list_sites() s" | grep -q .
}
# worker_runs: the preloaded library's background worker reports itself
worker_runs() {
	[ "$(psql_ "SELECT webflow.worker_status()->>'preloaded'")" = true ]
}
check "CREATE EXTENSION webflow makes version $want" extension_created
check "an API call reaches the fake (webflow.list_sites())" api_call_works
check "the background worker of the packaged library runs" worker_runs
cluster_stop "$WORK/cluster"

check "dpkg purges it" dpkg --purge "$PKG"
check "the purge leaves none of the package's files" \
	bash -c "[ ! -e \"\$(pg_config --pkglibdir)/webflow.so\" ] && ! ls \"\$(pg_config --sharedir)\"/extension/webflow* 2>/dev/null"
finish
