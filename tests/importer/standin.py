"""What the loopback stand-ins of the importer's tests share
(esxi-standin.py, imageio-standin.py): the options every one takes, a
request log, HTTPS servers on 127.0.0.1 with a certificate made by the test,
and the port file the test waits for (tests/importer/lib.sh start_standin)."""
import http.server
import os
import ssl
import sys
import threading


def add_common_args(ap):
    """--cert, --key, --user, --password, --port-file and --log."""
    for name in ("--cert", "--key", "--user", "--password", "--port-file", "--log"):
        ap.add_argument(name, required=True)


def logger(path):
    """A function that appends one line to the log at PATH (from any thread)."""
    lock = threading.Lock()
    f = open(path, "a", buffering=1)

    def log(line):
        with lock:
            f.write(line + "\n")
    return log


def tls_server(handler, cert, key):
    """A threading HTTPS server on 127.0.0.1, on a port it picks."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    return srv


def serve(srv, port_file, *servers):
    """Write the ports of SRV and SERVERS to PORT_FILE (atomically: the test
    waits for it), the others served from threads, SRV until interrupted."""
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(port_file + ".tmp", "w") as f:
        f.write(" ".join(str(s.server_address[1]) for s in (srv,) + servers))
    os.rename(port_file + ".tmp", port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
