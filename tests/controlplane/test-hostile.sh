#!/bin/sh
# Hostile and careless manifests (issue 12): every refusal reads like the API
# server's, KubeVirt's or CDI's, and nothing outside the state directory
# changes.  A checksummed canary tree sits beside the state directory (and a
# canary file inside it, as the store's own ferry.db would be); after every
# case both are compared with their first checksum.  The controller runs, so
# that whatever slips through admission would also reach the disk.
. "$(dirname "$0")/lib.sh"

CANARY="$T/canary"
mkdir -p "$CANARY/volumes/default/x" "$CANARY/sub"
echo keep > "$CANARY/keep"
echo passwd > "$CANARY/passwd"
echo disk > "$CANARY/volumes/default/x/disk.img"
echo db > "$CANARY/ferry.db"
sums() { (cd "$T" && find canary -type f -o -type d | sort | while read -r f; do
    if [ -f "$f" ]; then printf '%s %s\n' "$(sha256sum < "$f")" "$f"; else echo "dir $f"; fi
done; ls -a "$T" | sort | tr '\n' ' ') ; }
start_controller
# The store and its database exist before anything hostile arrives.
wait_for 20 "$FERRY" get ns || fail "get ns"
touch "$T/out" "$T/err" "$T/m.yaml" "$T/big.yaml" "$T/ann.yaml" "$T/img.raw" "$T/ok.yaml" \
    "$T/multi.yaml"
BEFORE=$(sums)
DB_SUM=$(sha256sum < "$FERRY_STATE_DIR/ferry.db" | cut -c1-8)

N=0
# refuse DESCRIPTION EXPECTED-TEXT COMMAND...: the command fails, says
# EXPECTED-TEXT (a fixed string) on stderr, and the canary is untouched.
refuse() {
    desc=$1 want=$2; shift 2
    N=$((N + 1))
    if "$@" > "$T/out" 2> "$T/err"; then fail "case $N ($desc): accepted: $(cat "$T/out")"; fi
    grep -qF -- "$want" "$T/err" || fail "case $N ($desc): expected
  $want
got
  $(cat "$T/err")"
    [ "$(sums)" = "$BEFORE" ] || fail "case $N ($desc): the canary tree changed: $(sums) vs $BEFORE"
    [ -s "$FERRY_STATE_DIR/ferry.db" ] || fail "case $N ($desc): the store is gone"
}
apply_text() { printf '%s\n' "$1" > "$T/m.yaml"; "$FERRY" apply -f "$T/m.yaml"; }

dv() { # dv NAME NAMESPACE SOURCE [STORAGE]
    storage=${4:-}
    [ -n "$storage" ] || storage='{resources: {requests: {storage: 1Mi}}}'
    cat <<YAML
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: "$1"
  namespace: "$2"
spec:
  source: $3
  storage: $storage
YAML
}
vmi() { # vmi EXTRA-DOMAIN-LINES [EXTRA-SPEC-LINES] [METADATA-LINES]
    cat <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: v
${3:-}
spec:
  domain:
    devices: {}
$1
${2:-}
YAML
}
NSMSG="a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
NAMEMSG="a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"

# ---- names and namespaces, through apply ----
for ns in .. . a/b /etc ../../canary Bad_NS ferry.db "caf$(printf '\303\251')" \
          "$(printf 'x%.0s' $(seq 64))"; do
    refuse "namespace '$ns'" "metadata.namespace: Invalid value: \"$ns\"" \
        apply_text "$(dv ferry.db "$ns" '{blank: {}}')"
done
refuse "DataVolume 'volumes' in '..'" "metadata.namespace: Invalid value: \"..\": $NSMSG" \
    apply_text "$(dv volumes .. '{blank: {}}')"
for name in ../x /etc/passwd a/b . .. "n$(printf '\303\274')" X; do
    refuse "name '$name'" "metadata.name: Invalid value: \"$name\": $NAMEMSG" \
        apply_text "$(dv "$name" default '{blank: {}}')"
done
long=$(printf 'a%.0s' $(seq 254))
refuse "name of 254 characters" "metadata.name: Invalid value: \"$long\": must be no more than 253 characters" \
    apply_text "$(vm_yaml "$long")"
