/* Progress reporting.  A thread wakes a few times a second and reports the
 * current phase from an atomic counter, so the workers never wait on a
 * terminal or a pipe.  JSON mode writes one object a line on stdout (the
 * controller reads them):
 *   {"phase":"converting","bytes_done":N,"bytes_total":N,"rate":BYTES_PER_S}
 *   {"phase":"done","virtual_size":N,"data_bytes":N,"format":"qcow2","seconds":S}
 * Bar mode draws percent, rate and ETA on stderr. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "importer/importer.h"

struct ferry_progress {
    enum ferry_progress_mode mode;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    const char *phase;
    uint64_t total;
    uint64_t own;                  /* the counter when none is given */
    uint64_t *counter;
    uint64_t phase_start_ns, start_ns;
    uint64_t last_bytes, last_ns;
    double rate;
    bool bar_drawn;
};

static void (*observer)(const char *phase, uint64_t done, uint64_t total);

void
ferry_progress_set_observer(void (*fn)(const char *phase, uint64_t done, uint64_t total))
{
    observer = fn;
}

static void
report(struct ferry_progress *p, bool final)
{
    uint64_t now = ferry_now_ns();
    uint64_t done = __atomic_load_n(p->counter, __ATOMIC_RELAXED);
    double dt = (now - p->last_ns) / 1e9;

    if (dt > 0.05) {
        double inst = (done - p->last_bytes) / dt;
        p->rate = p->rate == 0 ? inst : 0.5 * p->rate + 0.5 * inst;
        p->last_bytes = done;
        p->last_ns = now;
    }
    if (!p->phase)
        return;
    if (observer)
        observer(p->phase, done, p->total);
    if (p->mode == FERRY_PROGRESS_JSON) {
        printf("{\"phase\":\"%s\",\"bytes_done\":%llu,\"bytes_total\":%llu,\"rate\":%llu}\n",
               p->phase, (unsigned long long)done, (unsigned long long)p->total,
               (unsigned long long)p->rate);
        fflush(stdout);
    } else if (p->mode == FERRY_PROGRESS_BAR) {
        char bar[31];
        double frac = p->total ? (double)done / p->total : 0;
        FERRY_AUTOFREE char *rate = ferry_size_human((uint64_t)p->rate);
        char eta[32] = "--:--";

        if (frac > 1)
            frac = 1;
        for (int i = 0; i < 30; i++)
            bar[i] = i < (int)(frac * 30) ? '#' : '.';
        bar[30] = '\0';
        if (p->total && p->rate > 0) {
            uint64_t s = (p->total - (done < p->total ? done : p->total)) / p->rate;
            snprintf(eta, sizeof(eta), "%llu:%02llu", (unsigned long long)(s / 60),
                     (unsigned long long)(s % 60));
        }
        fprintf(stderr, "\r%-10s [%s] %3.0f%%  %s/s  ETA %s\033[K", p->phase, bar, frac * 100,
                rate, eta);
        fflush(stderr);
        p->bar_drawn = true;
    }
    (void)final;
}

static void *
progress_thread(void *opaque)
{
    struct ferry_progress *p = opaque;
    long interval_ms = p->mode == FERRY_PROGRESS_JSON ? 1000 : 250;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += interval_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (!p->stop)
            report(p, false);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct ferry_progress *
ferry_progress_new(enum ferry_progress_mode mode)
{
    struct ferry_progress *p = ferry_calloc(1, sizeof(*p));

    if (mode == FERRY_PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? FERRY_PROGRESS_BAR : FERRY_PROGRESS_JSON;
    p->mode = mode;
    p->counter = &p->own;
    p->start_ns = ferry_now_ns();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (mode != FERRY_PROGRESS_NONE)
        p->running = pthread_create(&p->thread, NULL, progress_thread, p) == 0;
    return p;
}

void
ferry_progress_phase(struct ferry_progress *p, const char *phase, uint64_t total,
                     uint64_t *counter)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->phase && p->mode != FERRY_PROGRESS_NONE &&
        __atomic_load_n(p->counter, __ATOMIC_RELAXED) != p->last_bytes)
        report(p, true);   /* the last state of the previous phase */
    p->phase = phase;
    p->total = total;
    p->counter = counter ? counter : &p->own;
    p->own = 0;
    p->rate = 0;
    p->phase_start_ns = p->last_ns = ferry_now_ns();
    p->last_bytes = __atomic_load_n(p->counter, __ATOMIC_RELAXED);
    if (p->mode != FERRY_PROGRESS_NONE)
        report(p, false);
    pthread_mutex_unlock(&p->lock);
}

void
ferry_progress_add(struct ferry_progress *p, uint64_t n)
{
    if (p)
        __atomic_add_fetch(&p->own, n, __ATOMIC_RELAXED);
}

static void
progress_stop(struct ferry_progress *p)
{
    if (!p->running)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    p->running = false;
}

void
ferry_progress_done(struct ferry_progress *p, uint64_t virtual_size, uint64_t data_bytes,
                    const char *format, const char *dest)
{
    double seconds = (ferry_now_ns() - p->start_ns) / 1e9;

    progress_stop(p);
    if (p->mode == FERRY_PROGRESS_JSON) {
        printf("{\"phase\":\"done\",\"virtual_size\":%llu,\"data_bytes\":%llu,"
               "\"format\":\"%s\",\"seconds\":%.3f}\n",
               (unsigned long long)virtual_size, (unsigned long long)data_bytes, format, seconds);
        fflush(stdout);
    } else if (p->mode == FERRY_PROGRESS_BAR) {
        FERRY_AUTOFREE char *vs = ferry_size_human(virtual_size);
        FERRY_AUTOFREE char *db = ferry_size_human(data_bytes);
        if (p->bar_drawn)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "ferry-importer: wrote %s: %s %s disk, %s of data, in %.2f s\n", dest,
                vs, format, db, seconds);
    }
    p->phase = NULL;
}

void
ferry_progress_free(struct ferry_progress *p)
{
    if (!p)
        return;
    progress_stop(p);
    if (p->bar_drawn && p->phase)
        fprintf(stderr, "\n");
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
