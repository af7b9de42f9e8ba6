/* ferry-launcher: runs one VMI's libvirt domain and reports on it.
 *
 * Started by ferry-handler as
 *   ferry-launcher --state-dir DIR --namespace NS --name NAME [--libvirt-uri URI]
 *                  [--allow-emulation] [--force-emulation] [--bridge BR]
 *                  [--dhcp-leases FILE] [--stop]
 * it reads the VMI the handler wrote to <state-dir>/vmis/NS/NAME/vmi.json,
 * prepares what the VMI owns in that directory (emptyDisk files, cloud-init
 * ISOs; libvirt copies the NVRAM template), converts the VMI to domain XML
 * (domain.c), defines and starts the domain "NS_NAME" and follows libvirt's
 * lifecycle events.  Everything runs on libvirt's event loop, one thread.
 *
 * Adoption: a launcher that finds its domain already running (its previous
 * launcher was killed, the handler restarted) adopts it without restarting
 * it; a domain defined for another VMI uid (same name, older VMI) is
 * destroyed and replaced; a domain of this uid that ended while nobody
 * watched is reported from libvirt's shutoff reason.  A closed libvirt
 * connection (libvirtd restarted) is reopened every second and the domain
 * state re-read.  SIGTERM ends the launcher and leaves the domain running.
 *
 * Control protocol, on the unix socket <vmi-dir>/launcher.sock (or
 * <socket-dir>/launcher.sock in a launcher Pod): one JSON
 * object per line, both ways.
 *   requests   {"op":"subscribe"}          status now and on every change (the handler)
 *              {"op":"status"}             one status message
 *              {"op":"pause"} {"op":"unpause"}
 *              {"op":"shutdown","gracePeriodSeconds":N}  ACPI power button, destroy after N s
 *              {"op":"kill"}               destroy now
 *   replies    {"type":"reply","ok":true} or {"type":"reply","ok":false,"error":"..."}
 *   status     {"type":"status","phase":"Scheduled|Running|Succeeded|Failed",
 *               "paused":bool,"reason":"...","message":"...","final":bool,
 *               "domain":"NS_NAME","interfaces":[{"name":..,"mac":..,
 *               "ipAddress":..,"ipAddresses":[..]}]}
 * Every status is also written to <vmi-dir>/status.json.  A final status
 * (Succeeded/Failed) is the launcher's last word: it undefines the domain
 * (the outcome stays in status.json for a handler that was not listening)
 * and exits.  Phases follow
 * KubeVirt: guest shutdown => Succeeded; crash, outside destroy or a start
 * error => Failed, with libvirt's message (the handler turns it into the
 * Synchronized condition).  A domain never stays Running when it stopped by
 * itself: paused on a disk I/O error => Running with reason PausedIOError;
 * paused by a KVM internal error or a guest panic => destroyed and Failed
 * (KVMInternalError with qemu's log line, GuestPanicked).
 *
 * Guest addresses (status.interfaces[].ipAddress/ipAddresses, KubeVirt's
 * names): for the bridge binding the guest sits on the host bridge, so the
 * host sees its address, from two sources polled while the domain runs
 * (1 s after each lifecycle event, then backing off to 16 s while nothing
 * changes): libvirt's virDomainInterfaceAddresses with the ARP source (the
 * host's neighbour table, matched by MAC; /proc/net/arp where libvirt's
 * reading of it fails) and, with --dhcp-leases, the bridge
 * DHCP server's lease file (dnsmasq format, leases.c), which knows the
 * address before any traffic.  A status goes out only when an address
 * changed.  An address stays reported until a source names another: ARP
 * entries age out while the guest keeps its address.
 * For masquerade no address is reported.  KubeVirt shows the pod's IP there
 * (the guest hides behind it, and only the listed ports reach it); Ferry has
 * no pod, and qemu's user-mode network gives every guest the same private
 * 10.0.2.15 that nothing outside qemu can reach, so neither the guest's
 * address nor an invented one would be true.  The forwarded ports are on the
 * node's 127.0.0.1. */
#include "launcher/launcher.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/volume.h"
#include "launcher/cloudinit.h"
#include "launcher/domain.h"
#include "launcher/kvmprobe.h"
#include "launcher/leases.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ADDR_POLL_FIRST_MS 1000
#define ADDR_POLL_MAX_MS 16000

struct client {
    int fd;
    int watch;
    bool subscribed;
    struct ferry_proto_reader r;
    struct client *next;
};

struct launcher {
    const struct ferry_launcher_opts *o;
    json_object *vmi;
    char *dir, *dom_name, *sock_path;
    const char *uid;
    const char *dom_uuid; /* spec.domain.firmware.uuid, else the VMI uid (domain.c) */
    bool kvm;
    virConnectPtr conn;
    int lifecycle_cb;
    int reconnect_timer;
    int destroy_timer;
    int listen_fd, listen_watch;
    struct client *clients;
    /* what we report */
    const char *phase;
    bool paused;
    char *reason, *message;
    json_object *interfaces;
    bool bridged;      /* an interface has the bridge binding: poll its addresses */
    int addr_timer;    /* address polling, -1 while disabled */
    int addr_delay_ms; /* its backoff */
    bool arp_fallback_logged;
    bool final;
    bool stopping; /* we asked the domain to stop */
    int64_t grace;
    bool quit;
    int exit_code;
    char *logged; /* last status logged */
    bool grace_expired;
};

static volatile sig_atomic_t got_signal;

bool
ferry_launcher_direct_io(const char *path, void *opaque)
{
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return errno != EINVAL;
    close(fd);
    return true;
}

