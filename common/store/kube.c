/* The "kube" store driver: the Kubernetes API over HTTPS (libcurl), for when
 * one machine is not enough.  Not implemented yet: opening it says so, so
 * that "kube:" fails cleanly instead of falling back to a local database. */
#include "common/store/driver.h"
#include "common/error.h"

int
ferry_kube_open(const char *arg, struct ferry_store **ret)
{
    return ferry_error(FERRY_ERR_UNSUPPORTED, "store 'kube:%s': kube driver not implemented",
                       arg ? arg : "");
}
