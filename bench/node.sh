#!/bin/sh
# Node benchmarks (ferry-handler + ferry-launcher on a real libvirtd):
#   1. VMI created (Scheduled on the node, as the controller leaves it) ->
#      phase Running (domain started), median of 20, one at a time;
#   2. RSS of ferry-launcher per VM and of ferry-handler, with 10 VMs up;
#   3. 50 tiny VMs created together -> time until all are Running.
# Goals (issue #6): median <= 1 s to Running; <= 16 MiB per-VM overhead
# outside qemu.  The burst uses startStrategy: Paused (domains are started
# with their vCPUs stopped, and without disks, which they would share) so that 50 TCG guests do not take a shared
# 2-core machine for minutes; runs 1 and 2 boot the tiny guest for real.
#
#   bench/node.sh [BUILD/bin]      (root; starts its own libvirtd if none runs)
set -eu
BIN=${1:-$(dirname "$0")/../build/bin}
export FERRY_BIN=$(cd "$BIN" && pwd)
export FERRY_BUILD=$(dirname "$FERRY_BIN")
export FERRY_SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=bn
node_setup
node_start_handler
node_volume bn-disk

ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d", m}'; }

# 1. creation -> Running, one VMI at a time
GRACE=0 node_vmi_yaml bn-seq bn-disk > "$WORK/seq.yaml"
: > "$WORK/seq.ms"
for i in $(seq 1 20); do
    sed "s/name: bn-seq$/name: bn-seq-$i/" "$WORK/seq.yaml" > "$WORK/seq-$i.yaml"
    t0=$(ms)
    tool create "$WORK/seq-$i.yaml" "$NODE"
    tool wait-phase "$NS" "bn-seq-$i" Running 60
    echo $(( $(ms) - t0 )) >> "$WORK/seq.ms"
    tool delete "$NS" "bn-seq-$i"
    tool wait-gone "$NS" "bn-seq-$i" 60
done
echo "creation -> Running, 20 VMIs one at a time: median $(median < "$WORK/seq.ms") ms" \
     "(min $(sort -n "$WORK/seq.ms" | head -1), max $(sort -n "$WORK/seq.ms" | tail -1))"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# proportional set size: shared library pages divided among the processes using them
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# 3 first (paused burst), then measure RSS with those running
cat > "$WORK/burst.yaml" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: bn-burst
  namespace: $NS
spec:
  startStrategy: Paused
  terminationGracePeriodSeconds: 0
  domain:
    resources:
      requests:
        memory: 64Mi
YAML
t0=$(ms)
tool create-many "$WORK/burst.yaml" "$NODE" 50
for i in $(seq 0 49); do tool wait-phase "$NS" "bn-burst-$i" Running 300; done
echo "50 VMIs created together -> all Running: $(( $(ms) - t0 )) ms"

# 2. RSS per VM outside qemu
total=0; ptotal=0; n=0
for f in "$STATE"/vmis/"$NS"/bn-burst-*/launcher.pid; do
    p=$(cat "$f")
    total=$((total + $(rss_kb "$p"))); ptotal=$((ptotal + $(pss_kb "$p"))); n=$((n + 1))
done
h=$(rss_kb "$HANDLER_PID")
echo "ferry-launcher: RSS $((total / n)) KiB, PSS $((ptotal / n)) KiB (average over $n launchers)"
echo "ferry-handler: RSS $h KiB with $n VMIs ($((h / n)) KiB per VM)"
echo "per-VM overhead outside qemu: RSS $(( (total / n + h / n) / 1024 )) MiB, PSS $(( (ptotal / n + h / n) / 1024 )) MiB (launcher + handler share)"
qtotal=0
for i in $(seq 0 49); do
    f=/run/libvirt/qemu/${NS}_bn-burst-$i.pid
    [ -f "$f" ] && qtotal=$((qtotal + $(rss_kb "$(cat "$f")")))
done
echo "(qemu RSS, paused 64Mi guests: $((qtotal / 50)) KiB average)"

t0=$(ms)
for i in $(seq 0 49); do tool delete "$NS" "bn-burst-$i"; done
for i in $(seq 0 49); do tool wait-gone "$NS" "bn-burst-$i" 300; done
echo "50 VMIs deleted -> all cleaned up: $(( $(ms) - t0 )) ms"
