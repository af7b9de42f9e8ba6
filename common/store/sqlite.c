/* The "sqlite" store driver: Kubernetes API semantics over one SQLite
 * database, <state-dir>/ferry.db (mode 0600, directory 0700), as k3s's kine
 * does it.  Several processes may use the database at once.
 *
 * Tables:
 *   meta(key, value)          'rv': the one resourceVersion counter of the store;
 *                             'compacted': events with rv <= this are gone
 *   objects(resource, namespace, name, uid, rv, json)
 *                             one row per live object; resource is "plural.group"
 *   owners(owner_uid, dep_uid) from metadata.ownerReferences, for cascading deletion
 *   events(rv, type, resource, namespace, name, json)
 *                             the watch log: one row per change, object as it
 *                             was after it; compacted to the newest `history` rows
 *
 * Every write is one BEGIN IMMEDIATE transaction (the database's write lock is
 * taken up front, so a read-modify-write inside never races another process;
 * busy_timeout makes the others wait instead of failing).  WAL mode lets
 * readers and watchers go on while one process writes.  synchronous=NORMAL:
 * a killed process never loses a committed write; a power cut may lose the
 * last ones but never corrupts the database.
 *
 * Watches poll the events table (an indexed range read, microseconds): they
 * are woken at once by commits made through the same handle, and notice other
 * processes' commits within POLL_MS.
 *
 * One handle may be shared by threads (a mutex serialises its use).  A handle
 * must not cross fork(): a child opens its own. */
#include "common/store/apiserver.h"
#include "common/store/driver.h"
#include "common/admission.h"
#include "common/name.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 10
#define DEFAULT_HISTORY 10000    /* watch events kept */
#define DEFAULT_MAX_EVENTS 1000  /* core/v1 Event objects kept */
#define BUSY_TIMEOUT_MS 60000
#define WATCH_BATCH 256

/* Statements are prepared once per handle and kept (keyed by the address of
 * their SQL text); a STMT variable gives its statement back, reset, when it
 * goes out of scope.  A statement must not be used by two frames at once:
 * each is stepped to the end (or reset) before the code it calls runs. */
static void
stmt_resetp(sqlite3_stmt **p)
{
    if (*p) {
        sqlite3_reset(*p);
        sqlite3_clear_bindings(*p);
    }
}
#define STMT __attribute__((cleanup(stmt_resetp))) sqlite3_stmt *
#define STMT_CACHE 32

static void
stmt_done(sqlite3_stmt **p)
{
    stmt_resetp(p);
    *p = NULL;
}

struct sqlite_store {
    struct ferry_store base;
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* broadcast after each commit through this handle */
    int64_t history;
    int64_t max_events;
    uint64_t commits;         /* through this handle: data_version does not count them */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[STMT_CACHE];
    /* Inside a write transaction: */
    int64_t tx_rv;            /* last resourceVersion handed out */
    int64_t tx_rv_start;
};

#define SQ(st) ((struct sqlite_store *)(st))

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('rv', 0), ('compacted', 0), ('schema', 1);"
    "CREATE TABLE IF NOT EXISTS objects(resource TEXT NOT NULL, namespace TEXT NOT NULL,"
    "  name TEXT NOT NULL, uid TEXT NOT NULL UNIQUE, rv INTEGER NOT NULL, json TEXT NOT NULL,"
    "  PRIMARY KEY(resource, namespace, name));"
    "CREATE TABLE IF NOT EXISTS owners(owner_uid TEXT NOT NULL, dep_uid TEXT NOT NULL,"
    "  PRIMARY KEY(owner_uid, dep_uid)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS owners_dep ON owners(dep_uid);"
    "CREATE TABLE IF NOT EXISTS events(rv INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
    "  resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_resource ON events(resource, rv);"
    "CREATE INDEX IF NOT EXISTS objects_rv ON objects(resource, rv);";

/* ---- small helpers ---------------------------------------------------- */

static int
db_error(struct sqlite_store *s, const char *what)
{
    int code = sqlite3_errcode(s->db);

    return ferry_error(code == SQLITE_BUSY || code == SQLITE_LOCKED ? FERRY_ERR_TIMEOUT
                                                                    : FERRY_ERR_IO,
                       "store '%s': %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int
prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **ret)
{
    size_t i;

    for (i = 0; i < STMT_CACHE && s->cache[i].sql; i++)
        if (s->cache[i].sql == sql) {
            *ret = s->cache[i].st;
            return 0;
        }
    if (i == STMT_CACHE)
        return ferry_error(FERRY_ERR_INTERNAL, "store: more than %d statements", STMT_CACHE);
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->cache[i].st, NULL) !=
        SQLITE_OK)
        return db_error(s, "prepare");
    s->cache[i].sql = sql;
    *ret = s->cache[i].st;
    return 0;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Step ST, a statement that returns no rows, to its end; WHAT names it in
 * the error. */
static int
step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, what);
    return 0;
}

/* Step ST to its one row: 1 when there is one, 0 when there is none, -1
 * on an error (WHAT names the statement in it). */
static int
step_row(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_error(s, what);
}

/* Prepare SQL, bind its one parameter to the text V and run it (no rows). */
static int
exec_text(struct sqlite_store *s, const char *sql, const char *v, const char *what)
{
    STMT st = NULL;

    if (prepare(s, sql, &st) < 0)
        return -1;
    bind_text(st, 1, v);
    return step_done(s, st, what);
}

static int
exec(struct sqlite_store *s, const char *sql)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, sql);
    return 0;
}

