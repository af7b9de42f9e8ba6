#!/bin/sh
# ferry-converter's command line: exit 2 and a one-line message naming the
# option for usage errors, 0 for --help/--version, JSON and YAML carry the same
# objects, and --name/--namespace land in the manifest.
set -u
: "${FERRY_BIN:?}" "${FERRY_SRC:?}"
C="$FERRY_BIN/ferry-converter"
G="$FERRY_SRC/tests/golden/convert"
export FERRY_LOG_FORMAT=text
fail=0
expect() { # code message-substring command...
    want=$1 msg=$2; shift 2
    out=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne "$want" ]; then echo "FAIL: $* -> exit $rc, want $want ($out)"; fail=1; return; fi
    case "$out" in *"$msg"*) ;; *) echo "FAIL: $* -> '$out' lacks '$msg'"; fail=1 ;; esac
}
expect 2 "missing INPUT" "$C"
expect 2 "unknown option '--frobnicate'" "$C" --frobnicate "$G/vmx-escapes.vmx"
expect 2 "'-o' needs an argument" "$C" "$G/vmx-escapes.vmx" -o
expect 2 "-o: 'xml' is not yaml or json" "$C" -o xml "$G/vmx-escapes.vmx"
expect 2 "--compat: 'fast'" "$C" --compat fast "$G/vmx-escapes.vmx"
expect 2 "--run-strategy: 'Sometimes'" "$C" --run-strategy Sometimes "$G/vmx-escapes.vmx"
expect 2 "--disk-source: 'ftp://x'" "$C" --disk-source ftp://x "$G/vmx-escapes.vmx"
expect 2 "--network-map: 'VM Network'" "$C" --network-map "VM Network" "$G/vmx-escapes.vmx"
expect 2 "--name" "$C" --name Bad_Name "$G/vmx-escapes.vmx"
expect 2 "holds 2 VMs" "$C" --name one "$G/ovf-vapp-collection.ovf" --network-map vapp-net=pod
expect 2 "only one INPUT" "$C" "$G/vmx-escapes.vmx" "$G/vmx-escapes.vmx"
expect 1 "cannot open" "$C" "$G/no-such-file.vmx"
expect 2 "--termination-log: only with --convert-guest" "$C" --termination-log x "$G/vmx-escapes.vmx"
# --termination-log: the result line first, then the error, for the kubelet
t=$(mktemp -d)
expect 1 "no-such.img" "$C" --convert-guest --termination-log "$t/term" "$t/no-such.img"
[ "$(head -n 1 "$t/term" 2>/dev/null)" = "result: not converted" ] &&
    grep -q "^ferry-converter: error: .*no-such.img" "$t/term" ||
    { echo "FAIL: --termination-log: '$(cat "$t/term" 2>/dev/null)'"; fail=1; }
rm -rf "$t"
"$C" --help | grep -q "^usage: ferry-converter INPUT" || { echo "FAIL: --help"; fail=1; }
"$C" --version | grep -q "^ferry-converter [0-9]" || { echo "FAIL: --version"; fail=1; }

y=$("$C" "$G/vmx-escapes.vmx" --name ledger --namespace finance 2>/dev/null)
echo "$y" | grep -q "^  name: ledger$" || { echo "FAIL: --name"; fail=1; }
echo "$y" | grep -q "^  namespace: finance$" || { echo "FAIL: --namespace"; fail=1; }
j=$("$C" "$G/ovf-vapp-collection.ovf" --network-map vapp-net=pod -o json 2>/dev/null)
n=$(echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kind"], len(d["items"]))')
[ "$n" = "List 2" ] || { echo "FAIL: JSON List of 2 VMs, got '$n'"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
