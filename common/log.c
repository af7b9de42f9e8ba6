/* Logging for every program; see log.h. */
#include "common/log.h"
#include "common/error.h"
#include "common/util.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char prog_name[64] = "ferry";
static char *debug_modules; /* ",a,b," */
static bool debug_all;
static int json_mode = -1;  /* -1: decide by isatty */
static bool quiet;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warning", "error" };

void
ferry_log_init(const char *prog)
{
    const char *e;
    const char *slash = strrchr(prog, '/');

    snprintf(prog_name, sizeof prog_name, "%s", slash ? slash + 1 : prog);
    if ((e = getenv("FERRY_DEBUG")) && *e)
        ferry_log_set_debug(e);
    if ((e = getenv("FERRY_LOG_FORMAT"))) {
        if (strcmp(e, "json") == 0)
            json_mode = 1;
        else if (strcmp(e, "text") == 0)
            json_mode = 0;
    }
}

const char *
ferry_log_prog(void)
{
    return prog_name;
}

void
ferry_log_set_debug(const char *modules)
{
    free(debug_modules);
    debug_modules = ferry_printf(",%s,", modules);
    debug_all = strstr(debug_modules, ",all,") != NULL || strcmp(modules, "1") == 0;
}

bool
ferry_log_debug_enabled(const char *module)
{
    const char *p;
    size_t n;

    if (debug_all)
        return true;
    if (!debug_modules || !module)
        return false;
    /* "importer" enables "importer.http" too. */
    n = strlen(module);
    for (p = debug_modules; (p = strchr(p, ',')) && p[1]; p++) {
        const char *q = p + 1;
        size_t m = strcspn(q, ",");

        if (m <= n && strncmp(q, module, m) == 0 && (module[m] == '\0' || module[m] == '.'))
            return true;
    }
    return false;
}

void
ferry_log_set_json(bool json)
{
    json_mode = json;
}

void
ferry_log_set_quiet(bool q)
{
    quiet = q;
}

void
ferry_log(enum ferry_log_level level, const char *module, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    bool json;

    if (level == FERRY_LOG_INFO && quiet)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    json = json_mode >= 0 ? json_mode : !isatty(STDERR_FILENO);
    pthread_mutex_lock(&log_lock);
    if (json) {
        json_object *o = json_object_new_object();
        char *ts = ferry_time_now_micro();

        json_object_object_add(o, "time", json_object_new_string(ts));
        free(ts);
        json_object_object_add(o, "level", json_object_new_string(level_names[level]));
        json_object_object_add(o, "prog", json_object_new_string(prog_name));
        if (module)
            json_object_object_add(o, "module", json_object_new_string(module));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else if (level == FERRY_LOG_INFO) {
        fprintf(stderr, "%s\n", msg);
    } else if (module) {
        fprintf(stderr, "%s: %s: %s: %s\n", prog_name, level_names[level], module, msg);
    } else {
        fprintf(stderr, "%s: %s: %s\n", prog_name, level_names[level], msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void
ferry_log_last_error(void)
{
    const char *m = ferry_error_message();

    ferry_log(FERRY_LOG_ERROR, NULL, "%s", *m ? m : "unknown error");
}
