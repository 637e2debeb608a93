#!/bin/bash
# ipmi_sim chassis_control program (from ../shared/testbed/ipmi/chassis.sh). The simulated server's
# "host" is an sshd when $D/sshd_config exists (so powering the server on brings its SSH up, and a
# soft or hard off takes it down), else a dummy sleep. Every command is logged to $D/chassis.log.
#   chassis.sh <statedir> get power            -> prints "power:0|1"
#   chassis.sh <statedir> set power "1"|"0"    -> on / off;  set shutdown "1" -> soft off (ACPI)
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
D="$1"; shift
op="$1"; shift
log() { echo "$(date +%s.%N) $*" >> "$D/chassis.log"; }
host_on()  { [ -f "$D/host.pid" ] && kill -0 "$(cat "$D/host.pid")" 2>/dev/null; }
start_host() {
  host_on && return 0
  if [ -f "$D/sshd_config" ]; then
    setsid /usr/sbin/sshd -D -f "$D/sshd_config" </dev/null >/dev/null 2>&1 &
  else
    setsid sleep 1000000 </dev/null >/dev/null 2>&1 &
  fi
  echo $! > "$D/host.pid"; echo 1 > "$D/power"
}
stop_host() {
  if host_on; then kill "$(cat "$D/host.pid")" 2>/dev/null; fi
  rm -f "$D/host.pid"; echo 0 > "$D/power"
}
[ "$op" = get ] || log "$op $*"
case "$op" in
  get)
    for item in "$@"; do
      case "$item" in
        power) if host_on; then echo "power:1"; else echo "power:0"; fi ;;
        *)     echo "$item:0" ;;
      esac
    done ;;
  set)
    while [ $# -ge 2 ]; do
      item="$1"; val="$2"; shift 2
      case "$item" in
        power)    if [ "$val" = 1 ]; then start_host; else stop_host; fi ;;
        shutdown) if [ -e "$D/ignore_soft" ]; then :
                  elif [ -s "$D/soft_delay" ]; then
                    setsid bash -c "sleep $(cat "$D/soft_delay"); \"$0\" \"$D\" set power 0" </dev/null >/dev/null 2>&1 &
                  else stop_host; fi ;;
        reset)    if host_on; then stop_host; start_host; fi ;;
        *)        echo "$val" > "$D/$item" ;;
      esac
    done ;;
esac
exit 0
