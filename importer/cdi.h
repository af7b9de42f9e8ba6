/* CDI's importer pod contract (cdi.c) and its progress metric over HTTPS
 * (metrics.c). */
#ifndef FERRY_IMPORTER_CDI_H
#define FERRY_IMPORTER_CDI_H

#include <stdbool.h>

/* Is this run CDI's importer pod: IMPORTER_SOURCE in the environment and
 * no arguments but klog's (-v=N, -logtostderr ...)? */
bool ferry_cdi_mode(int argc, char **argv);
/* Import as CDI's importer does, from the IMPORTER_* environment; returns
 * CDI's exit code (0, also for a checksum mismatch; 1 for other errors). */
int ferry_cdi_main(int argc, char **argv);

/* An HTTPS server on ADDR:PORT (one thread, a self-signed certificate made
 * here, CN cloner_target) answering GET /metrics with
 *   kubevirt_cdi_import_progress_total{ownerUID="OWNER"} PERCENT
 * (Prometheus text format).  -1 with an error when it cannot listen. */
int ferry_metrics_start(const char *addr, int port, const char *owner_uid);
/* The percentage served; it only ever grows (a counter), at most 100. */
void ferry_metrics_set_progress(double percent);
double ferry_metrics_progress(void);
/* Stop serving (joins the thread). */
void ferry_metrics_stop(void);

#endif
