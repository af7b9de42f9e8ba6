#!/bin/sh
# The bridge binding on a real libvirtd: a VMI whose interface has the bridge
# binding and a fixed MAC joins a bridge the test creates.  Test traffic stays
# off the host's own addresses: the bridge has no address in the root network
# namespace; a network namespace the test creates (ip netns add) is joined to
# it by a veth pair and holds the private /24's router address, the dnsmasq
# DHCP server (a fixed lease for the MAC) and the pings.  The guest gets its
# lease (it prints it on the serial console), the namespace pings it, and the
# VMI's status.interfaces[0].ipAddress/ipAddresses show it from the lease
# file dnsmasq writes (handler --dhcp-leases), also after the handler is
# restarted and the launcher replaced.  (The ARP source is not exercised
# here: the root namespace has no address on the bridge, so its neighbour
# table never learns the guest; tests/node/test-leases.c covers the parsing.)
# dnsmasq, handler and domain are stopped by pid, and the namespace, the veth
# pair and the bridge deleted by name, on exit, also when the test fails.
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

BR=fbr$$          # the bridge, in the root namespace, without an address
NETNS=ferry-br$$  # the namespace with the router address, dnsmasq and ping
VETH=fbv$$        # root end of the veth pair (a bridge port); fbn$$ is in $NETNS
BR_UP=0
NETNS_UP=0
DNSMASQ_PID=
bridge_cleanup() {
    set +e
    if [ -n "$DNSMASQ_PID" ]; then
        kill -TERM "$DNSMASQ_PID" 2>/dev/null
        i=0; while kill -0 "$DNSMASQ_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$DNSMASQ_PID" 2>/dev/null
    fi
    ip link del "$VETH" 2>/dev/null          # both ends
    [ "$NETNS_UP" = 1 ] && ip netns del "$NETNS" 2>/dev/null
    [ "$BR_UP" = 1 ] && ip link del "$BR" 2>/dev/null
}
in_ns() { ip netns exec "$NETNS" "$@"; }

node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && { dump_logs; echo "---- dnsmasq.log"; tail -20 "$WORK/dnsmasq.log" 2>/dev/null; }
      bridge_cleanup; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry

# The /24 exists only inside $NETNS and on the bridge's wire: no host
# interface or route is involved, so any private range does.
NET=10.213.$(( $$ % 250 + 1 ))
ip netns add "$NETNS" || { echo "missing: network namespaces (ip netns add)"; exit 77; }
NETNS_UP=1
ip link add "$BR" type bridge || { echo "missing: bridge creation (ip link add type bridge)"; exit 77; }
BR_UP=1
ip link add "$VETH" type veth peer name "fbn$$" netns "$NETNS" ||
    { echo "missing: veth pairs (ip link add type veth)"; exit 77; }
ip link set "$VETH" master "$BR"
ip link set "$VETH" up
ip link set "$BR" up
in_ns ip link set lo up
in_ns ip addr add "$NET.1/24" dev "fbn$$"
in_ns ip link set "fbn$$" up
if ip -4 addr show dev "$BR" | grep -q inet; then
    echo "the bridge has an address in the root namespace"; exit 1
fi
MAC=52:54:00:fe:$(printf '%02x:%02x' $(( ($$ >> 8) & 255 )) $(( $$ & 255 )))
GUEST_IP=$NET.77
LEASES=$WORK/dnsmasq.leases
: > "$LEASES"
# ip netns exec execs dnsmasq: $! is dnsmasq's pid.
ip netns exec "$NETNS" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --user=root --group=root \
    --interface="fbn$$" --bind-interfaces --except-interface=lo \
    --dhcp-range="$NET.50,$NET.99,255.255.255.0,1h" --dhcp-host="$MAC,$GUEST_IP" \
    --dhcp-leasefile="$LEASES" --pid-file="$WORK/dnsmasq.pid" --dhcp-authoritative \
    --log-dhcp --log-facility="$WORK/dnsmasq.log" &
DNSMASQ_PID=$!
i=0
until [ -s "$WORK/dnsmasq.pid" ]; do
    kill -0 "$DNSMASQ_PID" 2>/dev/null || { echo "dnsmasq did not start"; cat "$WORK/dnsmasq.log"; exit 1; }
    i=$((i + 1)); [ $i -lt 100 ] || { echo "dnsmasq wrote no pid file"; exit 1; }; sleep 0.1
done
[ "$(cat "$WORK/dnsmasq.pid")" = "$DNSMASQ_PID" ] ||
    { echo "dnsmasq pid $(cat "$WORK/dnsmasq.pid") is not the one started ($DNSMASQ_PID)"; exit 1; }
node_log "bridge $BR (no address) joined to namespace $NETNS ($NET.1/24, dnsmasq pid $DNSMASQ_PID), guest $MAC -> $GUEST_IP"

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

# 3. reachable from the namespace over the bridge
in_ns $PING -c 3 -W 5 "$GUEST_IP" >"$WORK/ping.out" 2>&1 || { cat "$WORK/ping.out"; exit 1; }
node_log "the namespace reaches the guest: $(grep -E 'packets|received' "$WORK/ping.out" | head -1)"
ip neigh show dev "$BR" | grep -q "$GUEST_IP" && { echo "the root namespace learnt the guest's address"; exit 1; }

# 4. a new handler and a replaced launcher: the address again, from the leases
node_kill_handler TERM
node_start_handler --bridge "$BR" --dhcp-leases "$LEASES"
n0=$(grep -c "has address $GUEST_IP (from the DHCP leases" "$D/launcher.log")
node_replace_launcher "$D"
i=0
until [ "$(grep -c "has address $GUEST_IP (from the DHCP leases" "$D/launcher.log")" -gt "$n0" ]; do
    i=$((i + 1))
    if [ $i -ge 600 ]; then
        echo "the new launcher did not report the address"; tail "$D/launcher.log"; exit 1
    fi
    sleep 0.1
done
wait_ip 30
node_log "status shows $GUEST_IP after the handler restarted and the launcher was replaced"

# 5. deletion stops the guest and cleans up
tool delete "$NS" br-a
tool wait-gone "$NS" br-a 90
[ ! -d "$D" ] || { echo "VMI directory left behind"; exit 1; }
echo "PASS bridge"
