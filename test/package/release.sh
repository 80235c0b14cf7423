#!/usr/bin/env bash
# test/package/release.sh: what a user who downloads a release finds (TAP).
#
# LICENSE is the PostgreSQL License and is named where users look for it;
# META.json is valid PGXN metadata for this version (scripts/check-meta);
# CHANGELOG.md and debian/changelog describe this version; `make dist` makes
# the zip PGXN takes.  Run from the repository's top (a git clone: make dist
# archives HEAD).
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/package/tap.sh

version=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" webflow.control)
[[ $version == *.*.* ]] && semver=$version || semver=$version.0

check "LICENSE is the PostgreSQL License" grep -q "^PostgreSQL License" LICENSE
check "webflow.control names the license" grep -q "PostgreSQL License" webflow.control
check "the README names the license" grep -q "PostgreSQL License" README.md
check "META.json is valid PGXN metadata for $semver" scripts/check-meta
check "META.json says license postgresql" grep -q '"license": "postgresql"' META.json
check "scripts/check-meta refuses a META.json without a version" \
	bash -c 'f=$(mktemp); python3 -c "import json,sys; m=json.load(open(\"META.json\")); del m[\"version\"]; json.dump(m, open(sys.argv[1], \"w\"))" "$f"; ! scripts/check-meta "$f"; r=$?; rm -f "$f"; exit $r'
check "CHANGELOG.md has this version ($version) and 1.0" \
	bash -c "grep -q '^## $version ' CHANGELOG.md && grep -q '^## 1.0 ' CHANGELOG.md"
check "debian/changelog's newest entry is $semver" \
	bash -c "[ \"\$(dpkg-parsechangelog -l debian/changelog -S Version)\" = '$semver' ]"
check "debian/control is what pg_buildext makes of control.in and pgversions" pg_buildext checkcontrol

# make dist: a zip with the release's files under webflow-<version>/
tmp=$(mktemp -d)
check "make dist makes webflow-$semver.zip" bash -c "make -s dist >/dev/null && mv webflow-$semver.zip '$tmp'/"
listing=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' \
	"$tmp/webflow-$semver.zip" 2>/dev/null)
for f in META.json LICENSE CHANGELOG.md README.md Makefile webflow.control webflow--1.0.sql \
	webflow--1.0--1.1.sql src/webflow.c test/webflow-openapi/LICENSE; do
	check "the zip holds $f" grep -qx "webflow-$semver/$f" <<<"$listing"
done
check "every file of the zip is under webflow-$semver/" bash -c "! grep -v '^webflow-$semver/' <<<'$listing'"
check "the zip holds no node_modules, objects or test output" \
	bash -c "! grep -E 'node_modules|\\.o\$|\\.so\$|/results/|regression\\.diffs' <<<'$listing'"
rm -rf "$tmp"

finish
