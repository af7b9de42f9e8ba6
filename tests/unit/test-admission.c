/* Admission as KubeVirt's and CDI's webhooks and the API server do it: every
 * VirtualMachine, VirtualMachineInstance and DataVolume in the projects' own
 * examples is accepted; the defaults are those of kubevirt pkg/defaults; the
 * refusals read exactly like the API server's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testlib.h"

#include "common/admission.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "common/yaml.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The projects' example manifests, copied into the tree unchanged. */
#define EXAMPLES_DIR FERRY_SOURCE_DIR "/tests/admission/examples"

/* Kinds that are not VM, VMI or DV pass admission untouched (the CLI refuses
 * them by name); none of the examples needs a skip list today.  An entry
 * here is "file: reason". */
static const char *const skipped_examples[] = { NULL };

static void
admit_dir(const char *dir, int *ret_checked)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        fail_msg("%s: missing", dir);
    while ((de = readdir(d))) {
        FERRY_AUTOFREE char *path = NULL;
        FERRY_AUTOPTR(json_object) docs = NULL;
        bool skip = false;

        if (!ferry_str_has_suffix(de->d_name, ".yaml"))
            continue;
        for (size_t i = 0; skipped_examples[i]; i++)
            skip |= ferry_str_has_prefix(skipped_examples[i], de->d_name);
        if (skip)
            continue;
        path = ferry_printf("%s/%s", dir, de->d_name);
        if (ferry_yaml_parse_file(path, &docs) < 0)
            fail_msg("%s: %s", path, ferry_error_message());
        for (size_t i = 0; i < json_object_array_length(docs); i++) {
            json_object *o = json_object_array_get_idx(docs, i);
            const char *kind = ferry_json_get_string(o, "kind");

            /* the examples come from a cluster with the gates they need on */
            static char *gates[] = { "HostDisk", "Sidecar", NULL };
            static const struct ferry_admission_config all_on = { .feature_gates = gates };

            if (ferry_admission_admit_config(o, true, NULL, &all_on) < 0)
                fail_msg("%s: %s refused: %s", path, kind, ferry_error_message());
            if (ferry_str_eq(kind, "VirtualMachine") || ferry_str_eq(kind, "DataVolume") ||
                ferry_str_eq(kind, "VirtualMachineInstance"))
                (*ret_checked)++;
        }
    }
    closedir(d);
}

static void
test_examples(void **state)
{
    int checked = 0;

    admit_dir(EXAMPLES_DIR "/kubevirt", &checked);
    admit_dir(EXAMPLES_DIR "/cdi", &checked);
    print_message("# %d example objects admitted\n", checked);
    assert_true(checked >= 40);
}

static void
expect_refusal(const char *manifest, const char *message)
{
    FERRY_AUTOPTR(json_object) o = test_yaml(manifest);

    if (ferry_admission_admit(o, true, NULL) == 0)
        fail_msg("admitted, expected: %s", message);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_string_equal(ferry_error_message(), message);
}

/* expect_refusal of a MANIFEST and MESSAGE the test printed, freed here. */
static void
expect_refusal_free(char *manifest, char *message)
{
    expect_refusal(manifest, message);
    free(manifest);
    free(message);
}

#define VM_HEAD                                                                                \
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: web01\nspec:\n"

