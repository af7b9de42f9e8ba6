# Debian's docker-registry on 127.0.0.1 for a test (sourced by
# tests/controlplane/test-dv-registry.sh and tests/node/containerdisk.sh).
#
# docker_registry_start DIR: a registry storing under DIR/store and logging to
# DIR/log, on a free port.  Sets REG_PORT and REG_PID and adds the pid to
# PIDS (the test's trap stops every pid there); returns once /v2/ answers,
# or 1 with the log printed when it has not after 10 s.
docker_registry_start() {
    mkdir -p "$1"
    REG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf '%s\n' "version: 0.1" "log: {level: error}" \
        "storage: {filesystem: {rootdirectory: $1/store}}" \
        "http: {addr: 127.0.0.1:$REG_PORT, secret: ferry-test}" > "$1/config.yml"
    docker-registry serve "$1/config.yml" > "$1/log" 2>&1 &
    REG_PID=$!
    PIDS="${PIDS:-} $REG_PID"
    _reg_i=0
    until curl -sf -o /dev/null "http://127.0.0.1:$REG_PORT/v2/"; do
        _reg_i=$((_reg_i + 1))
        [ $_reg_i -lt 100 ] || { echo "docker-registry did not answer:"; cat "$1/log"; return 1; }
        sleep 0.1
    done
}