static int64_t
meta_get(struct sqlite_store *s, const char *key)
{
    STMT st = NULL;

    if (prepare(s, "SELECT value FROM meta WHERE key = ?", &st) < 0)
        return -1;
    bind_text(st, 1, key);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_error(s, "read meta");
    return sqlite3_column_int64(st, 0);
}

static int
meta_set(struct sqlite_store *s, const char *key, int64_t v)
{
    STMT st = NULL;

    if (prepare(s, "UPDATE meta SET value = ? WHERE key = ?", &st) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, v);
    bind_text(st, 2, key);
    return step_done(s, st, "write meta");
}


static json_object *
parse_json(struct sqlite_store *s, const char *text)
{
    json_object *o = NULL;

    if (ferry_json_parse(text, strlen(text), s->path, &o) < 0)
        return NULL;
    return o;
}

static const char *
res_key(const struct ferry_resource *res, char *buf, size_t size)
{
    return ferry_resource_key(res, buf, size);
}





/* ---- transactions ----------------------------------------------------- */

static int
tx_begin(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->lock);
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        /* busy_timeout normally waits for us; some lock states (another
         * process recovering the WAL) answer at once: retry those briefly */
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 100) {
            db_error(s, "begin transaction");
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        usleep(10000);
    }
    s->tx_rv = meta_get(s, "rv");
    if (s->tx_rv < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    s->tx_rv_start = s->tx_rv;
    return 0;
}

static int64_t
tx_next_rv(struct sqlite_store *s)
{
    return ++s->tx_rv;
}

static void
tx_rollback(struct sqlite_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
}

/* Drop watch history beyond s->history: watchers behind it get EXPIRED. */
static int
compact(struct sqlite_store *s)
{
    STMT st = NULL;
    int64_t compacted = meta_get(s, "compacted");
    int64_t upto = s->tx_rv - s->history;

    if (compacted < 0)
        return -1;
    /* in batches, so that a write does not pay for compaction every time */
    if (upto - compacted < 64 && upto - compacted < s->history / 8 + 1)
        return 0;
    if (prepare(s, "DELETE FROM events WHERE rv <= ?", &st) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, upto);
    if (step_done(s, st, "compact events") < 0)
        return -1;
    return meta_set(s, "compacted", upto);
}

static int
tx_commit(struct sqlite_store *s)
{
    if (s->tx_rv != s->tx_rv_start) {
        if (meta_set(s, "rv", s->tx_rv) < 0 || compact(s) < 0) {
            tx_rollback(s);
            return -1;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, "commit");
        tx_rollback(s);
        return -1;
    }
    s->commits++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* End a write transaction: roll it back when the write (R) failed, else
 * commit it and hand *OBJ, the object written, to *RET when it is wanted. */
static int
tx_finish(struct sqlite_store *s, int r, json_object **obj, json_object **ret)
{
    if (r < 0) {
        tx_rollback(s);
        return -1;
    }
    if (tx_commit(s) < 0)
        return -1;
    if (ret)
        *ret = FERRY_STEAL(*obj);
    return 0;
}

/* PRAGMA data_version: changes when another connection commits; reading it
 * touches only the shared-memory WAL index, so polling it is nearly free. */
static int64_t
data_version(struct sqlite_store *s)
{
    STMT st = NULL;

    if (prepare(s, "PRAGMA data_version", &st) < 0 || sqlite3_step(st) != SQLITE_ROW)
        return -1;
    return sqlite3_column_int64(st, 0);
}

/* Read transactions: one snapshot for several statements. */
static int
rx_begin(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, "begin read");
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    return 0;
}

static void
rx_end(struct sqlite_store *s)
{
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
}

/* ---- rows ------------------------------------------------------------- */

