/* The guest conversion hook (controller/guestconv.c).  Its decisions
 * without a process: what a VM's annotation and condition call for, which
 * volumes are the guest's disks and in what order, and what a report of
 * `ferry-converter --convert-guest` becomes in the annotations (bounded).
 * Then the VM reconciler on a real store with a shell script in the place
 * of ferry-converter (started through the real spawn path; the real
 * conversion is tests/controlplane/test-guest-conversion.sh): a VM without
 * the annotation starts at once; a pending one gets no VMI while its
 * converter runs (holding the volume's lock), and one after it succeeded,
 * with the annotations; a failure is final, a crash retried three times.
 * Kubernetes mode: the Job guestconv-<vm> (command, volumes, owner), made
 * once; its completion (the pod's termination message) gives the
 * annotations and the VMI, its failure the failure path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"
#include "testlib-controller.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/object.h"
#include "common/util.h"
#include "common/volume.h"
#include "controller/internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_object *
parse(const char *text)
{
    json_object *o = NULL;

    assert_int_equal(ferry_json_parse(text, strlen(text), "test", &o), 0);
    return o;
}

static void
test_step(void **state)
{
    (void)state;
    FERRY_AUTOPTR(json_object) none = parse("{\"metadata\":{\"name\":\"a\"}}");
    FERRY_AUTOPTR(json_object) pending =
        parse("{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"pending\"}}}");
    FERRY_AUTOPTR(json_object) done = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"converted: linux\"}},"
        "\"status\":{\"conditions\":[{\"type\":\"GuestConversion\",\"status\":\"True\","
        "\"reason\":\"GuestConverted\"}]}}");
    /* ferry-converter --guest-disk's own failure: a VM with SATA disks that may start */
    FERRY_AUTOPTR(json_object) offline_failed = parse(
        "{\"metadata\":{\"annotations\":"
        "{\"ferry.io/guest-conversion\":\"not converted: no os\"}}}");
    /* the controller's failure whose status write was lost: still final */
    FERRY_AUTOPTR(json_object) failed_nocond = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"failed: no os\"}}}");
    FERRY_AUTOPTR(json_object) failed = parse(
        "{\"metadata\":{\"annotations\":{\"ferry.io/guest-conversion\":\"failed: no os\"}},"
        "\"status\":{\"conditions\":[{\"type\":\"GuestConversion\",\"status\":\"False\","
        "\"reason\":\"GuestConversionFailed\"}]}}");

    assert_int_equal(ctl_guest_step(none, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(none, false), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(pending, false), CTL_GUEST_WAIT);
    assert_int_equal(ctl_guest_step(pending, true), CTL_GUEST_CONVERT);
    assert_int_equal(ctl_guest_step(done, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(offline_failed, true), CTL_GUEST_NONE);
    assert_int_equal(ctl_guest_step(failed, true), CTL_GUEST_FAILED);
    assert_int_equal(ctl_guest_step(failed_nocond, true), CTL_GUEST_FAILED);
    /* set back to pending after a failure: converted again */
    ferry_obj_set_annotation(failed, "ferry.io/guest-conversion", "pending");
    assert_int_equal(ctl_guest_step(failed, true), CTL_GUEST_CONVERT);
}

static void
test_claims(void **state)
{
    (void)state;
    /* the order of the disks, not of the volumes; CD-ROMs and other
     * volume kinds left out */
    FERRY_AUTOPTR(json_object) vm = parse(
        "{\"spec\":{\"template\":{\"spec\":{\"domain\":{\"devices\":{\"disks\":["
        "{\"name\":\"boot\",\"disk\":{\"bus\":\"virtio\"}},"
        "{\"name\":\"cd\",\"cdrom\":{\"bus\":\"sata\"}},"
        "{\"name\":\"ci\",\"disk\":{}},"
        "{\"name\":\"data\",\"disk\":{}}]}},"
        "\"volumes\":["
        "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"pvc-data\"}},"
        "{\"name\":\"cd\",\"dataVolume\":{\"name\":\"dv-iso\"}},"
        "{\"name\":\"ci\",\"cloudInitNoCloud\":{}},"
        "{\"name\":\"boot\",\"dataVolume\":{\"name\":\"dv-boot\"}}]}}}}");
    FERRY_AUTOPTR(json_object) novols = parse("{\"spec\":{}}");
    FERRY_AUTOSTRV char **c = ctl_guest_claims(vm);

    assert_int_equal(ferry_strv_len(c), 2);
    assert_string_equal(c[0], "dv-boot");
    assert_string_equal(c[1], "pvc-data");
    assert_null(ctl_guest_claims(novols));
}

static void
test_report(void **state)
{
    (void)state;
    FERRY_AUTOFREE char *r1 = NULL;
    FERRY_AUTOFREE char *ch1 = NULL;
    FERRY_AUTOFREE char *r2 = NULL;
    FERRY_AUTOFREE char *ch2 = NULL;
    FERRY_AUTOFREE char *r3 = NULL;
    FERRY_AUTOFREE char *ch3 = NULL;
    FERRY_AUTOFREE char *r4 = NULL;
    FERRY_AUTOFREE char *ch4 = NULL;
    FERRY_AUTOFREE char *big = NULL;

    ctl_guest_parse_report("ferry-converter: warning: something\n"
                           "guest: linux debian 12.4 x86_64\n"
                           "changed: /etc/fstab: /dev/sda1 -> UUID=1\n"
                           "note: two NICs\n"
                           "changed: initramfs rebuilt\n"
                           "result: converted\n",
                           &r1, &ch1);
    assert_string_equal(r1, "converted: linux debian 12.4 x86_64");
    assert_string_equal(ch1, "/etc/fstab: /dev/sda1 -> UUID=1\ninitramfs rebuilt");

    ctl_guest_parse_report("ferry-converter: error: no operating system found on '/x/disk.img'\n"
                           "result: not converted (the disks are unchanged)\n",
                           &r2, &ch2);
    assert_string_equal(r2, "failed: no operating system found on '/x/disk.img'");
    assert_null(ch2);

    /* no log at all (the converter could not write it) */
    ctl_guest_parse_report(NULL, &r3, &ch3);
    assert_string_equal(r3, "failed: the guest was not converted");
    assert_null(ch3);

    /* 10,000 changes of 20 bytes: cut to 32 KiB at a line, the rest counted */
    for (int i = 0; i < 10000; i++) {
        char *s = ferry_printf("%schanged: change %09d\n", big ? big : "", i);
        free(big);
        big = s;
    }
    ctl_guest_parse_report(big, &r4, &ch4);
    assert_true(strlen(ch4) <= (32u << 10) + 64);
    assert_non_null(strstr(ch4, "change 000000000\n"));
    assert_non_null(strstr(ch4, " more (convert.log)"));
    assert_string_equal(r4, "failed: the guest was not converted");
}

/* ---- the reconciler with a stand-in converter ---- */

/* MODE (a file beside it): ok, hold (until the file "go" exists, then ok),
 * fail (exit 1 with an error line), crash (killed by SIGKILL). */
static const char converter_script[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "echo \"$@\" >>\"$d/args\"\n"
    "mode=$(cat \"$d/mode\")\n"
    "if [ \"$mode\" = hold ]; then while [ ! -e \"$d/go\" ]; do sleep 0.01; done; mode=ok; fi\n"
    "case $mode in\n"
    "ok) echo 'guest: linux test 1.0'; echo 'changed: /etc/fstab: /dev/sda1 -> UUID=1';\n"
    "    echo 'changed: initramfs rebuilt'; echo 'result: converted'; exit 0;;\n"
    "fail) echo \"ferry-converter: error: no operating system found on '$2'\" >&2;\n"
    "    echo 'result: not converted (the disks are unchanged)'; exit 1;;\n"
    "crash) kill -9 $$;;\n"
    "esac\n";

static int
setup_with(void **state, int kube)
{
    struct test_ctl *fx = ferry_calloc(1, sizeof *fx);
    struct ferry_controller_opts o;
    FERRY_AUTOFREE char *script = NULL;
    FERRY_AUTOFREE char *disk = NULL;

    ferry_controller_opts_init(&o);
    o.vm_backoff_s = 0; /* a crashed converter is retried at once */
    o.kube_objects = kube;
    if (test_controller_new("guestconv", &o, &fx->dir, &fx->c) < 0)
        return -1;
    script = ferry_printf("%s/converter.sh", fx->dir);
    if (ferry_file_write_atomic(script, converter_script, strlen(converter_script), 0755) < 0)
        return -1;
    free(fx->c->converter);
    fx->c->converter = FERRY_STEAL(script);
    /* the VM's disk: a volume someone filled (a persistentVolumeClaim) */
    if (ferry_volume_mkdir(fx->dir, "default", "disk0") < 0)
        return -1;
    disk = ferry_volume_file(fx->dir, "default", "disk0", FERRY_VOLUME_DISK);
    if (ferry_file_write_atomic(disk, "x", 1, 0644) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, 0);
}

static int
setup_kube(void **state)
{
    return setup_with(state, 1);
}

static void
put_file(struct test_ctl *fx, const char *name, const char *text)
{
    FERRY_AUTOFREE char *p = ferry_printf("%s/%s", fx->dir, name);

    assert_int_equal(ferry_file_write_atomic(p, text, strlen(text), 0644), 0);
}

static char *
read_args(struct test_ctl *fx)
{
    FERRY_AUTOFREE char *p = ferry_printf("%s/args", fx->dir);
    char *text = NULL;

    if (ferry_file_read(p, 0, &text, NULL) < 0) {
        ferry_error_reset();
        return NULL;
    }
    return text;
}

static void
create_vm_rs(struct test_ctl *fx, bool pending, const char *rs)
{
    FERRY_AUTOFREE char *text = ferry_printf(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
        "\"metadata\":{\"name\":\"vm\",\"namespace\":\"default\"%s},"
        "\"spec\":{\"runStrategy\":\"%s\",\"template\":{\"spec\":{\"domain\":{"
        "\"devices\":{\"disks\":[{\"name\":\"root\",\"disk\":{\"bus\":\"virtio\"}}]},"
        "\"resources\":{\"requests\":{\"memory\":\"64Mi\"}}},"
        "\"volumes\":[{\"name\":\"root\",\"persistentVolumeClaim\":{\"claimName\":\"disk0\"}}]"
        "}}}}",
        pending ? ",\"annotations\":{\"ferry.io/guest-conversion\":\"pending\"}" : "", rs);
    FERRY_AUTOPTR(json_object) o = test_json(text);

    if (ferry_store_create(fx->c->st, o, NULL) < 0)
        fail_msg("create vm: %s", ferry_error_message());
}

static void
create_vm(struct test_ctl *fx, bool pending)
{
    create_vm_rs(fx, pending, "Always");
}

static void
reconcile(struct test_ctl *fx)
{
    ctl_guest_reap_jobs(fx->c);
    if (ferry_vm_reconcile(fx->c, "default", "vm") < 0)
        fail_msg("reconcile: %s", ferry_error_message());
}

static json_object *
get_obj(struct test_ctl *fx, const struct ferry_resource *res, const char *name)
{
    json_object *o = NULL;

    if (ferry_store_get(fx->c->st, res, "default", name, &o) < 0)
        fail_msg("get %s: %s", name, ferry_error_message());
    return o;
}

static json_object *
get_vm(struct test_ctl *fx)
{
    return get_obj(fx, ferry_resource_vm, "vm");
}

static bool
vmi_exists(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) o = NULL;

    if (ferry_store_get(fx->c->st, ferry_resource_vmi, "default", "vm", &o) == 0)
        return true;
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    ferry_error_reset();
    return false;
}

/* The reason of the VM's GuestConversion condition ("" when none). */
static char *
cond_reason(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) vm = get_vm(fx);
    json_object *c = ferry_condition_get(vm, "GuestConversion");

    return ferry_strdup(c ? ferry_json_get_string(c, "reason") : "");
}

