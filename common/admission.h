/* Admission: what KubeVirt's and CDI's webhooks do before an object is
 * stored.  Validation against the OpenAPI (Swagger 2.0) definitions the
 * projects publish (unknown fields, types, required fields), KubeVirt's and
 * CDI's own rules (running and runStrategy not both; every disk names a
 * volume and a volume is used at most once; one DataVolume source; DNS-1123
 * names; quantities parse), then defaulting as current KubeVirt does it.
 *
 * The store calls it on create and update (the sqlite driver; the kube
 * driver leaves it to the real webhooks); callers may also call it directly,
 * e.g. `ferry apply --dry-run`.
 *
 * Error messages read like the API server's:
 *   The VirtualMachine "web01" is invalid: spec.template.spec.domain.devices.disks[1].name: Not found: "data"
 *   The VirtualMachine "x" is invalid: [spec.running: Invalid value: ..., spec.template...: Required value]
 *
 * Defaults (kubevirt pkg/defaults, with Ferry as the "cluster configuration"):
 *   VirtualMachine (create and update), its spec.template.spec only:
 *     architecture "amd64", domain.machine.type "q35".  Nothing else: the
 *     VMI defaults are applied when the VMI is created from the template.
 *   VirtualMachineInstance (create):
 *     architecture amd64; machine.type q35; cpu.model "host-model"; when
 *     cpu has no topology: sockets = cpu limit | cpu request (rounded up) | 1,
 *     cores = threads = 1; requests.cpu = limits.cpu when only the limit is
 *     given; memory.guest = requests.memory | limits.memory | hugepages
 *     pageSize; a disk (bus sata, KubeVirt's amd64 default) for every volume
 *     without one; disk/cdrom/lun bus "sata" where not given; cdrom readonly
 *     true, tray closed; no interfaces and no networks (and
 *     autoattachPodInterface not false) -> network "default" {pod: {}} and
 *     interface "default" {masquerade: {}} (KubeVirt's own default binding
 *     is bridge, which needs a pod network: masquerade is what works here);
 *     containerDisk imagePullPolicy Always for :latest/untagged images, else
 *     IfNotPresent; firmware.uuid random; features: {} and enabled: true in
 *     each feature given; clock timers present: true; inputs usb/tablet;
 *     watchdog i6300esb action reset; probe timings; status.memory
 *     (guestAtBoot/Current/Requested) and status.currentCPUTopology.
 *   VMI update: the spec may not change ("spec: Forbidden: update of VMI
 *     object is restricted"); metadata may.  An update re-sending the spec as
 *     first written (undefaulted) is taken as unchanged.
 *   spec.instancetype and spec.preference references are accepted and not
 *     expanded (Ferry serves no instancetypes): the template must carry what
 *     the VMI needs; KubeVirt's own csmall examples do.
 *   DataVolume: no defaults (contentType empty means kubevirt); the spec may
 *     not change on update ("Cannot update DataVolume Spec").
 *
 * The OpenAPI documents (kubevirt-swagger.json and cdi-swagger.json) are
 * read at the first call from $FERRY_OPENAPI_DIR, else <prefix>/share/ferry/
 * openapi beside the running program (<prefix>/bin; cmake --install puts them
 * there), else the source tree's deploy/openapi (a build-tree program), else
 * the configured install prefix's, else /usr/share/ferry/openapi. */
#ifndef FERRY_ADMISSION_H
#define FERRY_ADMISSION_H

#include <json-c/json.h>
#include <stdbool.h>

/* Validate and default obj in place, all feature gates off.  old is the
 * stored object on update (NULL on create).  Kinds other than VirtualMachine,
 * VirtualMachineInstance and DataVolume pass untouched.  -1 and a
 * FERRY_ERR_INVALID error with the API server's message when refused. */
int ferry_admission_admit(json_object *obj, bool is_create, json_object *old);

/* Feature gates as KubeVirt's (off unless listed): "HostDisk" (hostDisk
 * volumes), "Sidecar" (the hooks.kubevirt.io/hookSidecars annotation).
 * They live in the store's KubeVirt CR (kubevirt.io/v1 KubeVirt,
 * spec.configuration.developerConfiguration.featureGates), which
 * `ferry up --feature-gates` writes; the store reads it for every create and
 * update (ferry_store_admit() for callers outside the store). */
struct ferry_admission_config {
    char **feature_gates; /* NULL-terminated, or NULL */
};
int ferry_admission_admit_config(json_object *obj, bool is_create, json_object *old,
                                 const struct ferry_admission_config *cfg);
void ferry_admission_config_from_kubevirt(json_object *kv, struct ferry_admission_config *ret);
void ferry_admission_config_release(struct ferry_admission_config *cfg);

/* Only the validation (no defaults written); same messages. */
int ferry_admission_validate(json_object *obj, bool is_create, json_object *old);

#endif
