#!/bin/sh
# The VDI, VHD and VHDX readers against qemu-img, the oracle.
#
# Builds a corpus at test time: three 64 MiB raw disks (data scattered, data
# at the end, no data), each converted by qemu-img to VDI (dynamic, static),
# VHD (dynamic and fixed, with and without force_size) and VHDX (dynamic with
# several block sizes, fixed).  Every image is converted to raw by Ferry and
# by `qemu-img convert -f FMT -O raw`, compared with cmp, and Ferry's output
# must be no less sparse than qemu-img's.  Then crafted hostile images
# (craft.py) must each fail with their message and leave no destination, or
# convert as qemu-img does (ragged files); a VHDX whose log needs replaying
# is refused, as qemu-img refuses it read-only.
#
# Ferry's side is tests/formats-convert (the readers through the format
# table, no pipeline) and, once it is built, ferry-importer itself.
set -eu

for tool in qemu-img python3 cmp du; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is missing"; exit 77; }
done
DRIVER=${FERRY_BUILD:?}/tests/formats-convert
IMPORTER=${FERRY_BIN:?}/ferry-importer
[ -x "$DRIVER" ] || { echo "SKIP: $DRIVER is not built"; exit 77; }
use_importer=0
if [ -x "$IMPORTER" ] && "$IMPORTER" --help >/dev/null 2>&1; then
    use_importer=1
else
    echo "note: ferry-importer not usable yet; testing the readers through formats-convert only"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-formats.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# ---- raw sources -----------------------------------------------------------
M=1048576
truncate -s 64M scattered.raw
for off in 0 $((3 * M + 512)) $((17 * M)) $((33 * M - 4096)) $((50 * M + 8192)); do
    head -c 65536 /dev/urandom > chunk
    dd if=chunk of=scattered.raw bs=512 seek=$((off / 512)) conv=notrunc status=none
done
truncate -s 64M end.raw
head -c $M /dev/urandom > chunk
dd if=chunk of=end.raw bs=$M seek=63 conv=notrunc status=none
truncate -s 64M none.raw

# ---- the corpus: NAME FORMAT OPTIONS ----------------------------------------
cat > variants <<'EOF'
vdi-dynamic vdi -
vdi-static vdi static=on
vpc-dynamic vpc -
vpc-dynamic-force vpc force_size=on
vpc-fixed vpc subformat=fixed
vpc-fixed-force vpc subformat=fixed,force_size=on
vhdx-dynamic vhdx -
vhdx-dynamic-1m vhdx block_size=1M
vhdx-dynamic-8m vhdx block_size=8M
vhdx-dynamic-64m vhdx block_size=64M
vhdx-fixed vhdx subformat=fixed
vhdx-dynamic-nozero vhdx block_state_zero=off
vhdx-fixed-nozero vhdx subformat=fixed,block_state_zero=off
EOF

count=0
start=$(date +%s)
for raw in scattered end none; do
    while read -r name fmt opts; do
        img=$raw.$name.$fmt
        if [ "$opts" = - ]; then
            qemu-img convert -f raw -O "$fmt" "$raw.raw" "$img"
        else
            qemu-img convert -f raw -O "$fmt" -o "$opts" "$raw.raw" "$img"
        fi
        qemu-img convert -f "$fmt" -O raw "$img" ref.raw
        rm -f out.raw
        if ! info=$("$DRIVER" "$img" out.raw 2>err); then
            fail "$img: formats-convert: $(cat err)"; continue
        fi
        want=$fmt; [ "$fmt" = vpc ] && want=vhd
        case "$info" in format=$want\ *) ;; *) fail "$img: detected as '$info', not $want" ;; esac
        if ! cmp -s ref.raw out.raw; then
            fail "$img: differs from qemu-img ($(stat -c %s out.raw) vs $(stat -c %s ref.raw) bytes)"
            continue
        fi
        ours=$(du -B1 out.raw | cut -f1); theirs=$(du -B1 ref.raw | cut -f1)
        [ "$ours" -le $((theirs + M)) ] || fail "$img: $ours bytes allocated, qemu-img $theirs"
        if [ $use_importer = 1 ]; then
            rm -f cli.raw
            if ! "$IMPORTER" --url "$img" --dest cli.raw --progress none >cli.out 2>&1; then
                fail "$img: ferry-importer: $(cat cli.out)"
            elif ! cmp -s ref.raw cli.raw; then
                fail "$img: ferry-importer output differs from qemu-img"
            else
                ours=$(du -B1 cli.raw | cut -f1)
                [ "$ours" -le $((theirs + M)) ] || fail "$img: ferry-importer allocated $ours bytes, qemu-img $theirs"
            fi
        fi
        count=$((count + 1))
    done < variants
