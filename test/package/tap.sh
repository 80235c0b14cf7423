# test/package/tap.sh: TAP output for the packaging tests.  Source it; it
# defines check and finish.
n=0
fails=0

# check DESCRIPTION COMMAND...: one TAP line for a command's success (its
# output's last lines as diagnostics when it fails)
check() {
	local desc=$1 out
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "$out" | tail -30 | sed 's/^/# /'
		fails=$((fails + 1))
	fi
}

# finish prints the plan and exits non-zero when a check failed
finish() {
	echo "1..$n"
	exit $((fails > 0))
}