/* Reconcile until the condition's reason is WANT (the script ends in
 * milliseconds; the bound only stops a broken run). */
static void
reconcile_until(struct test_ctl *fx, const char *want)
{
    for (int i = 0; i < 3000; i++) {
        FERRY_AUTOFREE char *r = NULL;

        reconcile(fx);
        r = cond_reason(fx);
        if (ferry_str_eq(r, want))
            return;
        usleep(10000);
    }
    fail_msg("the GuestConversion condition never became %s", want);
}

/* The conversion ends converted: the annotations, then the VMI. */
static void
assert_converted(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) vm = NULL;

    reconcile_until(fx, "GuestConverted");
    assert_true(vmi_exists(fx));
    vm = get_vm(fx);
    assert_string_equal(ferry_obj_annotation(vm, "ferry.io/guest-conversion"),
                        "converted: linux test 1.0");
    assert_string_equal(ferry_obj_annotation(vm, "ferry.io/guest-conversion-changes"),
                        "/etc/fstab: /dev/sda1 -> UUID=1\ninitramfs rebuilt");
}

static void
test_no_annotation_starts_at_once(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOFREE char *args = NULL;

    put_file(fx, "mode", "ok");
    create_vm(fx, false);
    reconcile(fx);
    assert_true(vmi_exists(fx));
    args = read_args(fx);
    assert_null(args);
}