static void
quiet_errors(void *opaque, virErrorPtr err)
{
    /* errors are reported where they matter, with context */
}

void
ferry_virt_quiet(void)
{
    virSetErrorFunc(NULL, quiet_errors);
}

const char *
ferry_virt_msg(void)
{
    const char *m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}

/* ---- status ----------------------------------------------------------- */

static json_object *
status_msg(struct launcher *l)
{
    json_object *m = json_object_new_object();
    json_object_object_add(m, "type", json_object_new_string("status"));
    json_object_object_add(m, "phase", json_object_new_string(l->phase));
    json_object_object_add(m, "paused", json_object_new_boolean(l->paused));
    json_object_object_add(m, "final", json_object_new_boolean(l->final));
    json_object_object_add(m, "domain", json_object_new_string(l->dom_name));
    if (l->reason)
        json_object_object_add(m, "reason", json_object_new_string(l->reason));
    if (l->message)
        json_object_object_add(m, "message", json_object_new_string(l->message));
    if (l->interfaces)
        json_object_object_add(m, "interfaces", json_object_get(l->interfaces));
    if (l->uid)
        json_object_object_add(m, "uid", json_object_new_string(l->uid));
    return m;
}

/* Send status to every subscriber and keep it in <vmi-dir>/status.json, where
 * the handler finds the outcome even when it was not listening. */
static int
broadcast(struct launcher *l)
{
    FERRY_AUTOPTR(json_object) m = status_msg(l);
    FERRY_AUTOFREE char *path = ferry_printf("%s/status.json", l->dir);
    FERRY_AUTOFREE char *text = ferry_json_to_string(m, false);
    int n = 0;

    if (ferry_file_write_atomic(path, text, strlen(text), 0644) < 0)
        ferry_log_last_error();
    for (struct client *c = l->clients; c; c = c->next)
        if (c->subscribed && c->fd >= 0 && ferry_proto_send(c->fd, m) == 0)
            n++;
    if (!ferry_str_eq(l->logged, text)) {
        ferry_log_info("%s: phase %s%s%s%s", l->dom_name, l->phase, l->paused ? " (paused)" : "",
                       l->message ? ": " : "", l->message ? l->message : "");
        free(l->logged);
        l->logged = ferry_strdup(text);
    }
    return n;
}

static void
set_reason(struct launcher *l, const char *reason, const char *message)
{
    free(l->reason);
    free(l->message);
    l->reason = ferry_strdup(reason);
    l->message = ferry_strdup(message);
}

static void
undefine(struct launcher *l)
{
    virDomainPtr dom;
    if (!l->conn || !(dom = virDomainLookupByName(l->conn, l->dom_name)))
        return;
    if (virDomainIsActive(dom) == 1)
        virDomainDestroy(dom);
    if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM) < 0)
        ferry_log_warn("%s: undefine: %s", l->dom_name, ferry_virt_msg());
    virDomainFree(dom);
}

/* The domain is over (or never started): report and leave. */
static void
finish(struct launcher *l, const char *phase, const char *reason, const char *message)
{
    if (l->final)
        return;
    l->phase = phase;
    l->paused = false;
    l->final = true;
    set_reason(l, reason, message);
    broadcast(l); /* status.json keeps the outcome: the definition can go */
    undefine(l);
    l->exit_code = 0;
    l->quit = true;
}

static void
read_interfaces(struct launcher *l, virDomainPtr dom)
{
    FERRY_AUTOFREE char *xml = virDomainGetXMLDesc(dom, 0);
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr res;
    json_object *arr = json_object_new_array();
    json_object *spec_ifaces = ferry_json_get(l->vmi, "spec.domain.devices.interfaces");
    if (!json_object_is_type(spec_ifaces, json_type_array))
        spec_ifaces = NULL;

    if (xml && (doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET))) {
        ctx = xmlXPathNewContext(doc);
        res = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface", ctx);
        for (int i = 0; res && res->nodesetval && i < res->nodesetval->nodeNr; i++) {
            xmlNodePtr n = res->nodesetval->nodeTab[i];
            FERRY_AUTOFREE char *mac = NULL, *alias = NULL;
            FERRY_AUTOFREE char *type = (char *)xmlGetProp(n, BAD_CAST "type");
            l->bridged |= ferry_str_eq(type, "bridge");
            for (xmlNodePtr ch = n->children; ch; ch = ch->next) {
                if (ch->type != XML_ELEMENT_NODE)
                    continue;
                if (xmlStrEqual(ch->name, BAD_CAST "mac"))
                    mac = (char *)xmlGetProp(ch, BAD_CAST "address");
                else if (xmlStrEqual(ch->name, BAD_CAST "alias"))
                    alias = (char *)xmlGetProp(ch, BAD_CAST "name");
            }
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(
                                                  alias && ferry_str_has_prefix(alias, "ua-") ? alias + 3
                                                  : alias ? alias : "default"));
            if (mac)
                json_object_object_add(e, "mac", json_object_new_string(mac));
            json_object_object_add(e, "infoSource", json_object_new_string("domain"));
            json_object_array_add(arr, e);
        }
        xmlXPathFreeObject(res);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
    }
    /* Interfaces passed to qemu directly (masquerade with ports) are not in
     * libvirt's view: report them from the spec. */
    for (size_t i = 0; spec_ifaces && i < json_object_array_length(spec_ifaces); i++) {
        json_object *si = json_object_array_get_idx(spec_ifaces, i);
        const char *nm = ferry_json_get_string(si, "name");
        bool found = false;
        for (size_t j = 0; j < json_object_array_length(arr); j++)
            found |= ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(arr, j), "name"), nm);
        if (!found && nm) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(nm));
            if (ferry_json_get_string(si, "macAddress"))
                json_object_object_add(e, "mac",
                                       json_object_new_string(ferry_json_get_string(si, "macAddress")));
            json_object_object_add(e, "infoSource", json_object_new_string("domain"));
            json_object_array_add(arr, e);
        }
    }
    json_object_put(l->interfaces);
    l->interfaces = arr;
}