static void
test_vm_messages(void **state)
{
    /* the example: a disk naming a volume that is not there */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n"
                           "  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n"
                           "        devices:\n          disks:\n"
                           "          - {name: root, disk: {bus: virtio}}\n"
                           "          - {name: data, disk: {}}\n"
                           "      volumes:\n      - {name: root, containerDisk: {image: x}}\n",
                   "The VirtualMachine \"web01\" is invalid: spec.template.spec.domain.devices."
                   "disks[1].name: Not found: \"data\"");

    /* several causes: in brackets, joined with ", " */
    expect_refusal(VM_HEAD "  running: true\n  runStrategy: Always\n"
                           "  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n"
                           "        devices:\n          disks:\n"
                           "          - {name: root}\n          - {name: root}\n"
                           "      volumes:\n      - {name: root, containerDisk: {image: x}}\n",
                   "The VirtualMachine \"web01\" is invalid: [spec.running: Invalid value: true: "
                   "Running and RunStrategy are mutually exclusive. Note that Running is "
                   "deprecated, please use RunStrategy instead, spec.template.spec.domain.devices."
                   "disks[1].name: Duplicate value: \"root\"]");

    expect_refusal(VM_HEAD "  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n        devices: {}\n",
                   "The VirtualMachine \"web01\" is invalid: spec.running: Required value: "
                   "RunStrategy must be specified");

    expect_refusal(VM_HEAD "  runStrategy: Sometimes\n  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n        devices: {}\n",
                   "The VirtualMachine \"web01\" is invalid: spec.runStrategy: Unsupported "
                   "value: \"Sometimes\": supported values: \"Always\", \"RerunOnFailure\", "
                   "\"Halted\", \"Manual\", \"Once\", \"WaitAsReceiver\"");

    /* a volume used twice and a volume with two sources */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n        devices: {}\n"
                           "      volumes:\n"
                           "      - {name: a, containerDisk: {image: x}, emptyDisk: {capacity: 1Gi}}\n"
                           "      - {name: a, emptyDisk: {capacity: 1Gi}}\n",
                   "The VirtualMachine \"web01\" is invalid: [spec.template.spec.volumes[1].name: "
                   "Duplicate value: \"a\", spec.template.spec.volumes[0]: Invalid value: "
                   "\"containerDisk, emptyDisk\": must have exactly one source type set]");

    /* an interface naming no network; masquerade off the pod network */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n"
                           "        devices:\n          interfaces:\n"
                           "          - {name: default, masquerade: {}}\n"
                           "          - {name: other, bridge: {}}\n"
                           "      networks:\n      - {name: default, multus: {networkName: x}}\n",
                   "The VirtualMachine \"web01\" is invalid: [spec.template.spec.domain.devices."
                   "interfaces[0].masquerade: Forbidden: Masquerade interface only implemented "
                   "with pod network, spec.template.spec.domain.devices.interfaces[1].name: Not "
                   "found: \"other\"]");

    /* device enums KubeVirt checks in its webhook; secure boot needs SMM */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n"
                           "        firmware: {bootloader: {efi: {}}}\n"
                           "        devices:\n          disks:\n"
                           "          - {name: root, cache: unsafe}\n"
                           "          interfaces:\n          - {name: default, model: vmxnet3, masquerade: {}}\n"
                           "      networks: [{name: default, pod: {}}]\n"
                           "      volumes:\n      - {name: root, containerDisk: {image: x}}\n",
                   "The VirtualMachine \"web01\" is invalid: [spec.template.spec.domain.devices."
                   "disks[0].cache: Unsupported value: \"unsafe\": supported values: \"none\", "
                   "\"writethrough\", \"writeback\", spec.template.spec.domain.devices."
                   "interfaces[0].model: Unsupported value: \"vmxnet3\": supported values: "
                   "\"e1000\", \"e1000e\", \"igb\", \"ne2k_pci\", \"pcnet\", \"rtl8139\", "
                   "\"virtio\", spec.template.spec.domain.firmware.bootloader.efi.secureBoot: "
                   "Invalid value: true: spec.template.spec has EFI SecureBoot enabled. SecureBoot "
                   "requires SMM, which is currently disabled.]");

    /* memory must be said */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        devices: {}\n",
                   "The VirtualMachine \"web01\" is invalid: spec.template.spec.domain.resources."
                   "requests.memory: Required value: no memory requested, at least one of "
                   "'spec.template.spec.domain.memory.guest', 'spec.template.spec.domain.memory."
                   "hugepages.size' or 'spec.template.spec.domain.resources.requests.memory' must "
                   "be set");

    /* DNS-1123 names */
    expect_refusal("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: Web_01\n"
                   "spec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                   "        memory: {guest: 1Gi}\n        devices: {}\n",
                   "The VirtualMachine \"Web_01\" is invalid: metadata.name: Invalid value: "
                   "\"Web_01\": a lowercase RFC 1123 subdomain must consist of lower case "
                   "alphanumeric characters, '-' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");

    /* labels as the API server checks them */
    expect_refusal("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: web01\n"
                   "  labels: {app: 'web server'}\n"
                   "spec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                   "        memory: {guest: 1Gi}\n        devices: {}\n",
                   "The VirtualMachine \"web01\" is invalid: metadata.labels: Invalid value: "
                   "\"web server\": a valid label must be an empty string or consist of "
                   "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
                   "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");

    /* dataVolumeTemplates must be used */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n"
                           "  dataVolumeTemplates:\n  - metadata: {name: root}\n"
                           "    spec:\n      source: {blank: {}}\n"
                           "      storage: {resources: {requests: {storage: 1Gi}}}\n"
                           "  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n        devices: {}\n",
                   "The VirtualMachine \"web01\" is invalid: spec.dataVolumeTemplates[0]: "
                   "Required value: DataVolumeTemplate entry spec.dataVolumeTemplates[0] must be "
                   "referenced in the VMI template's 'volumes' list");
}