/* 1 and the object, 0 when absent, -1 on error. */
static int
load(struct sqlite_store *s, const char *key, const char *ns, const char *name,
     json_object **ret)
{
    STMT st = NULL;
    int rc;

    if (prepare(s, "SELECT json FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                &st) < 0)
        return -1;
    bind_text(st, 1, key);
    bind_text(st, 2, ns);
    bind_text(st, 3, name);
    if ((rc = step_row(s, st, "read object")) <= 0)
        return rc;
    *ret = parse_json(s, (const char *)sqlite3_column_text(st, 0));
    return *ret ? 1 : -1;
}

/* A transaction on an object that must exist (a write or a delete): 0 with
 * the transaction open and the object, or -1 (NotFound when absent) with
 * none. */
static int
begin_on_existing(struct sqlite_store *s, const char *key, const char *ns, const char *name,
                  json_object **ret)
{
    int r;

    if (tx_begin(s) < 0)
        return -1;
    r = load(s, key, ns, name, ret);
    if (r <= 0) {
        if (r == 0)
            ferry_apiserver_err_not_found(key, name);
        tx_rollback(s);
        return -1;
    }
    return 0;
}

static int
load_by_uid(struct sqlite_store *s, const char *uid, char **ret_key, json_object **ret)
{
    STMT st = NULL;
    int rc;

    if (prepare(s, "SELECT resource, json FROM objects WHERE uid = ?", &st) < 0)
        return -1;
    bind_text(st, 1, uid);
    if ((rc = step_row(s, st, "read object")) <= 0)
        return rc;
    *ret = parse_json(s, (const char *)sqlite3_column_text(st, 1));
    if (!*ret)
        return -1;
    *ret_key = ferry_strdup((const char *)sqlite3_column_text(st, 0));
    return 1;
}

static int
log_event(struct sqlite_store *s, enum ferry_event_type type, const char *key,
          json_object *obj)
{
    STMT st = NULL;
    const char *rv = ferry_json_get_string(obj, "metadata.resourceVersion");

    ferry_log_debug("store", "%s %s %s/%s rv %s", ferry_event_type_name(type), key,
                    ferry_json_get_string(obj, "metadata.namespace") ?: "",
                    ferry_json_get_string(obj, "metadata.name") ?: "", rv ? rv : "?");
    if (prepare(s, "INSERT INTO events(rv, type, resource, namespace, name, json) "
                   "VALUES(?, ?, ?, ?, ?, ?)", &st) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, rv ? strtoll(rv, NULL, 10) : s->tx_rv);
    sqlite3_bind_int(st, 2, type);
    bind_text(st, 3, key);
    bind_text(st, 4, ferry_json_get_string(obj, "metadata.namespace"));
    bind_text(st, 5, ferry_json_get_string(obj, "metadata.name"));
    bind_text(st, 6, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    return step_done(s, st, "write event");
}

static int
write_owners(struct sqlite_store *s, const char *uid, json_object *obj)
{
    json_object *refs = ferry_json_get(obj, "metadata.ownerReferences");
    size_t n = refs && json_object_is_type(refs, json_type_array)
                   ? json_object_array_length(refs)
                   : 0;

    if (exec_text(s, "DELETE FROM owners WHERE dep_uid = ?", uid, "write owners") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        STMT ins = NULL;
        const char *owner = ferry_json_get_string(json_object_array_get_idx(refs, i), "uid");

        if (!owner)
            continue;
        if (prepare(s, "INSERT OR IGNORE INTO owners(owner_uid, dep_uid) VALUES(?, ?)", &ins) < 0)
            return -1;
        bind_text(ins, 1, owner);
        bind_text(ins, 2, uid);
        if (step_done(s, ins, "write owners") < 0)
            return -1;
    }
    return 0;
}

/* Give obj the next resourceVersion, store it and log the event. */
static int
put(struct sqlite_store *s, const char *key, json_object *obj, enum ferry_event_type type)
{
    STMT st = NULL;
    int64_t rv = tx_next_rv(s);
    const char *uid = ferry_json_get_string(obj, "metadata.uid");

    ferry_apiserver_set_rv(obj, rv);
    if (prepare(s, "INSERT OR REPLACE INTO objects(resource, namespace, name, uid, rv, json) "
                   "VALUES(?, ?, ?, ?, ?, ?)", &st) < 0)
        return -1;
    bind_text(st, 1, key);
    bind_text(st, 2, ferry_json_get_string(obj, "metadata.namespace"));
    bind_text(st, 3, ferry_json_get_string(obj, "metadata.name"));
    bind_text(st, 4, uid);
    sqlite3_bind_int64(st, 5, rv);
    bind_text(st, 6, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    if (step_done(s, st, "write object") < 0)
        return -1;
    if (write_owners(s, uid, obj) < 0)
        return -1;
    return log_event(s, type, key, obj);
}

static int delete_locked(struct sqlite_store *s, const char *key, json_object *obj);

/* Remove obj for good (DELETED event), then collect its dependents the way
 * the garbage collector's background propagation does: a dependent whose
 * every owner is gone is deleted (honouring its finalizers), one that still
 * has a live owner only loses the reference. */
static int
remove_locked(struct sqlite_store *s, const char *key, json_object *obj)
{
    STMT st = NULL;
    FERRY_AUTOSTRV char **deps = NULL;
    const char *uid = ferry_json_get_string(obj, "metadata.uid");

    ferry_apiserver_set_rv(obj, tx_next_rv(s));
    if (exec_text(s, "DELETE FROM objects WHERE uid = ?", uid, "delete object") < 0 ||
        exec_text(s, "DELETE FROM owners WHERE dep_uid = ?", uid, "delete owners") < 0)
        return -1;
    if (log_event(s, FERRY_EVENT_DELETED, key, obj) < 0)
        return -1;

    if (prepare(s, "DELETE FROM owners WHERE owner_uid = ? RETURNING dep_uid", &st) < 0)
        return -1;
    bind_text(st, 1, uid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ferry_strv_push(&deps, (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE)
        return db_error(s, "read dependents");
    stmt_done(&st);

    for (char **d = deps; d && *d; d++) {
        FERRY_AUTOPTR(json_object) dep = NULL;
        FERRY_AUTOFREE char *dkey = NULL;
        int r = load_by_uid(s, *d, &dkey, &dep);
        json_object *refs, *keep;
        bool live_owner = false;

        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        refs = ferry_json_get(dep, "metadata.ownerReferences");
        keep = json_object_new_array();
        for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
            json_object *ref = json_object_array_get_idx(refs, i);
            const char *ouid = ferry_json_get_string(ref, "uid");
            FERRY_AUTOPTR(json_object) owner = NULL;
            FERRY_AUTOFREE char *okey = NULL;

            if (ferry_str_eq(ouid, uid))
                continue;
            r = ouid ? load_by_uid(s, ouid, &okey, &owner) : 0;
            if (r < 0) {
                json_object_put(keep);
                return -1;
            }
            live_owner |= r == 1;
            json_object_array_add(keep, json_object_get(ref));
        }
        if (live_owner) {
            ferry_json_set(dep, "metadata.ownerReferences", keep);
            if (put(s, dkey, dep, FERRY_EVENT_MODIFIED) < 0)
                return -1;
        } else {
            json_object_put(keep);
            if (delete_locked(s, dkey, dep) < 0)
                return -1;
        }
    }
    return 0;
}

/* The API server's delete: with finalizers, mark (ferry_apiserver_mark_deleted);
 * without, remove and cascade. */
static int
delete_locked(struct sqlite_store *s, const char *key, json_object *obj)
{
    if (ferry_apiserver_finalizers(obj)) {
        if (!ferry_apiserver_mark_deleted(obj))
            return 0;
        return put(s, key, obj, FERRY_EVENT_MODIFIED);
    }
    return remove_locked(s, key, obj);
}



/* ---- operations ------------------------------------------------------- */

/* Admission with the feature gates of the store's KubeVirt CR (the first
 * one, as KubeVirt serves one per cluster). */
static int
admit(struct sqlite_store *s, json_object *obj, bool is_create, json_object *old, bool locked)
{
    struct ferry_admission_config cfg = { 0 };
    STMT q = NULL;
    int r;

    if (!locked)
        pthread_mutex_lock(&s->lock);
    if (prepare(s, "SELECT json FROM objects WHERE resource = 'kubevirts.kubevirt.io' "
                   "ORDER BY namespace, name LIMIT 1", &q) < 0) {
        if (!locked)
            pthread_mutex_unlock(&s->lock);
        return -1;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        FERRY_AUTOPTR(json_object) kv = parse_json(s, (const char *)sqlite3_column_text(q, 0));
        if (kv)
            ferry_admission_config_from_kubevirt(kv, &cfg);
        ferry_error_reset();
    }
    stmt_done(&q);
    if (!locked)
        pthread_mutex_unlock(&s->lock);
    r = ferry_admission_admit_config(obj, is_create, old, &cfg);
    ferry_admission_config_release(&cfg);
    return r;
}

static int
sq_get(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
       const char *name, json_object **ret)
{
    struct sqlite_store *s = SQ(st);
    char key[128];
    json_object *obj = NULL;
    int r;

    res_key(res, key, sizeof key);
    pthread_mutex_lock(&s->lock);
    r = load(s, key, ns, name, &obj);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return -1;
    if (r == 0)
        return ferry_apiserver_err_not_found(key, name);
    *ret = obj;
    return 0;
}

static int
sq_list(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
        const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv)
{
    struct sqlite_store *s = SQ(st);
    STMT q = NULL;
    FERRY_AUTOPTR(json_object) items = json_object_new_array();
    char key[128];
    int64_t rv;
    int rc;

    res_key(res, key, sizeof key);
    if (rx_begin(s) < 0)
        return -1;
    rv = meta_get(s, "rv");
    if (rv >= 0 && !ret_items) {
        /* Only the resourceVersion (to watch from): nothing to read. */
        rx_end(s);
        if (ret_rv)
            *ret_rv = rv;
        return 0;
    }
    if (rv < 0 || prepare(s, ns ? "SELECT json FROM objects WHERE resource = ?1 AND namespace = ?2 "
                                  "ORDER BY namespace, name"
                                : "SELECT json FROM objects WHERE resource = ?1 "
                                  "ORDER BY namespace, name",
                          &q) < 0) {
        rx_end(s);
        return -1;
    }
    bind_text(q, 1, key);
    if (ns)
        bind_text(q, 2, ns);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_object *o = parse_json(s, (const char *)sqlite3_column_text(q, 0));

        if (!o) {
            rx_end(s);
            return -1;
        }
        if (sel && !ferry_selector_matches(sel, ferry_json_get(o, "metadata.labels"))) {
            json_object_put(o);
            continue;
        }
        json_object_array_add(items, o);
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "list objects");
        rx_end(s);
        return -1;
    }
    rx_end(s);
    if (ret_items)
        *ret_items = FERRY_STEAL(items);
    if (ret_rv)
        *ret_rv = rv;
    return 0;
}


static int
sq_create(struct ferry_store *st, json_object *in, json_object **ret)
{
    struct sqlite_store *s = SQ(st);
    const struct ferry_resource *res = ferry_resource_for_object(in);
    FERRY_AUTOPTR(json_object) obj = NULL;
    FERRY_AUTOFREE char *gen = NULL;
    json_object *meta, *existing = NULL;
    const char *name, *generate;
    bool named;
    char key[128];
    int r;

    if (!res)
        return -1;
    res_key(res, key, sizeof key);
    if (ferry_apiserver_prepare_create(res, in, &obj) < 0)
        return -1;
    meta = ferry_json_get(obj, "metadata");
    name = ferry_json_get_string(meta, "name");
    generate = ferry_json_get_string(meta, "generateName");
    named = name && *name; /* name is borrowed: replaced below when generated */

    /* admission needs nothing from the database: outside the write lock */
    if (st->admission && admit(s, obj, true, NULL, false) < 0)
        return -1;

    if (tx_begin(s) < 0)
        return -1;
    if (st->admission && res->namespaced) {
        /* NamespaceLifecycle: only into a namespace that exists */
        const char *ns = ferry_json_get_string(meta, "namespace");
        json_object *nsobj = NULL;

        r = load(s, "namespaces", "", ns, &nsobj);
        if (r < 0)
            goto fail;
        json_object_put(nsobj);
        if (r == 0) {
            ferry_apiserver_err_not_found("namespaces", ns);
            goto fail;
        }
    }
    for (int tries = 0;; tries++) {
        if (!named) {
            free(gen);
            gen = ferry_apiserver_generate_name(generate);
            ferry_json_set_string(meta, "name", gen);
        }
        r = load(s, key, ferry_json_get_string(meta, "namespace"),
                 ferry_json_get_string(meta, "name"), &existing);
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        json_object_put(existing);
        existing = NULL;
        if (named || tries >= 8) {
            ferry_error(FERRY_ERR_EXISTS, "%s \"%s\" already exists", key,
                        ferry_json_get_string(meta, "name"));
            goto fail;
        }
    }
    return tx_finish(s, put(s, key, obj, FERRY_EVENT_ADDED), &obj, ret);
fail:
    tx_rollback(s);
    return -1;
}


enum write_kind { WRITE_SPEC, WRITE_STATUS };

static int
sq_write(struct ferry_store *st, json_object *in, json_object **ret, enum write_kind kind)
{
    struct sqlite_store *s = SQ(st);
    const struct ferry_resource *res = NULL;
    FERRY_AUTOPTR(json_object) cur = NULL;
    FERRY_AUTOPTR(json_object) obj = NULL;
    const char *ns = NULL, *name = NULL;
    char key[128];
    int r;

    if (ferry_apiserver_identify(in, &res, &ns, &name) < 0)
        return -1;
    res_key(res, key, sizeof key);
    if (begin_on_existing(s, key, ns, name, &cur) < 0)
        return -1;
    if (ferry_apiserver_check_rv(key, name, in, cur) < 0 ||
        ferry_apiserver_check_uid(key, name, in, cur) < 0)
        goto fail;

    if (kind == WRITE_STATUS) {
        obj = ferry_apiserver_status_update(in, cur);
    } else {
        if (ferry_apiserver_spec_update(res, name, in, cur, &obj) < 0)
            goto fail;
        if (st->admission && admit(s, obj, false, cur, true) < 0)
            goto fail;
        ferry_apiserver_bump_generation(obj, cur);
    }
    ferry_apiserver_set_rv(
        obj, strtoll(ferry_json_get_string(cur, "metadata.resourceVersion"), NULL, 10));

    if (ferry_apiserver_same_object(obj, cur)) {
        /* a no-op write changes nothing, not even the resourceVersion */
        tx_rollback(s);
        if (ret)
            *ret = FERRY_STEAL(cur);
        return 0;
    }
    if (kind == WRITE_SPEC && ferry_json_get(obj, "metadata.deletionTimestamp") &&
        !ferry_apiserver_finalizers(obj))
        r = remove_locked(s, key, obj);
    else
        r = put(s, key, obj, FERRY_EVENT_MODIFIED);
    return tx_finish(s, r, &obj, ret);
fail:
    tx_rollback(s);
    return -1;
}

static int
sq_update(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return sq_write(st, obj, ret, WRITE_SPEC);
}

static int
sq_update_status(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return sq_write(st, obj, ret, WRITE_STATUS);
}

static int
sq_delete(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
          const char *name)
{
    struct sqlite_store *s = SQ(st);
    FERRY_AUTOPTR(json_object) cur = NULL;
    char key[128];

    res_key(res, key, sizeof key);
    if (ferry_apiserver_check_delete(res, name) < 0)
        return -1;
    if (begin_on_existing(s, key, ns, name, &cur) < 0)
        return -1;
    if (res == ferry_resource_namespace) {
        STMT q = NULL;

        if (prepare(s, "SELECT resource, name FROM objects WHERE namespace = ? LIMIT 1", &q) < 0) {
            tx_rollback(s);
            return -1;
        }
        bind_text(q, 1, name);
        if (sqlite3_step(q) == SQLITE_ROW) {
            ferry_error(FERRY_ERR_CONFLICT, "namespaces \"%s\" is not empty: it still holds %s "
                        "\"%s\"; delete what is in it first", name,
                        (const char *)sqlite3_column_text(q, 0),
                        (const char *)sqlite3_column_text(q, 1));
            tx_rollback(s);
            return -1;
        }
    }
    if (delete_locked(s, key, cur) < 0) {
        tx_rollback(s);
        return -1;
    }
    return tx_commit(s);
}

/* ---- core/v1 Events --------------------------------------------------- */

/* Like client-go's event recorder: one Event per object+type+reason+message,
 * its count and lastTimestamp bumped on repeats; the oldest are dropped
 * beyond max_events. */
static void
sq_record_event(struct ferry_store *st, json_object *about, const char *type,
                const char *reason, const char *message)
{
    struct sqlite_store *s = SQ(st);
    const char *oname = ferry_json_get_string(about, "metadata.name");
    const char *ons = NULL;
    FERRY_AUTOFREE char *name = NULL, *now = NULL;
    FERRY_AUTOPTR(json_object) ev = NULL;
    char key[128];
    int r;

    if (!ferry_apiserver_event_name(about, type, reason, message, &name, &ons))
        return;
    ferry_resource_key(ferry_resource_event, key, sizeof key);
    now = ferry_time_now_rfc3339();

    if (tx_begin(s) < 0)
        goto ignore;
    r = load(s, key, ons, name, &ev);
    if (r < 0) {
        tx_rollback(s);
        goto ignore;
    }
    if (r == 1) {
        ferry_json_set_int(ev, "count", ferry_json_get_int(ev, "count", 1) + 1);
        ferry_json_set_string(ev, "lastTimestamp", now);
        if (put(s, key, ev, FERRY_EVENT_MODIFIED) < 0) {
            tx_rollback(s);
            goto ignore;
        }
    } else {
        FERRY_AUTOFREE char *uid = ferry_uuid_random();

        ev = ferry_apiserver_event_new(about, ons, name, type, reason, message, now);
        ferry_json_set_string(ev, "metadata.uid", uid);
        ferry_json_set_string(ev, "metadata.creationTimestamp", now);
        if (put(s, key, ev, FERRY_EVENT_ADDED) < 0) {
            tx_rollback(s);
            goto ignore;
        }
        /* bounded: drop the oldest Events beyond max_events */
        {
            STMT q = NULL;
            json_object *old_list = json_object_new_array();
            int rc;

            if (prepare(s, "SELECT json FROM objects WHERE resource = ? ORDER BY rv DESC "
                           "LIMIT -1 OFFSET ?", &q) < 0) {
                json_object_put(old_list);
                tx_rollback(s);
                goto ignore;
            }
            bind_text(q, 1, key);
            sqlite3_bind_int64(q, 2, s->max_events);
            while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
                json_object *o = parse_json(s, (const char *)sqlite3_column_text(q, 0));
                if (o)
                    json_object_array_add(old_list, o);
            }
            stmt_done(&q);
            for (size_t i = 0; i < json_object_array_length(old_list); i++)
                if (remove_locked(s, key, json_object_array_get_idx(old_list, i)) < 0) {
                    json_object_put(old_list);
                    tx_rollback(s);
                    goto ignore;
                }
            json_object_put(old_list);
        }
    }
    if (tx_commit(s) < 0)
        goto ignore;
    return;
ignore:
    ferry_log_debug("store", "recording event %s for %s: %s", reason ? reason : "", oname,
                    ferry_error_message());
    ferry_error_reset();
}

/* ---- watch ------------------------------------------------------------ */

struct sqlite_watch {
    struct ferry_watch base;
    struct sqlite_store *s;
    char *key;               /* NULL: every resource */
    char *ns;                /* NULL: every namespace */
    int64_t pos;             /* events up to here are delivered or queued */
    int64_t seen_dv;         /* data_version and commits at the last fetch */
    uint64_t seen_commits;
    bool fetched;
    struct ferry_event *queue;
    size_t head, len, cap;
};

static void
queue_push(struct sqlite_watch *w, enum ferry_event_type type, int64_t rv, json_object *obj)
{
    if (w->len == w->cap) {
        if (w->head > 0) {
            memmove(w->queue, w->queue + w->head, (w->len - w->head) * sizeof *w->queue);
            w->len -= w->head;
            w->head = 0;
        }
        if (w->len == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->queue = ferry_realloc(w->queue, w->cap * sizeof *w->queue);
        }
    }
    w->queue[w->len++] = (struct ferry_event){ .type = type, .resource_version = rv,
                                               .object = obj };
}

/* Read the next batch after w->pos.  Caller holds the lock. 1: queued
 * something, 0: nothing new, -1: error (EXPIRED included). */
static int
watch_fetch(struct sqlite_watch *w)
{
    struct sqlite_store *s = w->s;
    STMT q = NULL;
    int64_t compacted, rv;
    int rc, n = 0;

    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, "begin read");
    compacted = meta_get(s, "compacted");
    rv = meta_get(s, "rv");
    if (compacted < 0 || rv < 0)
        goto fail;
    if (ferry_apiserver_check_watch_rv(w->pos, compacted) < 0)
        goto fail;
    if (rv <= w->pos) {
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        return 0;
    }
    if (prepare(s, "SELECT rv, type, json, resource FROM events WHERE rv > ?1 "
                   "AND (?2 IS NULL OR resource = ?2) AND (?3 IS NULL OR namespace = ?3) "
                   "ORDER BY rv LIMIT 256", &q) < 0)
        goto fail;
    sqlite3_bind_int64(q, 1, w->pos);
    if (w->key)
        bind_text(q, 2, w->key);
    if (w->ns)
        bind_text(q, 3, w->ns);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t erv = sqlite3_column_int64(q, 0);
        json_object *o;

        if (!w->key &&
            ferry_resource_key_not_in_all((const char *)sqlite3_column_text(q, 3))) {
            w->pos = erv; /* a Secret's change: not for a watch of every kind */
            n++;
            continue;
        }
        o = parse_json(s, (const char *)sqlite3_column_text(q, 2));
        if (!o)
            goto fail;
        queue_push(w, (enum ferry_event_type)sqlite3_column_int(q, 1), erv, o);
        w->pos = erv;
        n++;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "read events");
        goto fail;
    }
    w->fetched = n < WATCH_BATCH; /* a full batch: look again without waiting for a commit */
    if (n < WATCH_BATCH && rv > w->pos)
        w->pos = rv; /* nothing of ours up to rv: do not expire for others' churn */
    stmt_done(&q);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return n > 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int