refuse "DataVolume name of 64 characters" "Name cannot be longer than 63 characters" \
    apply_text "$(dv "$(printf 'd%.0s' $(seq 64))" default '{blank: {}}')"
refuse "namespace that does not exist" 'namespaces "nope" not found' \
    apply_text "$(dv d nope '{blank: {}}')"

# ---- every URL source with foreign schemes ----
for src in http s3 gcs imageio vddk; do
    extra=""; [ $src = imageio ] && extra=", diskId: d"
    for url in file:///etc/passwd "file://$CANARY/passwd" ftp://127.0.0.1/x.img gopher://h/x; do
        refuse "$src $url" "spec.source.$src.url: Invalid source URL scheme: $url" \
            apply_text "$(dv d default "{$src: {url: '$url'$extra}}")"
    done
done
refuse "http path" 'Invalid value: "/etc/passwd": Invalid source URL' \
    apply_text "$(dv d default "{http: {url: /etc/passwd}}")"
for url in file:///etc/passwd http://h/x.tar /etc/passwd; do
    refuse "registry $url" "spec.source.registry.url: Invalid value: \"$url\": Illegal registry source URL scheme" \
        apply_text "$(dv d default "{registry: {url: '$url'}}")"
done

# ---- sizes ----
python3 - "$T/big.yaml" "$T/ann.yaml" <<'PY'
import sys
big = "y" * (3 * 1024 * 1024 + 10)
open(sys.argv[1], "w").write(f"""apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {{name: big}}
spec:
  source: {{blank: {{}}}}
  storage: {{resources: {{requests: {{storage: 1Mi}}}}}}
  x: "{big}"
""")
ann = "z" * (300 * 1024)
open(sys.argv[2], "w").write(f"""apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ann
  annotations: {{big: "{ann}"}}
spec:
  source: {{blank: {{}}}}
  storage: {{resources: {{requests: {{storage: 1Mi}}}}}}
""")
PY
refuse "body over 3 MiB" "Error from server (RequestEntityTooLarge): Request entity too large: limit is 3145728" \
    "$FERRY" apply -f "$T/big.yaml"
refuse "annotations over 256 KiB" "metadata.annotations: Too long: must have at most 262144 bytes" \
    "$FERRY" apply -f "$T/ann.yaml"
refuse "label key" 'metadata.labels: Invalid value: "a/b/c": a qualified name must consist' \
    apply_text "$(vm_yaml lab "runStrategy: Halted" "  labels: {a/b/c: x}")"

# ---- what CDI and KubeVirt refuse ----
refuse "storage -1Gi" "Storage size can't be equal or less than zero" \
    apply_text "$(dv d default '{blank: {}}' '{resources: {requests: {storage: -1Gi}}}')"
refuse "storage 0" "Storage size can't be equal or less than zero" \
    apply_text "$(dv d default '{blank: {}}' '{resources: {requests: {storage: "0"}}}')"
refuse "http import without a size" "Storage size is missing" \
    apply_text "$(dv d default '{http: {url: "http://127.0.0.1/a.img"}}' '{}')"
refuse "checksum algorithm" 'spec.source.http.checksum: Unsupported value: "crc32"' \
    apply_text "$(dv d default '{http: {url: "http://127.0.0.1/a.img", checksum: "crc32:0badf00d"}}')"
refuse "memory -64Mi" "spec.domain.resources.requests.memory '-64Mi': must be greater than or equal to 0." \
    apply_text "$(vmi '    resources: {requests: {memory: -64Mi}}')"
refuse "memory 1k" "spec.domain.memory.guest '1k': must be greater than or equal to 1M." \
    apply_text "$(vmi '    memory: {guest: 1k}')"
refuse "cpu -1" "spec.domain.resources.requests.cpu '-1': must be greater than or equal to 0." \
    apply_text "$(vmi '    memory: {guest: 64Mi}
    resources: {requests: {cpu: "-1"}}')"
refuse "cores -1" "cannot unmarshal number -1 into Go struct field CPU.spec.domain.cpu.cores of type uint32" \
    apply_text "$(vmi '    memory: {guest: 64Mi}
    cpu: {cores: -1}')"