static void
test_converted_then_started(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOFREE char *args = NULL;
    FERRY_AUTOFREE char *want = NULL;
    FERRY_AUTOPTR(json_object) vm = NULL;
    bool busy = false;
    int fd;

    put_file(fx, "mode", "hold");
    create_vm(fx, true);
    reconcile(fx);
    {
        FERRY_AUTOFREE char *r = cond_reason(fx);
        FERRY_AUTOPTR(json_object) v = get_vm(fx);

        assert_string_equal(r, "Converting");
        assert_string_equal(ferry_json_get_string(v, "status.printableStatus"), "Provisioning");
    }
    assert_false(vmi_exists(fx));
    /* the converter holds the volume's lock: no import, no second conversion */
    fd = ferry_volume_lock(fx->dir, "default", "disk0", &busy);
    assert_int_equal(fd, -1);
    assert_true(busy);
    ferry_error_reset();
    /* passes while it runs start nothing more */
    reconcile(fx);
    reconcile(fx);
    assert_false(vmi_exists(fx));
    put_file(fx, "go", "");
    assert_converted(fx);
    args = read_args(fx);
    want = ferry_printf("--convert-guest %s/volumes/default/disk0/disk.img\n", fx->dir);
    assert_string_equal(args, want); /* once */
}

/* A Manual VM started with `ferry start` (a Start request): the request
 * waits for the conversion, then starts it. */