static json_object *
spec_interface(struct launcher *l, const char *name)
{
    json_object *ifaces = ferry_json_get(l->vmi, "spec.domain.devices.interfaces");
    for (size_t i = 0; json_object_is_type(ifaces, json_type_array) &&
                       i < json_object_array_length(ifaces); i++) {
        json_object *si = json_object_array_get_idx(ifaces, i);
        if (name && ferry_str_eq(ferry_json_get_string(si, "name"), name))
            return si;
    }
    return NULL;
}

/* Look up the guest addresses of the bridge-bound interfaces (the lease file,
 * then ARP; see the top of this file) into l->interfaces.  True when one
 * changed. */
static bool
update_addresses(struct launcher *l, virDomainPtr dom)
{
    virDomainInterfacePtr *arp = NULL;
    int narp = virDomainInterfaceAddresses(dom, &arp, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, 0);
    time_t now = time(NULL);
    bool changed = false, proc_arp = false;

    if (narp < 0) {
        /* libvirt 9.0 takes the NLMSG_DONE that Linux 6.1 puts in the same
         * read as the neighbour entries for a short message ("wrong nlmsg
         * len") and fails every time: read the kernel's table ourselves */
        if (!l->arp_fallback_logged)
            ferry_log_info("%s: libvirt's ARP source failed (%s); reading /proc/net/arp instead",
                           l->dom_name, ferry_virt_msg());
        l->arp_fallback_logged = true;
        proc_arp = true;
        narp = 0;
    }
    for (size_t i = 0; l->interfaces && i < json_object_array_length(l->interfaces); i++) {
        json_object *e = json_object_array_get_idx(l->interfaces, i);
        const char *name = ferry_json_get_string(e, "name");
        const char *mac = ferry_json_get_string(e, "mac");
        json_object *si = spec_interface(l, name);
        json_object *ips;
        int from_leases, from_arp = 0;

        if (!mac || !si || !ferry_json_get(si, "bridge"))
            continue;
        ips = json_object_new_array();
        from_leases = ferry_leases_read(l->o->dhcp_leases, mac, now, ips);
        if (proc_arp)
            from_arp = ferry_leases_read_arp("/proc/net/arp", mac, ips);
        for (int j = 0; j < narp; j++) {
            if (!arp[j]->hwaddr || strcasecmp(arp[j]->hwaddr, mac) != 0)
                continue;
            for (unsigned int k = 0; k < arp[j]->naddrs; k++)
                if (arp[j]->addrs[k].addr)
                    from_arp += ferry_leases_add(ips, arp[j]->addrs[k].addr);
        }
        if (json_object_array_length(ips) == 0 ||
            ferry_json_equal(ips, ferry_json_get(e, "ipAddresses"))) {
            json_object_put(ips);
            continue;
        }
        json_object_object_add(e, "ipAddress", json_object_new_string(json_object_get_string(
                                                   json_object_array_get_idx(ips, 0))));
        json_object_object_add(e, "ipAddresses", ips);
        ferry_log_info("%s: interface %s (%s) has address %s (from %s)", l->dom_name, name, mac,
                       json_object_get_string(json_object_array_get_idx(ips, 0)),
                       from_leases && from_arp ? "the DHCP leases and ARP"
                       : from_leases          ? "the DHCP leases"
                                              : "ARP");
        changed = true;
    }
    for (int j = 0; j < narp; j++)
        virDomainInterfaceFree(arp[j]);
    free(arp);
    return changed;
}

static void
poll_addresses(int timer, void *opaque)
{
    struct launcher *l = opaque;
    virDomainPtr dom;

    if (l->final || !l->conn || !ferry_str_eq(l->phase, "Running") ||
        !(dom = virDomainLookupByName(l->conn, l->dom_name))) {
        virEventUpdateTimeout(timer, -1); /* the next refresh() arms it again */
        return;
    }
    if (update_addresses(l, dom)) {
        broadcast(l);
        l->addr_delay_ms = ADDR_POLL_FIRST_MS;
    } else {
        l->addr_delay_ms = l->addr_delay_ms * 2 > ADDR_POLL_MAX_MS ? ADDR_POLL_MAX_MS
                                                                   : l->addr_delay_ms * 2;
    }
    virDomainFree(dom);
    virEventUpdateTimeout(timer, l->addr_delay_ms);
}

/* The domain's qemu ended by itself: Failed, with what qemu's log says. */
static void
crashed(struct launcher *l, const char *what)
{
    FERRY_AUTOFREE char *q = ferry_kvm_probe_qemu_says(l->dom_name);
    FERRY_AUTOFREE char *m = q ? ferry_printf("%s; qemu: %s", what, q) : NULL;
    finish(l, "Failed", "Crashed", m ? m : what);
}

/* A pause nobody asked for that the guest cannot come back from: qemu stops
 * the guest after a KVM internal error (libvirt: paused, reason unknown) or
 * a guest panic (reason crashed).  KubeVirt's virt-handler reports such a
 * domain as it finds it; Ferry ends it (Failed, with the cause) so the VM's
 * run strategy decides what comes next, instead of a VMI that says Running
 * over a guest that will never run again.  True when it ended the domain. */