refuse "cores 99999999999" "cannot unmarshal number 99999999999 into Go struct field CPU.spec.domain.cpu.cores" \
    apply_text "$(vmi '    memory: {guest: 64Mi}
    cpu: {cores: 99999999999}')"
refuse "machine type" "spec.domain.machine.type is not supported: pc-i440fx-2.5 (allowed values: [q35* pc-q35*])" \
    apply_text "$(vmi '    memory: {guest: 64Mi}
    machine: {type: pc-i440fx-2.5}')"
refuse "hostDisk without the gate" "spec.volumes[0]: HostDisk feature gate is not enabled" \
    apply_text "$(vmi '    memory: {guest: 64Mi}' "  volumes:
  - {name: h, hostDisk: {path: $CANARY/keep, type: Disk}}")"
refuse "sidecar without the gate" "metadata.annotations: sidecar feature gate is not enabled in kubevirt-config, invalid entry metadata.annotations.hooks.kubevirt.io/hookSidecars" \
    apply_text "$(vmi '    memory: {guest: 64Mi}' "" "  annotations: {hooks.kubevirt.io/hookSidecars: '[]'}")"

# ---- every verb that takes a name ----
echo img > "$T/img.raw"
for ns in .. /etc Bad_NS; do
    for verb in "get dv x" "delete dv x" "describe vm x" "start x" "stop x" "restart x" \
                "console x" "vnc x" "pause vm x" "wait vm/x --for=delete --timeout=1s" \
                "image-upload dv x --image-path $T/img.raw --size 1Mi --wait-secs 1"; do
        # shellcheck disable=SC2086
        refuse "$verb -n $ns" "metadata.namespace: Invalid value: \"$ns\"" "$FERRY" $verb -n "$ns"
    done
done
for name in ../../canary /etc/passwd; do
    for verb in console vnc "pause vm"; do
        # shellcheck disable=SC2086
        refuse "$verb $name" "metadata.name: Invalid value: \"$name\"" "$FERRY" $verb "$name"
    done
    refuse "image-upload $name" "metadata.name: Invalid value: \"$name\"" \
        "$FERRY" image-upload dv "$name" --image-path "$T/img.raw" --size 1Mi --wait-secs 1
    for verb in "get dv" "delete dv" "describe vm" start stop; do
        # shellcheck disable=SC2086
        refuse "$verb $name" "\"$name\" not found" "$FERRY" $verb "$name"
    done
done

# ---- the API's concurrency rules and strict YAML, through apply ----
dv rv default '{blank: {}}' | "$FERRY" apply -f - >/dev/null || fail "apply rv"
refuse "stale resourceVersion" 'Error from server (Conflict): error when patching "'"$T/m.yaml"'": Operation cannot be fulfilled on datavolumes.cdi.kubevirt.io "rv": the object has been modified' \
    apply_text "$(dv rv default '{blank: {}}' | sed 's/^metadata:/metadata:\n  resourceVersion: "1"/')"
refuse "another object's uid" 'Precondition failed: UID in precondition: 0f0e0d0c-0000-4000-8000-000000000000' \
    apply_text "$(dv rv default '{blank: {}}' | sed 's/^metadata:/metadata:\n  uid: 0f0e0d0c-0000-4000-8000-000000000000/')"
refuse "resourceVersion on create" 'resourceVersion should not be set on objects to be created' \
    apply_text "$(dv fresh default '{blank: {}}' | sed 's/^metadata:/metadata:\n  resourceVersion: "7"/')"
refuse "duplicate key" 'line 6, column 3: key "namespace" already set in map' \
    apply_text "$(dv dupkey default '{blank: {}}' | sed 's/^  namespace: .*/&\n  namespace: kube-system/')"
{ dv before1 default '{blank: {}}'; echo ---; dv before2 default '{blank: {}}'; echo ---
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: after\n---\n'
  dv after default '{blank: {}}'; } > "$T/multi.yaml"
refuse "broken document in a stream" "'$T/multi.yaml': line" "$FERRY" apply -f "$T/multi.yaml"
grep -qx 'datavolume.cdi.kubevirt.io/before2 created' "$T/out" ||
    fail "the documents before the broken one were not applied: $(cat "$T/out")"