sq_watch_next(struct ferry_watch *base, int timeout_ms, struct ferry_event *ret)
{
    struct sqlite_watch *w = (struct sqlite_watch *)base;
    struct sqlite_store *s = w->s;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ferry_now_ns() + timeout_ms * 1000000ULL;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (w->head < w->len) {
            *ret = w->queue[w->head++];
            pthread_mutex_unlock(&s->lock);
            return 1;
        }
        w->head = w->len = 0;
        /* nothing committed since the last look: do not even query */
        int64_t dv = data_version(s);
        int r = 0;
        if (!w->fetched || dv < 0 || dv != w->seen_dv || s->commits != w->seen_commits) {
            w->seen_dv = dv;
            w->seen_commits = s->commits;
            w->fetched = true;
            r = watch_fetch(w);
        }
        if (r < 0) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        if (r > 0)
            continue;
        uint64_t now = ferry_now_ns();
        if (now >= deadline) {
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        uint64_t wait_ns = POLL_MS * 1000000ULL;
        if (deadline - now < wait_ns)
            wait_ns = deadline - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ns / 1000000000ULL;
        ts.tv_nsec += wait_ns % 1000000000ULL;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->changed, &s->lock, &ts);
    }
}

static void
sq_watch_free(struct ferry_watch *base)
{
    struct sqlite_watch *w = (struct sqlite_watch *)base;

    for (size_t i = w->head; i < w->len; i++)
        ferry_event_release(&w->queue[i]);
    free(w->queue);
    free(w->key);
    free(w->ns);
    free(w);
}

