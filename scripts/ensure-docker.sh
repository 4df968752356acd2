#!/usr/bin/env bash
# Makes sure a Docker engine is installed and answering, with gVisor's runsc registered when present.
# No systemd here, so dockerd is started in the background and its log kept in /var/log/grader-dockerd.log.
set -euo pipefail

if ! command -v dockerd >/dev/null 2>&1; then
  echo "[docker] installing docker.io (and runsc for gVisor)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
  apt-get install -y -qq runsc >/dev/null || echo "[docker] runsc not available; containers will use runc"
fi

if command -v runsc >/dev/null 2>&1 && [ ! -f /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  # runsc cannot set up networking on these machines, so it runs with --network=none;
  # service mode (which needs a network) uses runc.
  cat > /etc/docker/daemon.json <<JSON
{
  "runtimes": {
    "runsc": {"path": "$(command -v runsc)", "runtimeArgs": ["--network=none"]}
  }
}
JSON
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

echo "[docker] starting dockerd in the background"
nohup dockerd >/var/log/grader-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "[docker] engine is up"
    exit 0
  fi
  sleep 1
done
echo "[docker] dockerd did not come up; last lines of its log:" >&2
tail -n 30 /var/log/grader-dockerd.log >&2
exit 1