static bool
paused_by_itself(struct launcher *l, virDomainPtr dom, int reason)
{
    FERRY_AUTOFREE char *q = NULL;
    FERRY_AUTOFREE char *m = NULL;

    if (reason == VIR_DOMAIN_PAUSED_CRASHED) {
        finish(l, "Failed", "GuestPanicked", "the guest kernel panicked (the domain paused)");
        return true;
    }
    if (reason != VIR_DOMAIN_PAUSED_UNKNOWN && reason != VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)
        return false;
    q = ferry_kvm_probe_qemu_says(l->dom_name);
    if (q && (strstr(q, "KVM internal error") || strstr(q, "emulation failure"))) {
        m = ferry_printf("the guest stopped on a KVM internal error: %s", q);
        finish(l, "Failed", "KVMInternalError", m);
    } else {
        m = ferry_printf("the guest stopped by itself (libvirt: paused, reason %s)%s%s",
                         reason == VIR_DOMAIN_PAUSED_UNKNOWN ? "unknown" : "postcopy failed",
                         q ? "; qemu: " : "", q ? q : "");
        finish(l, "Failed", "PausedUnknown", m);
    }
    return true;
}

/* Read the domain's state and report it; ends the launcher when it is off. */
static void
refresh(struct launcher *l, virDomainPtr dom)
{
    int state = 0, reason = 0;

    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        ferry_log_warn("%s: state: %s", l->dom_name, ferry_virt_msg());
        return;
    }
    if (state == VIR_DOMAIN_PAUSED && paused_by_itself(l, dom, reason))
        return;
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_PAUSED:
        l->phase = "Running";
        /* starting up and shutting down pass through a pause of their own */
        l->paused = state == VIR_DOMAIN_PAUSED && reason != VIR_DOMAIN_PAUSED_STARTING_UP &&
                    reason != VIR_DOMAIN_PAUSED_SHUTTING_DOWN;
        if (l->paused && reason == VIR_DOMAIN_PAUSED_IOERROR)
            set_reason(l, "PausedIOError", "VMI was paused, low-level IO error detected");
        else if (l->paused && reason == VIR_DOMAIN_PAUSED_WATCHDOG)
            set_reason(l, "PausedWatchdog", "VMI was paused by its watchdog device");
        else if (l->paused)
            set_reason(l, "PausedByUser", "VMI was paused by user");
        else
            set_reason(l, NULL, NULL);
        if (!l->interfaces) {
            read_interfaces(l, dom);
            if (l->bridged)
                update_addresses(l, dom); /* an adopted guest has its address already */
        }
        if (l->bridged && l->addr_timer >= 0) {
            l->addr_delay_ms = ADDR_POLL_FIRST_MS;
            virEventUpdateTimeout(l->addr_timer, l->addr_delay_ms);
        }
        broadcast(l);
        break;
    case VIR_DOMAIN_SHUTDOWN:
        break; /* on its way down: the STOPPED event follows */
    case VIR_DOMAIN_CRASHED:
        finish(l, "Failed", "GuestPanicked", "the guest kernel panicked");
        break;
    case VIR_DOMAIN_SHUTOFF:
    default:
        if (l->stopping || (state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN))
            finish(l, "Succeeded", "GuestShutdown", "the guest shut down");
        else if (state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_DESTROYED)
            finish(l, "Failed", "Destroyed", "the domain was destroyed outside Ferry");
        else if (state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_CRASHED)
            finish(l, "Failed", "GuestPanicked", "the guest crashed (its kernel panicked)");
        else
            crashed(l, "the domain crashed or its qemu process ended");
        break;
    }
}

