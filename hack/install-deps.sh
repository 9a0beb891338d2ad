#!/usr/bin/env bash
# install-deps.sh installs the Debian packages the tests and the demo run for real: iptables for egress-init,
# nginx as the "world" origin, prometheus for promtool and the scrape test, curl as the app, conntrack and
# iproute2 for network namespaces, runc and the CNI plugins for the real node (internal/cluster). It installs
# only what is missing, so a warm run costs nothing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have iptables || need+=(iptables)
have nginx || need+=(nginx-light)
have promtool || need+=(prometheus)
have curl || need+=(curl)
have conntrack || need+=(conntrack)
have ip || need+=(iproute2)
have dig || need+=(dnsutils)
have openssl || need+=(openssl)
have strace || need+=(strace)
have runc || need+=(runc)
[[ -x /usr/lib/cni/ptp ]] || need+=(containernetworking-plugins)
have nsenter || need+=(util-linux)

if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing ${need[*]} and not root: run as root or install them with apt-get" >&2
		exit 1
	fi
	echo "install-deps: apt-get install ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
