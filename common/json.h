/* json-c helpers: dotted-path access the way Kubernetes code reads objects
 * ("spec.template.spec.domain"), typed getters with defaults, and file I/O.
 * Paths use '.' between keys; a key containing '.' cannot be reached this way
 * (use json_object_object_get directly, e.g. for annotations). */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* Borrowed reference, or NULL when any step is missing or not an object. */
json_object *ferry_json_get(json_object *obj, const char *path);
const char *ferry_json_get_string(json_object *obj, const char *path); /* NULL unless a string */
int64_t ferry_json_get_int(json_object *obj, const char *path, int64_t dflt);
bool ferry_json_get_bool(json_object *obj, const char *path, bool dflt);
/* Borrowed; creates intermediate objects.  Never NULL. */
json_object *ferry_json_ensure_object(json_object *obj, const char *path);
/* Set (takes ownership of val; NULL val deletes the key). */
void ferry_json_set(json_object *obj, const char *path, json_object *val);
void ferry_json_set_string(json_object *obj, const char *path, const char *s);
void ferry_json_set_int(json_object *obj, const char *path, int64_t v);
void ferry_json_set_bool(json_object *obj, const char *path, bool v);
void ferry_json_del(json_object *obj, const char *path);
/* DST's DPATH set to the string at SRC's SPATH, when there is one: true then. */
bool ferry_json_copy_string(json_object *dst, const char *dpath, json_object *src,
                            const char *spath);

/* A new array of the strings of the NULL-terminated V. */
json_object *ferry_json_new_string_array(const char *const *v);

/* Deep copy (new reference). */
json_object *ferry_json_copy(json_object *obj);
/* Structural equality (object key order ignored). */
bool ferry_json_equal(json_object *a, json_object *b);

/* Parse text; the error names SOURCE and the position. */
int ferry_json_parse(const char *text, size_t len, const char *source, json_object **ret);
int ferry_json_read_file(const char *path, json_object **ret);
/* Pretty (2-space) or compact; returned string is owned by the caller. */
char *ferry_json_to_string(json_object *obj, bool pretty);

#endif