static void
test_schema_messages(void **state)
{
    /* types and quantities, all causes at once */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        cpu: {cores: two}\n"
                           "        resources: {requests: {memory: 1.5.Gi}}\n"
                           "        devices: {autoattachSerialConsole: yes please}\n",
                   "The VirtualMachine \"web01\" is invalid: [spec.template.spec.domain.cpu.cores: "
                   "Invalid value: \"string\": spec.template.spec.domain.cpu.cores in body must "
                   "be of type integer: \"two\", "
                   "spec.template.spec.domain.resources.requests.memory: Invalid value: "
                   "\"1.5.Gi\": quantities must match the regular expression "
                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', spec.template.spec.domain.devices."
                   "autoattachSerialConsole: Invalid value: \"string\": spec.template.spec.domain."
                   "devices.autoattachSerialConsole in body must be of type boolean: \"yes please\"]");

    /* required fields */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n",
                   "The VirtualMachine \"web01\" is invalid: spec.template: Required value");

    /* unknown fields: strict decoding, as kubectl apply's default */
    expect_refusal(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                           "        memory: {guest: 1Gi}\n        devices: {disk: []}\n"
                           "        cpus: 2\n",
                   "VirtualMachine in version \"v1\" cannot be handled as a VirtualMachine: "
                   "strict decoding error: unknown field \"spec.template.spec.domain.devices.disk\", "
                   "unknown field \"spec.template.spec.domain.cpus\"");
}

#define DV_HEAD                                                                                \
    "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n  name: disk0\nspec:\n"