static void
test_start_request_waits(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vm = NULL;
    FERRY_AUTOPTR(json_object) after = NULL;

    put_file(fx, "mode", "hold");
    create_vm_rs(fx, true, "Manual");
    reconcile(fx);
    assert_false(vmi_exists(fx));
    {
        FERRY_AUTOFREE char *args = read_args(fx);

        assert_null(args); /* not to run: not converted */
    }
    vm = get_vm(fx);
    ferry_json_set(vm, "status.stateChangeRequests", test_json("[{\"action\":\"Start\"}]"));
    if (ferry_store_update_status(fx->c->st, vm, NULL) < 0)
        fail_msg("start request: %s", ferry_error_message());
    reconcile_until(fx, "Converting");
    assert_false(vmi_exists(fx));
    after = get_vm(fx);
    assert_non_null(ferry_json_get(after, "status.stateChangeRequests"));
    put_file(fx, "go", "");
    reconcile_until(fx, "GuestConverted");
    assert_true(vmi_exists(fx));
}

/* A pending VM whose conversion the fake converter fails as MODE ("fail",
 * "crash") says: GuestConversionFailed and no VMI.  The VM. */
static json_object *
conversion_failed(struct test_ctl *fx, const char *mode)
{
    put_file(fx, "mode", mode);
    create_vm(fx, true);
    reconcile_until(fx, "GuestConversionFailed");
    assert_false(vmi_exists(fx));
    return get_vm(fx);
}