done
echo "converted $count images identically to qemu-img in $(( $(date +%s) - start )) s"

# ---- big sparse images --------------------------------------------------------
# Tables larger than the readers' in-memory windows (VDI 65536 entries, VHD
# 65536, VHDX 32768) and VHDX sector-bitmap entries interleaved in the BAT
# (every 4096 payload entries with 1 MiB blocks): data written by qemu-io at
# known offsets must come back there, and nothing else may be allocated.
# (A full cmp of 40-130 GiB of holes would take too long.)
pattern() { head -c "$2" /dev/zero | tr '\0' "\\$1"; }
G=1073741824
big_check() {  # big_check IMAGE OUT FMT OFFSET:LEN:OCTAL ...
    img=$1 dest=$2 fmt=$3; shift 3
    want=$(qemu-img info -f "$fmt" --output=json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
    [ "$(stat -c %s "$dest")" = "$want" ] || { fail "$img: size $(stat -c %s "$dest"), qemu-img says $want"; return; }
    total=0
    for w in "$@"; do
        off=${w%%:*} rest=${w#*:}; len=${rest%%:*} oct=${rest#*:}
        pattern "$oct" "$len" > want.bin
        dd if="$dest" of=got.bin bs=65536 skip=$((off / 65536)) count=$((len / 65536)) status=none
        cmp -s want.bin got.bin || fail "$img: wrong data at offset $off"
        total=$((total + len))
    done
    alloc=$(du -B1 "$dest" | cut -f1)
    [ "$alloc" -ge "$total" ] && [ "$alloc" -le $((total + M)) ] ||
        fail "$img: $alloc bytes allocated for $total bytes of data"
}
qemu-img create -q -f vdi big.vdi 70G
qemu-io -f vdi -c "write -P 0xab $((66 * G)) 1M" -c "write -P 0xcd $((64 * G - M)) 2M" big.vdi >/dev/null
qemu-img create -q -f vpc -o force_size=on big.vpc 130G
qemu-io -f vpc -c "write -P 0xab $((129 * G)) 1M" -c "write -P 0xcd $((128 * G - M)) 2M" big.vpc >/dev/null
qemu-img create -q -f vhdx -o block_size=1M big.vhdx 40G
qemu-io -f vhdx -c "write -P 0xab $((34 * G)) 1M" -c "write -P 0xcd $((4 * G - M)) 2M" big.vhdx >/dev/null
for img in big.vdi big.vpc big.vhdx; do
    fmt=${img#big.}
    case $fmt in
    vdi) at1=$((66 * G)) at2=$((64 * G - M)) ;;
    vpc) at1=$((129 * G)) at2=$((128 * G - M)) ;;
    vhdx) at1=$((34 * G)) at2=$((4 * G - M)) ;;
    esac
    rm -f big.raw
    if "$DRIVER" "$img" big.raw >/dev/null 2>err; then
        big_check "$img" big.raw "$fmt" "$at1:$M:253" "$at2:$((2 * M)):315"
    else
        fail "$img: formats-convert: $(cat err)"
    fi
    if [ $use_importer = 1 ]; then
        rm -f big.raw
        if "$IMPORTER" --url "$img" --dest big.raw --progress none >err 2>&1; then
            big_check "$img" big.raw "$fmt" "$at1:$M:253" "$at2:$((2 * M)):315"
        else
            fail "$img: ferry-importer: $(cat err)"
        fi
    fi
    rm -f big.raw "$img"
