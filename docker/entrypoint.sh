#!/bin/sh
# The image's entrypoint: `probe` with the interpreter that carries CAP_NET_RAW (for packet capture) only when the
# container was granted NET_RAW (`docker run --cap-drop ALL --cap-add NET_RAW ...`); otherwise the plain one, so
# there is no capture and no EPERM from exec (a file capability outside the bounding set makes exec fail).
# NET_RAW is capability 13 (linux/capability.h); CapBnd in /proc/self/status is the bounding set, in hex.
set -eu
status="${PROBE_PROC_STATUS:-/proc/self/status}"
plain="${PROBE_PYTHON:-/usr/local/bin/python3}"
netraw="${PROBE_PYTHON_NETRAW:-/usr/local/bin/python3-netraw}"
bounding=$(sed -n 's/^CapBnd:[[:space:]]*//p' "$status")
if [ -n "$bounding" ] && [ -x "$netraw" ] && [ $(( (0x$bounding >> 13) & 1 )) -eq 1 ]; then
  exec "$netraw" -m probe "$@"
fi
exec "$plain" -m probe "$@"
