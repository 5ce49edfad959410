#!/usr/bin/env bash
# Runs a service the way its systemd unit says, where systemd is not PID 1
# (CI containers): the unit's User/Group, UMask, StateDirectory (made with
# its mode), Environment and EnvironmentFile (a leading "-": optional),
# ExecStartPre commands in order, then ExecStart in the background.
#
#   packaging/run-unit.sh UNIT_FILE LOG_FILE   → prints the service's PID
#
# Only the directives Ironpool's units use are read; the sandboxing ones
# (ProtectSystem, capabilities, …) need systemd and are checked with
# `systemd-analyze verify` instead.
set -euo pipefail
UNIT=${1:?usage: run-unit.sh UNIT_FILE LOG_FILE}
LOG=${2:?usage: run-unit.sh UNIT_FILE LOG_FILE}
get() { sed -n "s/^$1=//p" "$UNIT"; }
USER_=$(get User | tail -n1)
GROUP_=$(get Group | tail -n1)
UMASK_=$(get UMask | tail -n1)
MODE=$(get StateDirectoryMode | tail -n1)
for d in $(get StateDirectory); do
  install -d -m "${MODE:-0755}" -o "$USER_" -g "$GROUP_" "/var/lib/$d"
done
ENVS=()
while IFS= read -r e; do ENVS+=("$e"); done < <(get Environment)
while IFS= read -r f; do
  opt=""; [ "${f#-}" != "$f" ] && { opt=1; f=${f#-}; }
  if [ -r "$f" ]; then
    while IFS= read -r line; do
      case "$line" in ''|'#'*) continue ;; esac
      ENVS+=("$line")
    done < "$f"
  elif [ -z "$opt" ]; then
    echo "run-unit: EnvironmentFile $f is missing" >&2; exit 1
  fi
done < <(get EnvironmentFile)
as_unit() {
  (umask "${UMASK_:-0022}"; cd /; exec setpriv --reuid="$USER_" --regid="$GROUP_" --init-groups \
     env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/ironpool "${ENVS[@]}" "$@")
}
while IFS= read -r cmd; do
  # shellcheck disable=SC2086  # a unit's command line is split on spaces
  as_unit ${cmd#-} >>"$LOG" 2>&1 || { [ "${cmd#-}" != "$cmd" ] || { echo "run-unit: ExecStartPre failed: $cmd" >&2; exit 1; }; }
done < <(get ExecStartPre)
START=$(get ExecStart | tail -n1)
# shellcheck disable=SC2086
setsid bash -c "$(declare -f as_unit); $(declare -p USER_ GROUP_ UMASK_ ENVS); as_unit $START" >>"$LOG" 2>&1 < /dev/null &
echo $!
