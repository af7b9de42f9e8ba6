#!/bin/sh
# The bridge binding on a real libvirtd: a VMI whose interface has the bridge
# binding and a fixed MAC joins a host bridge the test creates (a private /24
# with a dnsmasq DHCP server bound to that bridge only, a fixed lease for the
# MAC); the guest gets its lease (it prints it on the serial console), the
# host pings it, and the VMI's status.interfaces[0].ipAddress/ipAddresses
# show it: first from the DHCP lease file (handler --dhcp-leases), then, after
# a handler without the lease file and a replaced launcher, from ARP.
# Bridge, dnsmasq, handler and domain are removed/stopped by pid on exit.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=br
for t in ip dnsmasq jq; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || { echo "missing: $t"; exit 77; }
done
PATH=$PATH:/usr/sbin:/sbin
[ -c /dev/net/tun ] || { echo "missing: /dev/net/tun"; exit 77; }
if command -v ping >/dev/null 2>&1; then PING=ping
elif busybox ping -h 2>&1 | grep -q -i usage; then PING="busybox ping"
else echo "missing: ping (iputils-ping or busybox)"; exit 77; fi

BR=fbr$$
BR_UP=0
DNSMASQ_PID=
bridge_cleanup() {
    set +e
    if [ -n "$DNSMASQ_PID" ]; then
        kill -TERM "$DNSMASQ_PID" 2>/dev/null
        i=0; while kill -0 "$DNSMASQ_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$DNSMASQ_PID" 2>/dev/null
    fi
    [ "$BR_UP" = 1 ] && ip link del "$BR" 2>/dev/null
}

node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && { dump_logs; echo "---- dnsmasq.log"; tail -20 "$WORK/dnsmasq.log" 2>/dev/null; }
      bridge_cleanup; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry

# A /24 in 10.213.0.0/16 that no interface or route of this host uses.
NET=
for k in 0 1 2 3 4 5 6 7 8 9; do
    cand=10.213.$(( ($$ + k * 37) % 250 + 1 ))
    ip -4 addr show | grep -q "inet $cand\." && continue
    ip -4 route show | grep -q "^$cand\." && continue
    NET=$cand; break
done
[ -n "$NET" ] || { echo "missing: a free private /24 in 10.213.0.0/16"; exit 77; }
ip link add "$BR" type bridge || { echo "missing: bridge creation (ip link add type bridge)"; exit 77; }
BR_UP=1
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
MAC=52:54:00:fe:$(printf '%02x:%02x' $(( ($$ >> 8) & 255 )) $(( $$ & 255 )))
GUEST_IP=$NET.77
LEASES=$WORK/dnsmasq.leases
: > "$LEASES"
dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --user=root --group=root \
    --interface="$BR" --bind-interfaces --except-interface=lo \
    --dhcp-range="$NET.50,$NET.99,255.255.255.0,1h" --dhcp-host="$MAC,$GUEST_IP" \
    --dhcp-leasefile="$LEASES" --pid-file="$WORK/dnsmasq.pid" --dhcp-authoritative \
    --log-dhcp --log-facility="$WORK/dnsmasq.log" &
DNSMASQ_PID=$!
i=0
until [ -s "$WORK/dnsmasq.pid" ]; do
    kill -0 "$DNSMASQ_PID" 2>/dev/null || { echo "dnsmasq did not start"; cat "$WORK/dnsmasq.log"; exit 1; }
    i=$((i + 1)); [ $i -lt 100 ] || { echo "dnsmasq wrote no pid file"; exit 1; }; sleep 0.1
done
node_log "bridge $BR on $NET.1/24, dnsmasq pid $DNSMASQ_PID, guest $MAC -> $GUEST_IP"

node_start_handler --bridge "$BR" --dhcp-leases "$LEASES"
node_volume br-a
EXTRA_DEVICES="      interfaces:
      - name: default
        bridge: {}
        macAddress: \"$MAC\"" \
EXTRA_SPEC='  networks:
  - name: default
    pod: {}' \
node_vmi_yaml br-a > "$WORK/br-a.yaml"
tool create "$WORK/br-a.yaml" "$NODE"
tool wait-phase "$NS" br-a Running 60
D=$STATE/vmis/$NS/br-a
grep -q "<source bridge=['\"]$BR['\"]" "$D/domain.xml" || { cat "$D/domain.xml"; exit 1; }
virsh -q -c qemu:///system domiflist "${NS}_br-a" | grep -q "bridge *$BR .*$MAC" ||
    { virsh -c qemu:///system domiflist "${NS}_br-a"; exit 1; }
node_log "br-a Running on bridge $BR"

# 1. the guest's DHCP lease, on its console and in the lease file
wait_console_log "$NS" br-a "FERRY-GUEST-NET eth0 $GUEST_IP/24" 180
grep -qi "$MAC $GUEST_IP" "$LEASES" || { cat "$LEASES"; exit 1; }
node_log "guest leased $GUEST_IP"

# 2. the address in the VMI status, from the lease file
wait_ip() {   # SECONDS: until status.interfaces[0] carries GUEST_IP
    i=0
    until "$FERRY" get vmi br-a -o json 2>/dev/null | jq -e --arg ip "$GUEST_IP" --arg mac "$MAC" '
            .status.interfaces[0] | .name == "default" and .mac == $mac
            and .ipAddress == $ip and .ipAddresses == [$ip]' >/dev/null; do
        i=$((i + 1))
        if [ $i -gt $(($1 * 5)) ]; then
            echo "no ipAddress $GUEST_IP in the status within $1 s"
            "$FERRY" get vmi br-a -o json | jq .status.interfaces; return 1
        fi
        sleep 0.2
    done
}
wait_ip 60
grep -q "interface default ($MAC) has address $GUEST_IP (from the DHCP leases" "$D/launcher.log" ||
    { tail "$D/launcher.log"; exit 1; }
node_log "status shows $GUEST_IP (DHCP lease file)"

# 3. reachable from the host over the bridge
$PING -c 3 -W 5 "$GUEST_IP" >"$WORK/ping.out" 2>&1 || { cat "$WORK/ping.out"; exit 1; }
node_log "host reaches the guest: $(grep -E 'packets|received' "$WORK/ping.out" | head -1)"

# 4. without the lease file: a new handler, a replaced launcher, the address from ARP
node_kill_handler TERM
node_start_handler --bridge "$BR"
node_replace_launcher "$D"
$PING -c 1 -W 5 "$GUEST_IP" >/dev/null 2>&1 || true   # keep the neighbour entry fresh
i=0
until [ "$(grep -c "has address $GUEST_IP (from ARP)" "$D/launcher.log")" -ge 1 ]; do
    i=$((i + 1))
    if [ $i -ge 600 ]; then
        echo "the new launcher found no address in ARP"; ip neigh show dev "$BR"
        virsh -c qemu:///system domifaddr --source arp "${NS}_br-a"; exit 1
    fi
    sleep 0.1
done
wait_ip 30
node_log "status shows $GUEST_IP (ARP) after the launcher was replaced"

# 5. deletion stops the guest and cleans up
tool delete "$NS" br-a
tool wait-gone "$NS" br-a 90
[ ! -d "$D" ] || { echo "VMI directory left behind"; exit 1; }
echo "PASS bridge"