/* ---- libvirt events --------------------------------------------------- */

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    struct launcher *l = opaque;

    char uuid[VIR_UUID_STRING_BUFLEN];

    if (strcmp(virDomainGetName(dom), l->dom_name) != 0 || l->final)
        return 0;
    /* an older domain of that name, going away after we replaced it */
    if (l->dom_uuid && virDomainGetUUIDString(dom, uuid) == 0 && strlen(l->dom_uuid) == 36 &&
        strcasecmp(uuid, l->dom_uuid) != 0)
        return 0;
    ferry_log_debug("launcher", "%s: lifecycle event %d detail %d", l->dom_name, event, detail);
    if (event == VIR_DOMAIN_EVENT_STOPPED) {
        if (l->grace_expired)
            finish(l, "Succeeded", "GracePeriodExpired",
                   "the guest did not shut down within its grace period and was stopped");
        else if (l->stopping || detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
            finish(l, "Succeeded", "GuestShutdown", "the guest shut down");
        else if (detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
            finish(l, "Failed", "Destroyed", "the domain was destroyed outside Ferry");
        else if (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED)
            finish(l, "Failed", "GuestPanicked", "the guest crashed (its kernel panicked)");
        else
            crashed(l, "the domain crashed or its qemu process ended");
        return 0;
    }
    if (event == VIR_DOMAIN_EVENT_CRASHED) {
        finish(l, "Failed", "GuestPanicked",
               detail == VIR_DOMAIN_EVENT_CRASHED_PANICKED ? "the guest kernel panicked"
                                                           : "the guest crashed");
        return 0;
    }
    if (event == VIR_DOMAIN_EVENT_UNDEFINED)
        return 0;
    refresh(l, dom);
    return 0;
}

static void connect_libvirt(int timer, void *opaque);

static void
on_close(virConnectPtr conn, int reason, void *opaque)
{
    struct launcher *l = opaque;
    ferry_log_warn("%s: libvirt connection closed (reason %d); reconnecting", l->dom_name, reason);
    if (l->reconnect_timer < 0)
        l->reconnect_timer = virEventAddTimeout(1000, connect_libvirt, l, NULL);
    else
        virEventUpdateTimeout(l->reconnect_timer, 1000);
}

/* ---- starting --------------------------------------------------------- */

static void
chown_for_qemu(const char *path)
{
    struct passwd *pw = getpwnam("libvirt-qemu");
    if (pw && chown(path, pw->pw_uid, pw->pw_gid) < 0)
        ferry_log_warn("chown %s: %s", path, strerror(errno));
}

/* A containerDisk: the image imported into the node's cache by
 * ferry-importer (once, or each time for imagePullPolicy Always), then a
 * qcow2 overlay for this VMI (kept across launcher restarts, removed with
 * the VMI's directory).  The importer's log is containerdisk-NAME.log in
 * the VMI's directory; its last line is the error. */
static int
prepare_containerdisk(struct launcher *l, struct ferry_volume *v)
{
    const char *image = ferry_json_get_string(v->source, "image");
    const char *policy = ferry_json_get_string(v->source, "imagePullPolicy");
    const char *vname = strrchr(v->path, '/') + 1;
    FERRY_AUTOFREE char *cdir = ferry_strndup(v->cache, strrchr(v->cache, '/') - v->cache);
    FERRY_AUTOFREE char *url = ferry_printf("docker://%s", image);
    FERRY_AUTOFREE char *importer = ferry_self_dir()
                                        ? ferry_printf("%s/ferry-importer", ferry_self_dir())
                                        : ferry_strdup("ferry-importer");
    FERRY_AUTOFREE char *log = ferry_printf("%s/%.*s.log", l->dir,
                                            (int)(strlen(vname) - strlen(".qcow2")), vname);
    struct stat st;
    int status = 0;

    if (stat(v->path, &st) == 0)
        return 0;   /* this VMI's overlay, from before a launcher restart */
    if (access(importer, X_OK) < 0) {
        free(importer);
        importer = ferry_strdup("ferry-importer");
    }
    if (ferry_mkdir_p(cdir, 0755) < 0)
        return -1;
    if (stat(v->cache, &st) < 0 || ferry_str_eq(policy, "Always")) {
        if (ferry_str_eq(policy, "Never") && stat(v->cache, &st) < 0)
            return ferry_error(FERRY_ERR_NOTFOUND,
                               "containerDisk '%s': imagePullPolicy Never and the image is not "
                               "on this node", image);
        char *const argv[] = { importer, "--url", url, "--dest", v->cache, "--progress", "none",
                               NULL };
        char *const env[] = { "FERRY_LOG_FORMAT=text", NULL };
        struct ferry_spawn_opts so = { .env = env, .stdout_file = log };
        struct ferry_child child;

        ferry_log_info("containerDisk %s: importing into %s", image, v->cache);
        if (ferry_spawn(argv, &so, &child) < 0 || ferry_child_wait(&child, -1, &status) < 0)
            return ferry_error_prefix("containerDisk '%s'", image);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            FERRY_AUTOFREE char *text = NULL;
            FERRY_AUTOFREE char *why = ferry_wait_status_string(status);
            size_t len = 0;
            char *last = NULL;
            if (ferry_file_read(log, 1 << 20, &text, &len) == 0 && len > 0) {
                while (len > 0 && text[len - 1] == '\n')
                    text[--len] = '\0';
                last = strrchr(text, '\n');
                last = last ? last + 1 : text;
            }
            ferry_error_reset();
            return ferry_error(FERRY_ERR_NETWORK, "containerDisk '%s': ferry-importer %s%s%s",
                               image, why, last ? ": " : "", last ? last : "");
        }
    }
    {
        FERRY_AUTOFREE char *out = NULL;
        char *const argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                               v->cache, v->path, NULL };
        if (ferry_run(argv, &out, &status) < 0)
            return ferry_error_prefix("containerDisk '%s': qemu-img create", image);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return ferry_error(FERRY_ERR_IO, "containerDisk '%s': qemu-img create '%s' failed",
                               image, v->path);
    }
    chown_for_qemu(v->path);
    return 0;
}