"$FERRY" get dv after >/dev/null 2>&1 && fail "a document after the broken one was applied"
"$FERRY" delete dv rv before1 before2 >/dev/null || fail "delete rv"

# ---- what is allowed stays inside: a DataVolume called ferry.db and one
# called volumes are ordinary volumes, created and deleted in their own
# directories, while the store and the other volumes stay.
{ dv ferry.db default '{blank: {}}'; echo ---; dv volumes default '{blank: {}}'; echo ---
  dv other default '{blank: {}}'; } > "$T/ok.yaml"
"$FERRY" apply -f "$T/ok.yaml" >/dev/null || fail "apply of the ordinary volumes"
for d in ferry.db volumes other; do
    wait_for 30 field_is dv "$d" status.phase Succeeded || fail "dv $d did not succeed"
done
"$FERRY" delete dv ferry.db volumes >/dev/null || fail "delete"
wait_for 30 sh -c "! '$FERRY' get dv ferry.db >/dev/null 2>&1 && ! '$FERRY' get dv volumes >/dev/null 2>&1" ||
    fail "the volumes were not deleted"
[ -f "$FERRY_STATE_DIR/volumes/default/other/disk.img" ] || fail "another volume went with them"
[ ! -e "$FERRY_STATE_DIR/volumes/default/ferry.db" ] || fail "volume ferry.db left behind"
"$FERRY" get dv other >/dev/null || fail "the store lost its objects"
[ "$(sums)" = "$BEFORE" ] || fail "the canary tree changed"
# nothing but the store's own names at the top of the state directory
extra=$(ls -A "$FERRY_STATE_DIR" | grep -vxE 'ferry\.db(-wal|-shm)?|volumes|vmis|run|logs' || true)
[ -z "$extra" ] || fail "unexpected entries in the state directory: $extra"
[ "$(ls "$FERRY_STATE_DIR/volumes")" = default ] || fail "volumes/: $(ls "$FERRY_STATE_DIR/volumes")"
# ---- the store: one controller per state directory; readers never create ----
"$FERRY_BIN/ferry-controller" --state-dir "$FERRY_STATE_DIR" > "$T/second.log" 2>&1 &
SECOND=$!; PIDS="$PIDS $SECOND"
wait_for 20 sh -c "! kill -0 $SECOND" || fail "a second controller runs on the same state directory"
wait "$SECOND" && fail "the second controller exited 0"
grep -q "another ferry-controller (pid $CTL_PID) is running on state directory" "$T/second.log" ||
    fail "second controller: $(cat "$T/second.log")"
for verb in "get vm" "describe vm x" "delete vm x" "start x" "stop x" "wait vm/x --for=delete --timeout=1s" \
            "console x"; do
    # shellcheck disable=SC2086
    FERRY_STATE_DIR="$T/typo" "$FERRY" $verb > "$T/out" 2> "$T/err" && fail "$verb on a mistyped state directory succeeded"
    grep -q "typo' does not exist" "$T/err" || fail "$verb on a mistyped state directory: $(cat "$T/err")"
    [ ! -e "$T/typo" ] || fail "$verb created the mistyped state directory"
done
mkdir "$T/typo"
FERRY_STATE_DIR="$T/typo" "$FERRY" get vm > "$T/out" 2> "$T/err" && fail "get on an empty directory succeeded"
grep -q "no store in state directory" "$T/err" || fail "get on an empty directory: $(cat "$T/err")"
[ ! -e "$T/typo/ferry.db" ] || fail "get created a store"
: > "$T/typo/ferry.db"
FERRY_STATE_DIR="$T/typo" "$FERRY" apply -f "$T/ok.yaml" > "$T/out" 2> "$T/err" && fail "apply to a 0-byte ferry.db succeeded"
grep -q "is empty (0 bytes)" "$T/err" || fail "0-byte ferry.db: $(cat "$T/err")"
[ ! -s "$T/typo/ferry.db" ] || fail "the 0-byte ferry.db was overwritten"
rm -rf "$T/typo"

echo "ok: $N hostile cases refused, nothing outside the state directory changed (store $DB_SUM...)"