static void
test_failure_is_final(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vm = conversion_failed(fx, "fail");
    FERRY_AUTOFREE char *args = NULL;
    FERRY_AUTOFREE char *p = NULL;
    json_object *f;

    assert_true(ferry_str_has_prefix(ferry_obj_annotation(vm, "ferry.io/guest-conversion"),
                                     "failed: no operating system found on '"));
    f = ferry_condition_get(vm, "Failure");
    assert_non_null(f);
    assert_string_equal(ferry_json_get_string(f, "reason"), "GuestConversionFailed");
    assert_string_equal(ferry_json_get_string(vm, "status.printableStatus"), "Stopped");
    /* not retried: more passes run no converter */
    p = ferry_printf("%s/args", fx->dir);
    unlink(p);
    for (int i = 0; i < 5; i++)
        reconcile(fx);
    args = read_args(fx);
    assert_null(args);
    assert_false(vmi_exists(fx));
}

static void
test_crash_retried_then_failed(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vm = conversion_failed(fx, "crash");
    FERRY_AUTOFREE char *args = read_args(fx);
    size_t n = 0;

    for (const char *p = args; p && (p = strchr(p, '\n')); p++)
        n++;
    assert_int_equal(n, 3);
    assert_string_equal(ferry_obj_annotation(vm, "ferry.io/guest-conversion"),
                        "failed: ferry-converter killed by signal 9 (Killed), 3 times");
}

/* ---- Kubernetes mode: a Job ---- */

static void
create_pvc(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) pvc = test_json(
        "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
        "\"metadata\":{\"name\":\"disk0\",\"namespace\":\"default\"},"
        "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"volumeMode\":\"Filesystem\","
        "\"resources\":{\"requests\":{\"storage\":\"1Mi\"}}}}");

    if (ferry_store_create(fx->c->st, pvc, NULL) < 0)
        fail_msg("create pvc: %s", ferry_error_message());
}

/* The VM gets the Job, once; no converter runs here, no VMI is made. */
static void
kube_job_started(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) vm = NULL;
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOFREE char *r = NULL;
    FERRY_AUTOFREE char *args = NULL;
    FERRY_AUTOPTR(json_object) jobs = NULL;
    json_object *ref, *ctr, *vol, *mnt;
    static const char *const cmd[] = { "ferry-converter", "--convert-guest", "--termination-log",
                                       "/dev/termination-log", "/disks/0/disk.img" };

    put_file(fx, "mode", "ok");
    create_pvc(fx);
    create_vm(fx, true);
    reconcile(fx);
    reconcile(fx);
    reconcile(fx);
    r = cond_reason(fx);
    assert_string_equal(r, "Converting");
    assert_false(vmi_exists(fx));
    args = read_args(fx);
    assert_null(args);
    assert_int_equal(ferry_store_list(fx->c->st, ferry_resource_job, "default", NULL, &jobs, NULL),
                     0);
    assert_int_equal(json_object_array_length(jobs), 1);
    vm = get_vm(fx);
    assert_string_equal(ferry_json_get_string(vm, "status.printableStatus"), "Provisioning");
    job = get_obj(fx, ferry_resource_job, "guestconv-vm");
    ref = ferry_obj_controller_ref(job);
    assert_non_null(ref);
    assert_string_equal(ferry_json_get_string(ref, "kind"), "VirtualMachine");
    assert_string_equal(ferry_json_get_string(ref, "uid"), ferry_obj_uid(vm));
    assert_int_equal(ferry_json_get_int(job, "spec.backoffLimit", -1), 2);
    assert_string_equal(ferry_obj_label(job, "app.kubernetes.io/managed-by"), "ferry");
    ctr = json_object_array_get_idx(ferry_json_get(job, "spec.template.spec.containers"), 0);
    assert_int_equal(json_object_array_length(ferry_json_get(ctr, "command")), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(
            json_object_get_string(json_object_array_get_idx(ferry_json_get(ctr, "command"), i)),
            cmd[i]);
    assert_false(ferry_json_get_bool(ctr, "securityContext.privileged", false));
    vol = json_object_array_get_idx(ferry_json_get(job, "spec.template.spec.volumes"), 0);
    assert_string_equal(ferry_json_get_string(vol, "persistentVolumeClaim.claimName"), "disk0");
    mnt = json_object_array_get_idx(ferry_json_get(ctr, "volumeMounts"), 0);
    assert_string_equal(ferry_json_get_string(mnt, "name"), ferry_json_get_string(vol, "name"));
    assert_string_equal(ferry_json_get_string(mnt, "mountPath"), "/disks/0");
    assert_null(ferry_json_get(ctr, "volumeDevices"));
}

