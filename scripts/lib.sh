# scripts/lib.sh: shell helpers shared by scripts/test, scripts/demo and
# bench/: throwaway PostgreSQL clusters run as an unprivileged user, free
# ports, and the local Webflow services.  Source it; it defines functions only.

PG_BINDIR=$(pg_config --bindir)

# as_pg runs a command as the unprivileged cluster owner (postgres when we
# are root, ourselves otherwise).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PG_BINDIR:$PATH" "$@"
	else
		env PATH="$PG_BINDIR:$PATH" "$@"
	fi
}

# pg_owner names the user that owns the clusters we start.
pg_owner() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# free_port prints a TCP port nobody listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cluster_start DIR PORT [CONF_LINE...] creates and starts a cluster in
# DIR/pgdata listening on a Unix socket in DIR only.
cluster_start() {
	local dir=$1 port=$2
	shift 2
	as_pg "$PG_BINDIR/initdb" -D "$dir/pgdata" -A trust -U postgres --no-sync >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "max_worker_processes = 16"
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$dir/pgdata/postgresql.conf" >/dev/null
	as_pg "$PG_BINDIR/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 start >/dev/null
}

# cluster_stop DIR stops the cluster started by cluster_start, if running.
cluster_stop() {
	local dir=$1
	if [ -f "$dir/pgdata/postmaster.pid" ]; then
		as_pg "$PG_BINDIR/pg_ctl" -D "$dir/pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
}
