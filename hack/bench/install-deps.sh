#!/usr/bin/env bash
# install-deps.sh installs the Debian packages `make bench` runs: wrk (closed-loop load), haproxy (the TLS
# passthrough peer), nginx-light (the world origin and the origination peers: it has ssl, http_v2 and upstream
# keepalive), strace (counting splice calls), iptables and iproute2 (egress-init and the namespaces), curl
# and setpriv. It installs only what is missing, so a warm run costs nothing, and stops the daemons Debian's
# postinst scripts start (by their pid files): the benchmark runs its own instances in its own namespaces.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have wrk || need+=(wrk)
have haproxy || need+=(haproxy)
have nginx || need+=(nginx-light)
have strace || need+=(strace)
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have curl || need+=(curl)
have setpriv || need+=(util-linux)

if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "bench install-deps: missing ${need[*]} and not root: run as root or install them with apt-get" >&2
		exit 1
	fi
	echo "bench install-deps: apt-get install ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# Stop only the daemons the packages started (by their pid files), never other users' instances.
	for pidfile in /run/nginx.pid /run/haproxy.pid; do
		if [[ -s $pidfile ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
	done
fi