static const struct ferry_watch_ops sqlite_watch_ops = {
    .next = sq_watch_next,
    .free = sq_watch_free,
};

static int
sq_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
         int64_t from_rv, struct ferry_watch **ret)
{
    struct sqlite_store *s = SQ(st);
    struct sqlite_watch *w = ferry_calloc(1, sizeof *w);
    char key[128];

    w->base.ops = &sqlite_watch_ops;
    w->s = s;
    w->key = res ? ferry_strdup(res_key(res, key, sizeof key)) : NULL;
    w->ns = ferry_strdup(ns);
    if (from_rv == 0) {
        /* Kubernetes' unset resourceVersion: the current objects as ADDED
         * events, then the changes after them. */
        STMT q = NULL;
        int rc;

        if (rx_begin(s) < 0)
            goto fail;
        w->pos = meta_get(s, "rv");
        if (w->pos < 0 ||
            prepare(s, "SELECT rv, json, resource FROM objects WHERE (?1 IS NULL OR resource = ?1) "
                       "AND (?2 IS NULL OR namespace = ?2) ORDER BY resource, namespace, name",
                    &q) < 0) {
            rx_end(s);
            goto fail;
        }
        if (w->key)
            bind_text(q, 1, w->key);
        if (w->ns)
            bind_text(q, 2, w->ns);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            json_object *o;

            if (!w->key &&
                ferry_resource_key_not_in_all((const char *)sqlite3_column_text(q, 2)))
                continue;
            o = parse_json(s, (const char *)sqlite3_column_text(q, 1));
            if (!o) {
                rx_end(s);
                goto fail;
            }
            queue_push(w, FERRY_EVENT_ADDED, sqlite3_column_int64(q, 0), o);
        }
        stmt_done(&q);
        rx_end(s);
        if (rc != SQLITE_DONE) {
            db_error(s, "list objects");
            goto fail;
        }
    } else if (from_rv < 0) {
        pthread_mutex_lock(&s->lock);
        w->pos = meta_get(s, "rv");
        pthread_mutex_unlock(&s->lock);
        if (w->pos < 0)
            goto fail;
    } else {
        int64_t compacted;

        w->pos = from_rv;
        pthread_mutex_lock(&s->lock);
        compacted = meta_get(s, "compacted");
        pthread_mutex_unlock(&s->lock);
        if (compacted < 0)
            goto fail;
        if (ferry_apiserver_check_watch_rv(from_rv, compacted) < 0)
            goto fail;
    }
    *ret = &w->base;
    return 0;
