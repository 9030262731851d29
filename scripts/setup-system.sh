#!/usr/bin/env bash
# Installs the Debian 12 packages the tests, the lab and the demo need. Idempotent.
set -euo pipefail
packages=(
  mariadb-server mariadb-client   # one real MariaDB per lab host; mysqldump for onedb
  iproute2 iputils-arping iputils-ping nftables   # hosts, VIP, partitions
  sqlite3 procps psmisc util-linux
  openssh-client openssh-server   # sshd on each lab host: front-ends pull dumps and secrets over SSH
  insserv                         # Salt's debian_service.enable runs insserv (lab hosts have no systemd)
  sudo                            # OpenNebula's vip.sh runs ip/arping through sudo -n as oneadmin
  python3-venv build-essential    # venv + timelib build for Salt
  haproxy                         # the client host's load balancer in the no-VIP mode e2e test
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-system: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