static void
test_kube_job_created(void **state)
{
    kube_job_started(*state);
}

/* A Block claim is the device /disks/N/disk.img. */
static void
test_kube_job_block(void **state)
{
    (void)state;
    FERRY_AUTOPTR(json_object) vm = test_json(
        "{\"metadata\":{\"name\":\"vm\",\"namespace\":\"default\",\"uid\":\"u1\"}}");
    FERRY_AUTOPTR(json_object) job = NULL;
    struct ferry_controller_opts o;
    char *claims[] = { "a", "b", NULL };
    bool block[] = { false, true };
    json_object *ctr, *dev, *cmd;

    ferry_controller_opts_init(&o);
    assert_int_equal(ctl_guest_kube_job(&o, vm, claims, block, &job), 0);
    ctr = json_object_array_get_idx(ferry_json_get(job, "spec.template.spec.containers"), 0);
    cmd = ferry_json_get(ctr, "command");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, 5)),
                        "/disks/1/disk.img");
    assert_int_equal(json_object_array_length(ferry_json_get(ctr, "volumeMounts")), 1);
    dev = json_object_array_get_idx(ferry_json_get(ctr, "volumeDevices"), 0);
    assert_string_equal(ferry_json_get_string(dev, "devicePath"), "/disks/1/disk.img");
    assert_int_equal(json_object_array_length(ferry_json_get(job, "spec.template.spec.volumes")),
                     2);
}

static void
test_kube_job_complete(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vm = NULL;

    kube_job_started(fx);
    test_job_pod(fx->c, "guestconv-vm", "guestconv-vm-a", "Running", 0, NULL);
    reconcile(fx);
    assert_false(vmi_exists(fx));
    test_job_pod(fx->c, "guestconv-vm", "guestconv-vm-a", "Succeeded", 0,
                 "result: converted\nguest: linux test 1.0\n"
                 "changed: /etc/fstab: /dev/sda1 -> UUID=1\nchanged: initramfs rebuilt\n");
    test_job_status(fx->c, "guestconv-vm", 1, 0, "Complete");
    assert_converted(fx);
}

static void
test_kube_job_failed(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vm = NULL;
    json_object *f;

    kube_job_started(fx);
    for (int i = 0; i < 3; i++) {
        FERRY_AUTOFREE char *pod = ferry_printf("guestconv-vm-%d", i);

        test_job_pod(fx->c, "guestconv-vm", pod, "Failed", 1,
                     "result: not converted\nferry-converter: error: no operating system found "
                     "on '/disks/0/disk.img'\n");
    }
    test_job_status(fx->c, "guestconv-vm", 0, 3, "Failed");
    reconcile_until(fx, "GuestConversionFailed");
    assert_false(vmi_exists(fx));
    vm = get_vm(fx);
    assert_string_equal(ferry_obj_annotation(vm, "ferry.io/guest-conversion"),
                        "failed: no operating system found on '/disks/0/disk.img'");
    f = ferry_condition_get(vm, "Failure");
    assert_non_null(f);
    assert_string_equal(ferry_json_get_string(f, "reason"), "GuestConversionFailed");
    for (int i = 0; i < 3; i++)
        reconcile(fx);
    assert_false(vmi_exists(fx));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_report),
        cmocka_unit_test_setup_teardown(test_no_annotation_starts_at_once, setup,
                                        test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_converted_then_started, setup, test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_start_request_waits, setup, test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_failure_is_final, setup, test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_crash_retried_then_failed, setup, test_ctl_teardown),
        cmocka_unit_test(test_kube_job_block),
        cmocka_unit_test_setup_teardown(test_kube_job_created, setup_kube, test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_kube_job_complete, setup_kube, test_ctl_teardown),
        cmocka_unit_test_setup_teardown(test_kube_job_failed, setup_kube, test_ctl_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