fail:
    sq_watch_free(&w->base);
    return -1;
}

/* ---- open / free ------------------------------------------------------ */

static void
sq_set_history(struct ferry_store *st, int64_t events)
{
    SQ(st)->history = events > 0 ? events : DEFAULT_HISTORY;
}

static void
sq_free(struct ferry_store *st)
{
    struct sqlite_store *s = SQ(st);

    for (size_t i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(s->cache[i].st);
    sqlite3_close_v2(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s->path);
    free(s);
}

static const struct ferry_store_ops sqlite_ops = {
    .name = "sqlite",
    .free = sq_free,
    .get = sq_get,
    .list = sq_list,
    .create = sq_create,
    .update = sq_update,
    .update_status = sq_update_status,
    .delete = sq_delete,
    .watch = sq_watch,
    .record_event = sq_record_event,
    .set_history = sq_set_history,
};

static int sq_create(struct ferry_store *st, json_object *in, json_object **ret);

static int
create_namespace(struct sqlite_store *s, const char *name)
{
    FERRY_AUTOPTR(json_object) ns = json_object_new_object();

    ferry_json_set_string(ns, "apiVersion", "v1");
    ferry_json_set_string(ns, "kind", "Namespace");
    ferry_json_set_string(ns, "metadata.name", name);
    json_object_object_add(ferry_json_ensure_object(ferry_json_get(ns, "metadata"), "labels"),
                           "kubernetes.io/metadata.name", json_object_new_string(name));
    if (sq_create(&s->base, ns, NULL) < 0) {
        if (ferry_error_code() != FERRY_ERR_EXISTS)
            return -1;
        ferry_error_reset(); /* another process made it first */
    }
    return 0;
}

/* A store made before Namespaces existed: a Namespace for every namespace
 * that already holds objects, so that they can still be written to. */
static int
adopt_namespaces(struct sqlite_store *s)
{
    FERRY_AUTOSTRV char **names = NULL;
    STMT q = NULL;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (prepare(s, "SELECT DISTINCT namespace FROM objects WHERE namespace != ''", &q) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(q, 0);
        if (n && ferry_name_is_dns1123_label(n))
            ferry_strv_push(&names, n);
    }
    stmt_done(&q);
    pthread_mutex_unlock(&s->lock);
    for (char **n = names; n && *n; n++) {
        FERRY_AUTOPTR(json_object) have = NULL;
        int r;

        pthread_mutex_lock(&s->lock);
        r = load(s, "namespaces", "", *n, &have);
        pthread_mutex_unlock(&s->lock);
        if (r < 0 || (r == 0 && create_namespace(s, *n) < 0))
            return -1;
    }
    return 0;
}

/* The namespaces every cluster has, created in a new store. */
static int
ensure_namespaces(struct sqlite_store *s)
{
    static const char *const builtin[] = { "default", "kube-system", "kube-public" };
    bool made = false;

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(builtin); i++) {
        FERRY_AUTOPTR(json_object) have = NULL;
        int r;

        pthread_mutex_lock(&s->lock);
        r = load(s, "namespaces", "", builtin[i], &have);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (create_namespace(s, builtin[i]) < 0)
            return -1;
        made = true;
    }
    return made ? adopt_namespaces(s) : 0;
}

