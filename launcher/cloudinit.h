/* cloud-init data sources as ISO9660 images: NoCloud ("cidata": user-data,
 * meta-data, network-config) and ConfigDrive ("config-2":
 * openstack/latest/{user_data,meta_data.json,network_data.json}), the two
 * KubeVirt offers, written with libarchive's ISO9660 writer. */
#ifndef FERRY_LAUNCHER_CLOUDINIT_H
#define FERRY_LAUNCHER_CLOUDINIT_H

#include <json-c/json.h>
#include <stdbool.h>

/* source: the cloudInitNoCloud / cloudInitConfigDrive object of the volume;
 * vmi gives instance id (metadata.uid) and hostname (metadata.name).  The
 * file is written atomically. */
int ferry_cloudinit_write_iso(const char *path, bool configdrive, json_object *source,
                              json_object *vmi);

#endif
