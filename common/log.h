/* Logging: one family for every program.  On a terminal, human lines
 * ("ferry-importer: warning: ..."); otherwise JSON lines
 * ({"time":...,"level":"warning","prog":...,"module":...,"msg":...}) so the
 * controller and log collectors can read them.  FERRY_LOG_FORMAT=text|json
 * overrides the guess.  Debug output is per module: --debug=importer.http,store
 * or FERRY_DEBUG=...; "all" enables everything.  Messages go to stderr. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdbool.h>

enum ferry_log_level { FERRY_LOG_DEBUG, FERRY_LOG_INFO, FERRY_LOG_WARNING, FERRY_LOG_ERROR };

/* Program name used as prefix; reads FERRY_DEBUG and FERRY_LOG_FORMAT. */
void ferry_log_init(const char *prog);
const char *ferry_log_prog(void);
/* Comma-separated module list ("importer.http,store", "all"). */
void ferry_log_set_debug(const char *modules);
bool ferry_log_debug_enabled(const char *module);
void ferry_log_set_json(bool json);
/* --quiet: drop info lines. */
void ferry_log_set_quiet(bool quiet);

void ferry_log(enum ferry_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ferry_log_debug(module, ...)                                                           \
    do {                                                                                       \
        if (ferry_log_debug_enabled(module))                                                   \
            ferry_log(FERRY_LOG_DEBUG, module, __VA_ARGS__);                                   \
    } while (0)
#define ferry_log_info(...) ferry_log(FERRY_LOG_INFO, NULL, __VA_ARGS__)
#define ferry_log_warn(...) ferry_log(FERRY_LOG_WARNING, NULL, __VA_ARGS__)
#define ferry_log_error(...) ferry_log(FERRY_LOG_ERROR, NULL, __VA_ARGS__)

/* Log the thread's last ferry_error() at error level: what main() does. */
void ferry_log_last_error(void);

#endif
