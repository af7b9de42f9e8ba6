/* cloud-init ISO images (see cloudinit.h).  KubeVirt's layout: NoCloud puts
 * user-data, meta-data (instance-id, local-hostname) and network-config at
 * the root of a volume labelled "cidata"; ConfigDrive puts user_data,
 * meta_data.json (uuid, hostname, name) and network_data.json under
 * openstack/latest on "config-2".  userData wins over userDataBase64 only
 * when both are given KubeVirt refuses; so do we. */
#include "launcher/cloudinit.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct archive ferry_archive_w;
FERRY_DEFINE_AUTOPTR(ferry_archive_w, archive_write_free)

static int
b64_decode(const char *in, const char *what, char **ret, size_t *ret_len)
{
    size_t n = strlen(in);
    unsigned char *out = ferry_malloc(n + 4);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int len = 0, fin = 0;

    if (!ctx)
        ferry_oom();
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, out, &len, (const unsigned char *)in, (int)n) < 0 ||
        EVP_DecodeFinal(ctx, out + len, &fin) < 0) {
        EVP_ENCODE_CTX_free(ctx);
        free(out);
        return ferry_error(FERRY_ERR_INVALID, "%s: not valid base64", what);
    }
    EVP_ENCODE_CTX_free(ctx);
    out[len + fin] = '\0';
    *ret = (char *)out;
    *ret_len = (size_t)(len + fin);
    return 0;
}

/* Plain KEY or KEYBase64 of the source; *ret NULL when neither is set. */
static int
get_data(json_object *src, const char *key, char **ret, size_t *ret_len)
{
    FERRY_AUTOFREE char *b64key = ferry_printf("%sBase64", key);
    const char *plain = ferry_json_get_string(src, key);
    const char *b64 = ferry_json_get_string(src, b64key);

    *ret = NULL;
    *ret_len = 0;
    if (plain && b64)
        return ferry_error(FERRY_ERR_INVALID, "cloud-init: %s and %s are both set; use one", key,
                           b64key);
    if (plain) {
        *ret = ferry_strdup(plain);
        *ret_len = strlen(plain);
        return 0;
    }
    if (b64)
        return b64_decode(b64, b64key, ret, ret_len);
    return 0;
}

static int
add_entry(struct archive *a, const char *name, const char *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    int r;

    archive_entry_set_pathname(e, name);
    archive_entry_set_mtime(e, 0, 0);
    if (data) {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)len);
    } else {
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
    }
    r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return ferry_error(FERRY_ERR_IO, "cloud-init ISO: entry '%s': %s", name, archive_error_string(a));
    if (data && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
        return ferry_error(FERRY_ERR_IO, "cloud-init ISO: writing '%s': %s", name,
                           archive_error_string(a));
    return 0;
}

int
ferry_cloudinit_write_iso(const char *path, bool configdrive, json_object *source, json_object *vmi)
{
    FERRY_AUTOFREE char *user = NULL, *net = NULL, *meta = NULL, *tmp = NULL;
    size_t user_len, net_len;
    FERRY_AUTOPTR(ferry_archive_w) a = NULL;
    const char *uid = ferry_obj_uid(vmi);
    const char *name = ferry_obj_name(vmi);
    FERRY_AUTOCLOSE int fd = -1;

    if (get_data(source, "userData", &user, &user_len) < 0 ||
        get_data(source, "networkData", &net, &net_len) < 0)
        return -1;
    if (!uid)
        uid = name;
    if (configdrive) {
        FERRY_AUTOPTR(json_object) md = json_object_new_object();
        json_object_object_add(md, "uuid", json_object_new_string(uid));
        json_object_object_add(md, "hostname", json_object_new_string(name));
        json_object_object_add(md, "name", json_object_new_string(name));
        meta = ferry_json_to_string(md, true);
    } else {
        meta = ferry_printf("instance-id: %s\nlocal-hostname: %s\n", uid, name);
    }

    tmp = ferry_printf("%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cloud-init ISO '%s'", tmp);
    fchmod(fd, 0644);
    a = archive_write_new();
    if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
        archive_write_set_option(a, "iso9660", "volume-id", configdrive ? "config-2" : "cidata") !=
            ARCHIVE_OK ||
        archive_write_set_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
        archive_write_set_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_IO, "cloud-init ISO '%s': %s", path, archive_error_string(a));
        goto fail;
    }
    if (configdrive) {
        if (add_entry(a, "openstack", NULL, 0) < 0 || add_entry(a, "openstack/latest", NULL, 0) < 0 ||
            add_entry(a, "openstack/latest/meta_data.json", meta, strlen(meta)) < 0 ||
            (user && add_entry(a, "openstack/latest/user_data", user, user_len) < 0) ||
            (net && add_entry(a, "openstack/latest/network_data.json", net, net_len) < 0))
            goto fail;
    } else {
        if (add_entry(a, "meta-data", meta, strlen(meta)) < 0 ||
            add_entry(a, "user-data", user ? user : "", user ? user_len : 0) < 0 ||
            (net && add_entry(a, "network-config", net, net_len) < 0))
            goto fail;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_IO, "cloud-init ISO '%s': %s", path, archive_error_string(a));
        goto fail;
    }
    if (fsync(fd) < 0 || rename(tmp, path) < 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "cloud-init ISO '%s'", path);
        goto fail;
    }
    return 0;
fail:
    unlink(tmp);
    return -1;
}