static void
test_dv_messages(void **state)
{
    expect_refusal(DV_HEAD "  source:\n    http: {url: 'http://x/a.img'}\n    blank: {}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source: Invalid value: \"blank, "
                   "http\": Multiple Data volume sources");
    expect_refusal(DV_HEAD "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source: Required value: Data "
                   "volume should have either Source, SourceRef, or be externally populated");
    expect_refusal(DV_HEAD "  source: {http: {url: invalidURL}}\n"
                           "  contentType: iso\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: [spec.contentType: Unsupported value: "
                   "\"iso\": supported values: \"kubevirt\", \"archive\", spec.source.http.url: "
                   "Invalid value: \"invalidURL\": Invalid source URL]");
    expect_refusal(DV_HEAD "  source: {blank: {}}\n",
                   "The DataVolume \"disk0\" is invalid: spec: Required value: Missing Data "
                   "volume PVC or Storage");
    expect_refusal(DV_HEAD "  source: {blank: {}}\n"
                           "  storage: {resources: {requests: {storage: 10 gigs}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.storage.resources.requests.storage: "
                   "Invalid value: \"10 gigs\": quantities must match the regular expression "
                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

/* Every URL source with every foreign scheme: CDI fetches them over http(s)
 * (gcs also gs://), registry images with docker:// or oci-archive://. */
static void
test_dv_source_schemes(void **state)
{
    static const char *const sources[] = { "http", "s3", "gcs", "imageio", "vddk" };
    static const char *const foreign[] = { "file:///etc/passwd", "ftp://h/a.img",
                                           "FILE:///etc/shadow", "gopher://h/x",
                                           "docker://quay.io/x", "data://x" };

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(sources); i++)
        for (size_t j = 0; j < FERRY_ARRAY_SIZE(foreign); j++) {
            FERRY_AUTOFREE char *m = ferry_printf(
                DV_HEAD "  source: {%s: {url: '%s'%s}}\n"
                        "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                sources[i], foreign[j],
                strcmp(sources[i], "imageio") == 0
                    ? ", diskId: d, secretRef: s, certConfigMap: c"
                    : strcmp(sources[i], "vddk") == 0
                          ? ", uuid: u, backingFile: '[ds] a.vmdk', thumbprint: t, secretRef: s"
                          : "");
            FERRY_AUTOFREE char *want = ferry_printf(
                "The DataVolume \"disk0\" is invalid: spec.source.%s.url: Invalid source URL "
                "scheme: %s", sources[i], foreign[j]);
            expect_refusal(m, want);
        }
    /* CDI's: imageio needs its secret, CA and disk; vddk its secret, VM and disk */
    expect_refusal(DV_HEAD "  source: {imageio: {url: 'https://e/ovirt-engine/api', diskId: d, "
                           "secretRef: s}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source.Imageio source Imageio is not "
                   "valid");
    expect_refusal(DV_HEAD "  source: {vddk: {url: 'https://esxi/sdk', secretRef: s}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source.VDDK source VDDK is not valid");
    expect_refusal(DV_HEAD "  source: {http: {url: '/etc/passwd'}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source.http.url: Invalid value: "
                   "\"/etc/passwd\": Invalid source URL");
    expect_refusal(DV_HEAD "  source: {registry: {url: 'file:///var/lib/x.tar'}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source.registry.url: Invalid value: "
                   "\"file:///var/lib/x.tar\": Illegal registry source URL scheme");
    expect_refusal(DV_HEAD "  source: {http: {url: ''}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   "The DataVolume \"disk0\" is invalid: spec.source.http.url: Required value: "
                   "source URL is empty");
    /* and what CDI takes */
    {
        FERRY_AUTOPTR(json_object) ok = test_yaml(DV_HEAD "  source: {gcs: {url: 'gs://b/o.img'}}\n"
                                             "  storage: {resources: {requests: {storage: 1Gi}}}\n");
        assert_int_equal(ferry_admission_admit(ok, true, NULL), 0);
    }
}

#define VMI_HEAD                                                                               \
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: v\nspec:\n"
#define VMI_INVALID "The VirtualMachineInstance \"v\" is invalid: "
#define DV_INVALID "The DataVolume \"disk0\" is invalid: "

/* What CDI and KubeVirt refuse and Ferry used to take (issue 12, item 4). */
static void
test_admission_gaps(void **state)
{
    /* DataVolume sizes */
    expect_refusal(DV_HEAD "  source: {blank: {}}\n"
                           "  storage: {resources: {requests: {storage: -1Gi}}}\n",
                   DV_INVALID "spec.storage.resources.requests.storage: Invalid value: \"-1Gi\": "
                   "Storage size can't be equal or less than zero");
    expect_refusal(DV_HEAD "  source: {blank: {}}\n"
                           "  pvc: {resources: {requests: {storage: '0'}}}\n",
                   DV_INVALID "spec.pvc.resources.requests.storage: Invalid value: \"0\": "
                   "PVC size can't be equal or less than zero");
    expect_refusal(DV_HEAD "  source: {http: {url: 'http://h/a.img'}}\n"
                           "  storage: {}\n",
                   DV_INVALID "spec.storage.resources.requests.storage: Required value: Storage "
                   "size is missing");
    /* checksums */
    expect_refusal(DV_HEAD "  source: {http: {url: 'http://h/a.img', checksum: 'crc32:abcd'}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   DV_INVALID "spec.source.http.checksum: Unsupported value: \"crc32\": supported "
                   "values: \"md5\", \"sha1\", \"sha256\", \"sha512\"");
    expect_refusal(DV_HEAD "  source: {http: {url: 'http://h/a.img', checksum: 'sha256:xyz'}}\n"
                           "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   DV_INVALID "spec.source.http.checksum: Invalid value: \"sha256:xyz\": invalid "
                   "sha256 hash: must be 64 hexadecimal characters");
    /* VMI memory and cpu */
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n"
                            "    resources: {requests: {memory: -64Mi}}\n",
                   VMI_INVALID "spec.domain.resources.requests.memory '-64Mi': must be greater "
                   "than or equal to 0.");
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 1k}\n",
                   VMI_INVALID "spec.domain.memory.guest '1k': must be greater than or equal to "
                   "1M.");
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n"
                            "    resources: {requests: {cpu: '-1'}}\n",
                   VMI_INVALID "spec.domain.resources.requests.cpu '-1': must be greater than "
                   "or equal to 0.");
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n"
                            "    cpu: {cores: -1}\n",
                   VMI_INVALID "json: cannot unmarshal number -1 into Go struct field CPU.spec."
                   "domain.cpu.cores of type uint32");
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n"
                            "    cpu: {cores: 99999999999}\n",
                   VMI_INVALID "json: cannot unmarshal number 99999999999 into Go struct field "
                   "CPU.spec.domain.cpu.cores of type uint32");
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n"
                            "    machine: {type: pc-i440fx-2.5}\n",
                   VMI_INVALID "spec.domain.machine.type is not supported: pc-i440fx-2.5 "
                   "(allowed values: [q35* pc-q35*])");
    /* feature gates, off by default */
    expect_refusal(VMI_HEAD "  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n"
                            "  volumes:\n  - {name: h, hostDisk: {path: /etc/passwd, type: Disk}}\n",
                   VMI_INVALID "spec.volumes[0]: HostDisk feature gate is not enabled"
                   "");
    expect_refusal("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n"
                   "  name: v\n  annotations:\n    hooks.kubevirt.io/hookSidecars: '[]'\n"
                   "spec:\n  domain:\n    devices: {}\n    memory: {guest: 64Mi}\n",
                   VMI_INVALID "metadata.annotations: sidecar feature gate is not enabled in "
                   "kubevirt-config, invalid entry metadata.annotations.hooks.kubevirt.io/"
                   "hookSidecars");
    {
        static char *gates[] = { "HostDisk", "Sidecar", NULL };
        static const struct ferry_admission_config on = { .feature_gates = gates };
        FERRY_AUTOPTR(json_object) kv = test_yaml("apiVersion: kubevirt.io/v1\nkind: KubeVirt\n"
                                             "metadata: {name: kubevirt}\nspec:\n  configuration:\n"
                                             "    developerConfiguration:\n"
                                             "      featureGates: [HostDisk]\n");
        struct ferry_admission_config from_kv = { 0 };
        FERRY_AUTOPTR(json_object) o = test_yaml(VMI_HEAD "  domain:\n    devices: {}\n"
                                            "    memory: {guest: 64Mi}\n  volumes:\n"
                                            "  - {name: h, hostDisk: {path: /x, type: Disk}}\n");
        FERRY_AUTOPTR(json_object) o2 = ferry_json_copy(o);

        assert_int_equal(ferry_admission_admit_config(o, true, NULL, &on), 0);
        ferry_admission_config_from_kubevirt(kv, &from_kv);
        assert_int_equal(ferry_admission_admit_config(o2, true, NULL, &from_kv), 0);
        ferry_admission_config_release(&from_kv);
    }
}