static int
prepare_volumes(struct launcher *l, const struct ferry_domain_opts *dopts)
{
    json_object *vols = ferry_json_get(l->vmi, "spec.volumes");
    if (!json_object_is_type(vols, json_type_array))
        vols = NULL; /* ferry_domain_build() says what is wrong */
    for (size_t i = 0; vols && i < json_object_array_length(vols); i++) {
        struct ferry_volume v;
        struct stat st;
        int rc = 0;
        if (ferry_domain_volume(dopts, l->vmi, json_object_array_get_idx(vols, i), &v) < 0)
            return -1;
        switch (v.kind) {
        case FERRY_VOLUME_FILE:
            if (stat(v.path, &st) < 0)
                rc = ferry_error_errno(FERRY_ERR_NOTFOUND, errno,
                                       "volume file '%s' (is the DataVolume imported?)", v.path);
            break;
        case FERRY_VOLUME_EMPTY_DISK:
            if (stat(v.path, &st) < 0) {
                int fd = open(v.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0660);
                if (fd < 0 || ftruncate(fd, (off_t)v.size) < 0)
                    rc = ferry_error_errno(FERRY_ERR_IO, errno, "emptyDisk '%s'", v.path);
                if (fd >= 0)
                    close(fd);
            }
            break;
        case FERRY_VOLUME_CONTAINER_DISK:
            rc = prepare_containerdisk(l, &v);
            break;
        case FERRY_VOLUME_NOCLOUD:
        case FERRY_VOLUME_CONFIGDRIVE:
            rc = ferry_cloudinit_write_iso(v.path, v.kind == FERRY_VOLUME_CONFIGDRIVE, v.source,
                                           l->vmi);
            break;
        }
        ferry_volume_release(&v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* In a launcher Pod the PVCs are mounts the node's libvirtd cannot see: open
 * each and hand libvirt the descriptor for the disk's fdgroup, before the
 * domain starts (libvirt passes it to qemu with -add-fd). */
static int
associate_fds(struct launcher *l, const struct ferry_domain_opts *dopts, virDomainPtr dom)
{
    json_object *vols = ferry_json_get(l->vmi, "spec.volumes");

    for (size_t i = 0; vols && i < json_object_array_length(vols); i++) {
        struct ferry_volume v;
        int fd, r;

        if (ferry_domain_volume(dopts, l->vmi, json_object_array_get_idx(vols, i), &v) < 0)
            return -1;
        if (!v.fdgroup) {
            ferry_volume_release(&v);
            continue;
        }
        fd = open(v.path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            r = ferry_error_errno(FERRY_ERR_IO, errno, "volume file '%s'", v.path);
            ferry_volume_release(&v);
            return r;
        }
        r = virDomainFDAssociate(dom, v.fdgroup, 1, &fd,
                                 VIR_DOMAIN_FD_ASSOCIATE_SECLABEL_RESTORE |
                                     VIR_DOMAIN_FD_ASSOCIATE_SECLABEL_WRITABLE);
        close(fd);
        if (r < 0) {
            r = ferry_error(FERRY_ERR_LIBVIRT, "volume file '%s': passing it to libvirt: %s",
                            v.path, ferry_virt_msg());
            ferry_volume_release(&v);
            return r;
        }
        ferry_log_debug("launcher", "%s: %s passed as fdgroup %s", l->dom_name, v.path, v.fdgroup);
        ferry_volume_release(&v);
    }
    return 0;
}

static int
start_domain(struct launcher *l)
{
    struct ferry_domain_opts dopts = { .state_dir = l->o->state_dir, .kvm = l->kvm,
                                       .bridge = l->o->bridge,
                                       .direct_io = ferry_launcher_direct_io,
                                       .pvc_root = l->o->pvc_root };
    FERRY_AUTOFREE char *xml = NULL;
    virDomainPtr dom;
    unsigned int flags = 0;

    if (!l->kvm && (l->o->no_kvm || !l->o->allow_emulation) && !l->o->force_emulation) {
        FERRY_AUTOFREE char *msg = ferry_printf(
            "%s, and software emulation is not allowed (start ferry-handler with "
            "--allow-emulation, KubeVirt's useEmulation)",
            !l->o->no_kvm          ? "/dev/kvm is not available on this node"
            : l->o->no_kvm_reason ? l->o->no_kvm_reason
                                  : "KVM is present but cannot run guests on this node");
        finish(l, "Failed", "NoKVM", msg);
        return -1;
    }
    if (prepare_volumes(l, &dopts) < 0 || ferry_domain_build(l->vmi, &dopts, &xml) < 0) {
        finish(l, "Failed", ferry_error_code() == FERRY_ERR_UNSUPPORTED ? "Unsupported" : "FailedCreate",
               ferry_error_message());
        return -1;
    }
    {
        FERRY_AUTOFREE char *p = ferry_printf("%s/domain.xml", l->dir);
        ferry_file_write_atomic(p, xml, strlen(xml), 0644);
    }
    ferry_log_debug("launcher", "%s: domain XML ready", l->dom_name);
    if (!(dom = virDomainDefineXML(l->conn, xml))) {
        finish(l, "Failed", "FailedDefine", ferry_virt_msg());
        return -1;
    }
    if (associate_fds(l, &dopts, dom) < 0) {
        FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());
        virDomainFree(dom);
        finish(l, "Failed", "FailedCreate", msg);
        return -1;
    }
    if (ferry_str_eq(ferry_json_get_string(l->vmi, "spec.startStrategy"), "Paused"))
        flags |= VIR_DOMAIN_START_PAUSED;
    ferry_log_debug("launcher", "%s: defined", l->dom_name);
    if (virDomainCreateWithFlags(dom, flags) < 0) {
        FERRY_AUTOFREE char *msg = ferry_strdup(ferry_virt_msg());
        virDomainFree(dom);
        finish(l, "Failed", "FailedCreate", msg);
        return -1;
    }
    refresh(l, dom);
    virDomainFree(dom);
    return 0;
}

static bool
domain_is_ours(struct launcher *l, virDomainPtr dom)
{
    FERRY_AUTOFREE char *md = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                                   FERRY_DOMAIN_XMLNS, 0);
    return md && l->uid && strstr(md, l->uid);
}

/* Bring libvirt's view and ours together (first connect and every reconnect). */
static void
sync_domain(struct launcher *l)
{
    virDomainPtr dom = virDomainLookupByName(l->conn, l->dom_name);
    const char *vphase = ferry_json_get_string(l->vmi, "status.phase");
    bool was_running = ferry_str_eq(vphase, "Running") || l->phase[0] == 'R';

    if (dom && !domain_is_ours(l, dom)) {
        ferry_log_info("%s: replacing a domain left by an older VMI of that name", l->dom_name);
        if (virDomainIsActive(dom) == 1)
            virDomainDestroy(dom);
        virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM);
        virDomainFree(dom);
        dom = NULL;
    }
    if (l->o->stop_only) {
        if (!dom || virDomainIsActive(dom) != 1) {
            finish(l, "Succeeded", "Deleted", "the VMI was deleted");
        } else {
            l->stopping = true;
            if (virDomainShutdown(dom) < 0)
                virDomainDestroy(dom);
            l->destroy_timer = -1;
        }
        if (dom)
            virDomainFree(dom);
        return;
    }
    if (!dom) {
        if (was_running)
            finish(l, "Failed", "DomainVanished", "the domain of this running VMI is gone");
        else
            start_domain(l);
        return;
    }
    if (virDomainIsActive(dom) == 1 || was_running) {
        if (virDomainIsActive(dom) == 1)
            ferry_log_info("%s: adopting the running domain", l->dom_name);
        refresh(l, dom);
    } else {
        virDomainFree(dom);
        start_domain(l);
        return;
    }
    virDomainFree(dom);
}

