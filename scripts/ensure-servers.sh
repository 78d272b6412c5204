#!/usr/bin/env bash
# Runs before `npm test`: the tests start their own throwaway redis-server, mariadbd, prometheus,
# memcached and headless chromium, so those programs must be installed. Missing ones are installed
# with apt-get when this runs as root; otherwise it stops at once and prints the command to run.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# program -> the Debian package that ships it
programs=(
  redis-server:redis-server
  redis-cli:redis-tools
  mariadbd:mariadb-server
  mariadb-install-db:mariadb-server
  prometheus:prometheus
  promtool:prometheus
  chromium:chromium
  memcached:memcached
  openssl:openssl
)

missing_programs=()
missing_packages=()
for pair in "${programs[@]}"; do
  program=${pair%%:*}
  package=${pair#*:}
  if ! command -v "$program" >/dev/null 2>&1; then
    missing_programs+=("$program")
    [[ " ${missing_packages[*]-} " == *" $package "* ]] || missing_packages+=("$package")
  fi
done

if ((${#missing_packages[@]} == 0)); then
  exit 0
fi

install=(apt-get install -y --no-install-recommends "${missing_packages[@]}")
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need ${missing_programs[*]}. Install them, then run npm test again:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive ${install[*]}" >&2
  exit 1
fi

echo "installing what the tests need: ${missing_packages[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt run instead of failing on its lock.
lock_wait=(-o DPkg::Lock::Timeout=300)
apt-get "${lock_wait[@]}" update -qq
apt-get "${lock_wait[@]}" "${install[@]:1}"

# The packages' own services are not what the tests use (they start servers on free ports);
# stop any that the install started so nothing listens on the standard ports.
for service in redis-server mariadb memcached prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

still=()
for program in "${missing_programs[@]}"; do
  command -v "$program" >/dev/null 2>&1 || still+=("$program")
done
if ((${#still[@]} > 0)); then
  echo "apt-get finished but these are still missing: ${still[*]}" >&2
  exit 1
fi
