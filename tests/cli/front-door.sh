#!/bin/sh
# The `ferry` front door: --help and --version on stdout with exit 0; an
# unknown verb, an unknown option or a missing option value is one precise
# line on stderr naming it, and exit 2; no verb prints the usage to stderr.
set -u
ferry=${FERRY_BIN:?FERRY_BIN is not set}/ferry
[ -x "$ferry" ] || { echo "$ferry is not built: skipping"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
fails=0

# expect NAME WANT_EXIT WANT_STDOUT_GREP WANT_STDERR (exact, "" = empty) -- ARGS...
expect() {
    name=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    "$ferry" "$@" >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    ok=1
    [ "$rc" -eq "$want_rc" ] || { echo "FAIL $name: exit $rc, want $want_rc"; ok=0; }
    if [ -n "$want_out" ] && ! grep -q -- "$want_out" "$work/out"; then
        echo "FAIL $name: stdout lacks '$want_out':"; sed 's/^/  | /' "$work/out"; ok=0
    fi
    if [ "$want_err" = "" ]; then
        [ -s "$work/err" ] && { echo "FAIL $name: unexpected stderr:"; sed 's/^/  | /' "$work/err"; ok=0; }
    elif [ "$want_err" != "*" ]; then
        got=$(cat "$work/err")
        [ "$got" = "$want_err" ] || { echo "FAIL $name: stderr"; echo "  got:  $got"; echo "  want: $want_err"; ok=0; }
    fi
    [ $ok -eq 1 ] && echo "ok   $name" || fails=$((fails + 1))
}

expect help           0 "^Usage: ferry " ""  -- --help
expect help-short     0 "^Usage: ferry " ""  -- -h
expect help-verbs     0 "^Verbs:"        ""  -- --help
expect version        0 "^ferry [0-9][0-9.]*" "" -- --version
expect unknown-verb   2 "" "ferry: 'frobnicate' is not a ferry verb; see 'ferry --help'" -- frobnicate
expect unknown-option 2 "" "ferry: unknown option '--bogus'; see 'ferry --help'" -- --bogus
expect unknown-short  2 "" "*" -- -q
expect missing-value  2 "" "ferry: option '--state-dir' needs a value" -- --state-dir
expect no-verb        2 "" "*" --

# the usage on stderr when no verb is given
grep -q "^Usage: ferry " "$work/err" || { echo "FAIL no-verb: usage not on stderr"; fails=$((fails + 1)); }
# every error above is one line
"$ferry" frobnicate 2>"$work/err" >/dev/null
[ "$(wc -l <"$work/err")" -eq 1 ] || { echo "FAIL unknown-verb: not one line"; fails=$((fails + 1)); }
"$ferry" -q 2>"$work/err" >/dev/null
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q -- "-q" "$work/err" ||
    { echo "FAIL unknown-short: not one line naming -q"; fails=$((fails + 1)); }
# --version's number is the project's
want=$(sed -n 's/^project(ferry VERSION \([0-9.]*\).*/\1/p' "${FERRY_SRC:?}/CMakeLists.txt")
got=$("$ferry" --version)
[ "$got" = "ferry $want" ] || { echo "FAIL version: '$got', want 'ferry $want'"; fails=$((fails + 1)); }

# the man page: clean troff, and it documents every global option --help lists
man=${FERRY_SRC:?}/docs/man/ferry.1
if command -v groff >/dev/null 2>&1; then
    groff -man -ww -z "$man" 2>"$work/groff" && [ ! -s "$work/groff" ] ||
        { echo "FAIL man page: groff warnings:"; cat "$work/groff"; fails=$((fails + 1)); }
fi
for opt in $("$ferry" --help | sed -n '/^Options:/,/^$/p' | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    grep -q -- "$esc" "$man" || { echo "FAIL man page: $opt is not documented"; fails=$((fails + 1)); }
done

# import and convert hand over to the programs beside ferry, found without PATH
for pair in import:ferry-importer convert:ferry-converter; do
    verb=${pair%%:*} prog=${pair#*:}
    [ -x "$(dirname "$ferry")/$prog" ] || continue
    out=$(env PATH=/usr/bin:/bin "$ferry" "$verb" --help 2>&1) ||
        { echo "FAIL $verb: 'ferry $verb --help' failed: $out"; fails=$((fails + 1)); continue; }
    printf '%s\n' "$out" | grep -q "$prog" ||
        { echo "FAIL $verb: help does not come from $prog"; fails=$((fails + 1)); }
done

[ $fails -eq 0 ] && echo "all front-door checks passed"
exit $((fails > 0))