/* The API server's metadata limits (issue 12, item 3). */
static void
test_metadata_limits(void **state)
{
    FERRY_AUTOFREE char *big = ferry_malloc(300 * 1024 + 1);
    FERRY_AUTOFREE char *m = NULL;
    FERRY_AUTOFREE char *longname = ferry_malloc(300);

    memset(big, 'x', 300 * 1024);
    big[300 * 1024] = '\0';
    m = ferry_printf(DV_HEAD "  source: {blank: {}}\n"
                             "  storage: {resources: {requests: {storage: 1Gi}}}\n");
    m[strlen("apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n")] = '\0';
    expect_refusal_free(
        ferry_printf("%s  name: disk0\n  annotations:\n    big: \"%s\"\nspec:\n"
                     "  source: {blank: {}}\n  storage: {resources: {requests: {storage: 1Gi}}}\n",
                     m, big),
        ferry_strdup(DV_INVALID "metadata.annotations: Too long: must have at most 262144 bytes"));
    expect_refusal("apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n"
                   "  name: disk0\n  annotations: {'a/b/c': x}\nspec:\n  source: {blank: {}}\n"
                   "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                   DV_INVALID "metadata.annotations: Invalid value: \"a/b/c\": a qualified name "
                   "must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                   "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                   "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                   "[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. "
                   "'example.com/MyName')");
    memset(longname, 'a', 299);
    longname[64] = '\0';
    expect_refusal_free(
        ferry_printf("apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n"
                     "  name: disk0\n  labels: {%s: x}\nspec:\n  source: {blank: {}}\n"
                     "  storage: {resources: {requests: {storage: 1Gi}}}\n",
                     longname),
        ferry_printf(DV_INVALID "metadata.labels: Invalid value: \"%s\": name part must be no "
                                "more than 63 characters",
                     longname));
    longname[64] = 'a';
    longname[254] = '\0';
    expect_refusal_free(
        ferry_printf("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: %s\n"
                     "spec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
                     "        memory: {guest: 1Gi}\n        devices: {}\n",
                     longname),
        ferry_printf("The VirtualMachine \"%s\" is invalid: metadata.name: Invalid value: "
                     "\"%s\": must be no more than 253 characters",
                     longname, longname));
    /* kinds without their own rules get the metadata checks too */
    expect_refusal("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
                   "  labels: {'-bad': x}\n",
                   "The Namespace \"x\" is invalid: metadata.labels: Invalid value: \"-bad\": "
                   "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                   "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                   "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                   "[A-Za-z0-9]')");
}

static void
test_vm_defaults(void **state)
{
    FERRY_AUTOPTR(json_object) vm = test_yaml(VM_HEAD "  runStrategy: Halted\n  template:\n    spec:\n"
                                                 "      domain:\n        memory: {guest: 1Gi}\n"
                                                 "        devices: {disks: [{name: root}]}\n"
                                                 "      volumes: [{name: root, containerDisk: "
                                                 "{image: x}}]\n");

    assert_int_equal(ferry_admission_admit(vm, true, NULL), 0);
    /* the VM mutator sets only the architecture and the machine type */
    assert_string_equal(ferry_json_get_string(vm, "spec.template.spec.domain.machine.type"), "q35");
    assert_string_equal(ferry_json_get_string(vm, "spec.template.spec.architecture"), "amd64");
    assert_null(ferry_json_get(vm, "spec.template.spec.domain.cpu"));
    assert_null(ferry_json_get(vm, "spec.template.spec.networks"));
}

static void
test_vmi_defaults(void **state)
{
    FERRY_AUTOPTR(json_object) vmi = test_yaml(
        "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: v}\n"
        "spec:\n  domain:\n"
        "    resources: {requests: {memory: 512Mi}, limits: {cpu: 1500m}}\n"
        "    devices:\n      disks:\n      - {name: root}\n      - {name: iso, cdrom: {}}\n"
        "      inputs: [{name: tablet}]\n      watchdog: {name: wd}\n"
        "    features: {acpi: {}}\n"
        "  volumes:\n  - {name: root, containerDisk: {image: 'quay.io/x/y'}}\n"
        "  - {name: iso, containerDisk: {image: 'quay.io/x/z:1.0'}}\n"
        "  - {name: cloudinit, cloudInitNoCloud: {userData: 'x'}}\n");
    FERRY_AUTOPTR(json_object) old = NULL;
    json_object *disks;

    if (ferry_admission_admit(vmi, true, NULL) < 0)
        fail_msg("%s", ferry_error_message());
    assert_string_equal(ferry_json_get_string(vmi, "spec.domain.machine.type"), "q35");
    assert_string_equal(ferry_json_get_string(vmi, "spec.architecture"), "amd64");
    /* topology: sockets from the cpu limit (rounded up), cores = threads = 1 */
    assert_int_equal(ferry_json_get_int(vmi, "spec.domain.cpu.sockets", 0), 2);
    assert_int_equal(ferry_json_get_int(vmi, "spec.domain.cpu.cores", 0), 1);
    assert_int_equal(ferry_json_get_int(vmi, "spec.domain.cpu.threads", 0), 1);
    assert_string_equal(ferry_json_get_string(vmi, "spec.domain.cpu.model"), "host-model");
    assert_string_equal(ferry_json_get_string(vmi, "spec.domain.resources.requests.cpu"), "1500m");
    /* memory guest <- requests; status mirrors it */
    assert_string_equal(ferry_json_get_string(vmi, "spec.domain.memory.guest"), "512Mi");
    assert_string_equal(ferry_json_get_string(vmi, "status.memory.guestAtBoot"), "512Mi");
    assert_int_equal(ferry_json_get_int(vmi, "status.currentCPUTopology.sockets", 0), 2);
    /* disks: SATA on amd64 where no bus is given; cdrom read-only, tray closed;
     * a disk for the volume that had none */
    disks = ferry_json_get(vmi, "spec.domain.devices.disks");
    assert_int_equal(json_object_array_length(disks), 3);
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(disks, 0), "disk.bus"), "sata");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(disks, 1), "cdrom.bus"), "sata");
    assert_true(ferry_json_get_bool(json_object_array_get_idx(disks, 1), "cdrom.readonly", false));
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(disks, 1), "cdrom.tray"), "closed");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(disks, 2), "name"), "cloudinit");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(disks, 2), "disk.bus"), "sata");
    /* the default pod network with a masquerade interface */
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(
                            ferry_json_get(vmi, "spec.networks"), 0), "name"), "default");
    assert_non_null(ferry_json_get(json_object_array_get_idx(ferry_json_get(vmi, "spec.networks"), 0), "pod"));
    assert_non_null(ferry_json_get(json_object_array_get_idx(
        ferry_json_get(vmi, "spec.domain.devices.interfaces"), 0), "masquerade"));
    /* pull policies, firmware uuid, features, inputs, watchdog */
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(
                            ferry_json_get(vmi, "spec.volumes"), 0), "containerDisk.imagePullPolicy"), "Always");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(
                            ferry_json_get(vmi, "spec.volumes"), 1), "containerDisk.imagePullPolicy"), "IfNotPresent");
    assert_int_equal(strlen(ferry_json_get_string(vmi, "spec.domain.firmware.uuid")), 36);
    assert_true(ferry_json_get_bool(vmi, "spec.domain.features.acpi.enabled", false));
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(
                            ferry_json_get(vmi, "spec.domain.devices.inputs"), 0), "bus"), "usb");
    assert_string_equal(ferry_json_get_string(vmi, "spec.domain.devices.watchdog.i6300esb.action"), "reset");

    /* an update of a VMI may not change its spec ... */
    old = ferry_json_copy(vmi);
    ferry_json_set_string(vmi, "spec.domain.machine.type", "pc-q35-8.0");
    assert_int_equal(ferry_admission_admit(vmi, false, old), -1);
    assert_string_equal(ferry_error_message(), "The VirtualMachineInstance \"v\" is invalid: spec: "
                                               "Forbidden: update of VMI object is restricted");
    /* ... but labels may change */
    json_object_put(FERRY_STEAL(vmi));
    vmi = ferry_json_copy(old);
    ferry_json_set_string(vmi, "metadata.labels.a", "b");
    assert_int_equal(ferry_admission_admit(vmi, false, old), 0);
}

/* $FERRY_OPENAPI_DIR overrides where the documents are read from (checked
 * in a child: the documents are loaded once per process). */
static void
test_openapi_override(void **state)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        FERRY_AUTOPTR(json_object) vm = test_yaml(VM_HEAD "  runStrategy: Halted\n");
        setenv("FERRY_OPENAPI_DIR", "/nonexistent-openapi", 1);
        if (ferry_admission_admit(vm, true, NULL) == 0)
            _exit(1);
        _exit(strstr(ferry_error_message(), "/nonexistent-openapi/kubevirt-swagger.json") ? 0 : 2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_openapi_override),
          cmocka_unit_test(test_examples),
          cmocka_unit_test(test_vm_messages),
          cmocka_unit_test(test_schema_messages),
          cmocka_unit_test(test_dv_messages),
          cmocka_unit_test(test_dv_source_schemes),
          cmocka_unit_test(test_admission_gaps),
          cmocka_unit_test(test_metadata_limits),
          cmocka_unit_test(test_vm_defaults),
          cmocka_unit_test(test_vmi_defaults))