static void
connect_libvirt(int timer, void *opaque)
{
    struct launcher *l = opaque;
    const char *uri = l->o->uri ? l->o->uri : "qemu:///system";

    if (l->reconnect_timer >= 0)
        virEventUpdateTimeout(l->reconnect_timer, -1);
    if (l->conn) {
        if (l->lifecycle_cb >= 0)
            virConnectDomainEventDeregisterAny(l->conn, l->lifecycle_cb);
        virConnectUnregisterCloseCallback(l->conn, on_close);
        virConnectClose(l->conn);
        l->conn = NULL;
        l->lifecycle_cb = -1;
    }
    l->conn = virConnectOpen(uri);
    if (!l->conn) {
        ferry_log_warn("%s: cannot connect to %s: %s; retrying", l->dom_name, uri, ferry_virt_msg());
        if (l->reconnect_timer < 0)
            l->reconnect_timer = virEventAddTimeout(1000, connect_libvirt, l, NULL);
        else
            virEventUpdateTimeout(l->reconnect_timer, 1000);
        return;
    }
    if (l->reconnect_timer >= 0)
        ferry_log_info("%s: reconnected to libvirt", l->dom_name);
    ferry_log_debug("launcher", "%s: connected to %s", l->dom_name, uri);
    virConnectSetKeepAlive(l->conn, 5, 3);
    virConnectRegisterCloseCallback(l->conn, on_close, l, NULL);
    l->lifecycle_cb = virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l,
                                                       NULL);
    sync_domain(l);
}

/* ---- requests --------------------------------------------------------- */

static void
destroy_now(int timer, void *opaque)
{
    struct launcher *l = opaque;
    virDomainPtr dom;
    virEventUpdateTimeout(timer, -1);
    if (!l->conn || !(dom = virDomainLookupByName(l->conn, l->dom_name)))
        return;
    ferry_log_info("%s: grace period over; destroying the domain", l->dom_name);
    l->stopping = true;
    l->grace_expired = true;
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
        ferry_log_warn("%s: destroy: %s", l->dom_name, ferry_virt_msg());
    virDomainFree(dom);
}

static int
handle_request(struct launcher *l, struct client *c, json_object *req)
{
    const char *op = ferry_json_get_string(req, "op");
    FERRY_AUTOPTR(json_object) reply = json_object_new_object();
    virDomainPtr dom = NULL;
    int rc = 0;

    json_object_object_add(reply, "type", json_object_new_string("reply"));
    if (!op) {
        rc = ferry_error(FERRY_ERR_INVALID, "request without \"op\"");
    } else if (strcmp(op, "subscribe") == 0 || strcmp(op, "status") == 0) {
        FERRY_AUTOPTR(json_object) st = status_msg(l);
        c->subscribed |= op[1] == 'u';
        ferry_proto_send(c->fd, st);
    } else if (l->final) {
        rc = ferry_error(FERRY_ERR_INVALID, "domain %s is no longer running (%s)", l->dom_name, l->phase);
    } else if (!l->conn || !(dom = virDomainLookupByName(l->conn, l->dom_name))) {
        rc = ferry_error(FERRY_ERR_LIBVIRT, "domain %s: %s", l->dom_name,
                         l->conn ? ferry_virt_msg() : "not connected to libvirt");
    } else if (strcmp(op, "pause") == 0) {
        if (virDomainSuspend(dom) < 0)
            rc = ferry_error(FERRY_ERR_LIBVIRT, "pause %s: %s", l->dom_name, ferry_virt_msg());
    } else if (strcmp(op, "unpause") == 0) {
        if (virDomainResume(dom) < 0)
            rc = ferry_error(FERRY_ERR_LIBVIRT, "unpause %s: %s", l->dom_name, ferry_virt_msg());
    } else if (strcmp(op, "shutdown") == 0) {
        int64_t grace = ferry_json_get_int(req, "gracePeriodSeconds", l->grace);
        int st = 0, why = 0;
        l->stopping = true;
        /* a paused guest cannot hear the power button */
        if (virDomainGetState(dom, &st, &why, 0) == 0 && st == VIR_DOMAIN_PAUSED)
            virDomainResume(dom);
        if (grace <= 0 || virDomainShutdown(dom) < 0) {
            if (virDomainDestroy(dom) < 0)
                rc = ferry_error(FERRY_ERR_LIBVIRT, "stop %s: %s", l->dom_name, ferry_virt_msg());
        } else {
            if (l->destroy_timer < 0)
                l->destroy_timer = virEventAddTimeout((int)(grace * 1000), destroy_now, l, NULL);
            else
                virEventUpdateTimeout(l->destroy_timer, (int)(grace * 1000));
        }
    } else if (strcmp(op, "kill") == 0) {
        l->stopping = true;
        if (virDomainDestroy(dom) < 0)
            rc = ferry_error(FERRY_ERR_LIBVIRT, "kill %s: %s", l->dom_name, ferry_virt_msg());
    } else {
        rc = ferry_error(FERRY_ERR_INVALID, "unknown op '%s'", op);
    }
    if (dom)
        virDomainFree(dom);
    json_object_object_add(reply, "ok", json_object_new_boolean(rc == 0));
    if (rc < 0)
        json_object_object_add(reply, "error", json_object_new_string(ferry_error_message()));
    ferry_proto_send(c->fd, reply);
    return 0;
}