/* Make DIR/ferry.db atomically: a private file gets the schema (WAL mode is
 * kept in its header), then is linked into place, so that ferry.db is never
 * seen half made and a 0-byte ferry.db is always damage, never a new store.
 * Losing the race to another process is fine. */
static int
create_db(const char *dir, const char *path)
{
    FERRY_AUTOFREE char *tmp = ferry_printf("%s/.ferry.db.new.%d", dir, (int)getpid());
    sqlite3 *db = NULL;
    int rc;

    unlink(tmp);
    rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ferry_error(FERRY_ERR_IO, "store '%s': create: %s", path,
                    db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        unlink(tmp);
        return -1;
    }
    sqlite3_close_v2(db); /* checkpoints and removes the WAL */
    chmod(tmp, 0600);
    if (link(tmp, path) < 0 && errno != EEXIST) {
        /* a filesystem without hard links: a rename that will not replace */
        if ((errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) &&
            renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
            return 0;
        int e = errno;

        if (e == EEXIST) { /* another process made it first */
            unlink(tmp);
            return 0;
        }
        unlink(tmp);
        return ferry_error_errno(FERRY_ERR_IO, e, "store '%s'", path);
    }
    unlink(tmp);
    return 0;
}

int
ferry_sqlite_open(const char *dir, bool create, struct ferry_store **ret)
{
    struct sqlite_store *s;
    pthread_condattr_t ca;
    struct stat sb;
    int rc;

    if (!dir || !*dir)
        dir = ferry_state_dir();
    if (stat(dir, &sb) < 0) {
        if (errno != ENOENT)
            return ferry_error_errno(FERRY_ERR_IO, errno, "state directory '%s'", dir);
        if (!create)
            return ferry_error(FERRY_ERR_NOTFOUND, "state directory '%s' does not exist: no "
                               "store to read (check --state-dir or FERRY_STATE_DIR)", dir);
        if (ferry_mkdir_p(dir, 0700) < 0)
            return -1;
    } else if (!S_ISDIR(sb.st_mode)) {
        return ferry_error(FERRY_ERR_INVALID, "state directory '%s': not a directory", dir);
    }

    s = ferry_calloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->path = ferry_printf("%s/ferry.db", dir);
    s->history = DEFAULT_HISTORY;
    s->max_events = DEFAULT_MAX_EVENTS;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &ca);
    pthread_condattr_destroy(&ca);
    {
        const char *h = getenv("FERRY_STORE_HISTORY");
        const char *m = getenv("FERRY_STORE_MAX_EVENTS");
        if (h && atoll(h) > 0)
            s->history = atoll(h);
        if (m && atoll(m) > 0)
            s->max_events = atoll(m);
    }

    if (stat(s->path, &sb) < 0) {
        if (errno != ENOENT) {
            ferry_error_errno(FERRY_ERR_IO, errno, "store '%s'", s->path);
            goto fail;
        }
        if (!create) {
            ferry_error(FERRY_ERR_NOTFOUND, "no store in state directory '%s' (no ferry.db): "
                        "check --state-dir or FERRY_STATE_DIR", dir);
            goto fail;
        }
        if (create_db(dir, s->path) < 0)
            goto fail;
    } else if (sb.st_size == 0) {
        /* sqlite would take it for a new, empty database */
        ferry_error(FERRY_ERR_FORMAT, "store '%s' is empty (0 bytes): not a Ferry database; "
                    "restore it from a backup or remove it", s->path);
        goto fail;
    }

    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (s->db)
            db_error(s, "open");
        else
            ferry_error(FERRY_ERR_NOMEM, "store '%s': open: out of memory", s->path);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* Switching a new database to WAL can answer "locked" at once, without
     * the busy handler, while another process does the same: retry. */
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 500) {
            db_error(s, "PRAGMA journal_mode=WAL");
            goto fail;
        }
        usleep(10000 + (tries % 5) * 3000);
    }
    /* the WAL shrinks back after checkpoints instead of keeping its peak size */
    if (exec(s, "PRAGMA synchronous=NORMAL") < 0 ||
        exec(s, "PRAGMA journal_size_limit=67108864") < 0)
        goto fail;
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        db_error(s, "create schema");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 500)
            goto fail;
        ferry_error_reset();
        usleep(10000);
    }
    if (ensure_namespaces(s) < 0)
        goto fail;
    ferry_log_debug("store", "opened %s", s->path);
    *ret = &s->base;
    return 0;
fail:
    sq_free(&s->base);
    return -1;
}