done
echo "checked 3 big sparse images"

# ---- hostile images ---------------------------------------------------------
mkdir base hostile
qemu-img convert -f raw -O vdi scattered.raw base/base.vdi
qemu-img convert -f raw -O vpc scattered.raw base/base.vpc
qemu-img convert -f raw -O vpc -o subformat=fixed scattered.raw base/base-fixed.vpc
qemu-img convert -f raw -O vhdx scattered.raw base/base.vhdx
python3 "$FERRY_SRC/tests/importer-formats/craft.py" base hostile
hostile=0
while IFS="$(printf '\t')" read -r file expect qemu; do
    img=hostile/$file
    fmt=${file##*.}
    [ "$expect" = SKIP ] && continue
    # What qemu-img itself does with the image, when the case says.
    case ${qemu:-} in
    '') ;;
    refuses)
        ! qemu-img convert -f "$fmt" -O raw "$img" ref.raw >/dev/null 2>&1 ||
            fail "$file: qemu-img converts it; the case says it refuses" ;;
    replays\ *)
        # Read-only, qemu refuses a log that needs replaying; replayed in
        # place on a copy, it gives the clean image: the crafted log is real.
        ! qemu-img convert -f "$fmt" -O raw "$img" ref.raw >/dev/null 2>&1 ||
            fail "$file: qemu-img converts it read-only; the case says it refuses"
        cp "$img" replay.$fmt
        qemu-img check -q -r all replay.$fmt >/dev/null 2>&1 || true
        qemu-img convert -f "$fmt" -O raw replay.$fmt got.raw
        qemu-img convert -f "$fmt" -O raw "hostile/${qemu#replays }" ref.raw
        cmp -s ref.raw got.raw || fail "$file: qemu's replay of the log differs from ${qemu#replays }" ;;
    *) fail "$file: unknown qemu expectation '$qemu'" ;;
    esac
    for tool in driver importer; do
        [ $tool = importer ] && [ $use_importer = 0 ] && continue
        rm -f dest.raw
        if [ $tool = driver ]; then
            "$DRIVER" "$img" dest.raw >out 2>&1 && rc=0 || rc=$?
        else
            "$IMPORTER" --url "$img" --dest dest.raw --progress none >out 2>&1 && rc=0 || rc=$?
        fi
        # OK: as qemu-img -f FMT converts it; RAW: as qemu-img -f raw (no
        # image there for qemu either); SAME X: as qemu-img converts X.
        ref=
        case $expect in
        OK) qemu-img convert -f "$fmt" -O raw "$img" ref.raw; ref=qemu-img ;;
        RAW) # (the pipeline rounds a raw size up to whole sectors: importer only)
            [ $tool = driver ] && continue
            qemu-img convert -f raw -O raw "$img" ref.raw; ref="qemu-img -f raw" ;;
        SAME\ *) qemu-img convert -f "$fmt" -O raw "hostile/${expect#SAME }" ref.raw; ref=${expect#SAME } ;;
        esac
        if [ -n "$ref" ]; then
            [ $rc = 0 ] && cmp -s ref.raw dest.raw ||
                fail "$file ($tool): should convert like $ref ($(stat -c %s ref.raw) bytes): $(cat out)"
            continue
        fi
        [ $rc != 0 ] || fail "$file ($tool): accepted, expected '$expect'"
        grep -qF -- "$expect" out || fail "$file ($tool): message '$(cat out)' lacks '$expect'"
        grep -qF -- "$file" out || fail "$file ($tool): message '$(cat out)' does not name the file"
        [ ! -e dest.raw ] || fail "$file ($tool): a destination was left behind"
        ls dest.raw.* >/dev/null 2>&1 && fail "$file ($tool): a temporary file was left behind"
    done
    hostile=$((hostile + 1))
done < hostile/cases.txt
echo "checked $hostile crafted images"

[ $failures = 0 ] || { echo "$failures failures"; exit 1; }
echo "PASS"