static void
drop_client(struct launcher *l, struct client *c)
{
    for (struct client **p = &l->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    virEventRemoveHandle(c->watch);
    close(c->fd);
    ferry_proto_reader_release(&c->r);
    free(c);
}

static void
on_client(int watch, int fd, int events, void *opaque)
{
    struct launcher *l = opaque;
    struct client *c = l->clients;
    json_object *req;
    int r;

    while (c && c->watch != watch)
        c = c->next;
    if (!c)
        return;
    r = ferry_proto_fill(&c->r, fd);
    while (r > 0 && ferry_proto_next(&c->r, &req) > 0) {
        handle_request(l, c, req);
        json_object_put(req);
    }
    if (r <= 0)
        drop_client(l, c);
}

static void
on_accept(int watch, int fd, int events, void *opaque)
{
    struct launcher *l = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    struct client *c;

    if (cfd < 0)
        return;
    c = ferry_calloc(1, sizeof *c);
    c->fd = cfd;
    c->watch = virEventAddHandle(cfd, VIR_EVENT_HANDLE_READABLE, on_client, l, NULL);
    c->next = l->clients;
    l->clients = c;
}

static void
on_signal(int sig)
{
    got_signal = sig;
}

static void
check_signal(int timer, void *opaque)
{
    struct launcher *l = opaque;
    if (got_signal) {
        ferry_log_info("%s: signal %d: leaving the domain as it is", l->dom_name, (int)got_signal);
        l->quit = true;
    }
}

int
ferry_launcher_run(const struct ferry_launcher_opts *o)
{
    struct launcher l = { .o = o, .lifecycle_cb = -1, .reconnect_timer = -1, .destroy_timer = -1,
                          .addr_timer = -1, .listen_fd = -1, .phase = "Scheduled", .exit_code = -1 };
    FERRY_AUTOFREE char *vmi_path = NULL;
    struct sigaction sa = { .sa_handler = on_signal };
    int rc = -1;

    l.dir = ferry_vmi_dir(o->state_dir, o->ns, o->name);
    if (!l.dir)
        goto out;
    vmi_path = ferry_printf("%s/vmi.json", l.dir);
    ferry_log_debug("launcher", "%s/%s: launcher started", o->ns, o->name);
    if (ferry_json_read_file(vmi_path, &l.vmi) < 0)
        goto out;
    l.dom_name = ferry_domain_name(l.vmi);
    l.uid = ferry_obj_uid(l.vmi);
    l.dom_uuid = ferry_json_get_string(l.vmi, "spec.domain.firmware.uuid");
    if (!l.dom_uuid)
        l.dom_uuid = l.uid;
    l.grace = ferry_json_get_int(l.vmi, "spec.terminationGracePeriodSeconds", 30);
    l.kvm = !o->force_emulation && !o->no_kvm && access("/dev/kvm", R_OK | W_OK) == 0;
    chown_for_qemu(l.dir);
    {
        FERRY_AUTOFREE char *pidfile = ferry_printf("%s/launcher.pid", l.dir);
        if (ferry_pidfile_write(pidfile, getpid()) < 0)
            ferry_error_reset();   /* the tests' view only; the handler does not read it */
    }

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ferry_virt_quiet();
    if (virEventRegisterDefaultImpl() < 0) {
        ferry_error(FERRY_ERR_LIBVIRT, "libvirt event loop: %s", ferry_virt_msg());
        goto out;
    }
    if (o->socket_dir && ferry_mkdir_p(o->socket_dir, 0755) < 0)
        goto out;
    l.sock_path = ferry_printf("%s/launcher.sock", o->socket_dir ? o->socket_dir : l.dir);
    if ((l.listen_fd = ferry_proto_listen(l.sock_path)) < 0)
        goto out;
    l.listen_watch = virEventAddHandle(l.listen_fd, VIR_EVENT_HANDLE_READABLE, on_accept, &l, NULL);
    virEventAddTimeout(200, check_signal, &l, NULL);
    l.addr_timer = virEventAddTimeout(-1, poll_addresses, &l, NULL);
    connect_libvirt(-1, &l);
    while (!l.quit) {
        if (virEventRunDefaultImpl() < 0)
            break;
    }
    rc = l.exit_code == 0 || got_signal ? 0 : -1;
out:
    while (l.clients)
        drop_client(&l, l.clients);
    if (l.listen_fd >= 0) {
        close(l.listen_fd);
        unlink(l.sock_path);
    }
    if (l.conn)
        virConnectClose(l.conn);
    json_object_put(l.vmi);
    json_object_put(l.interfaces);
    free(l.dir);
    free(l.dom_name);
    free(l.sock_path);
    free(l.reason);
    free(l.message);
    free(l.logged);
    return rc;
}
