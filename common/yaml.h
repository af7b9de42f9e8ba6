/* YAML <-> JSON with libyaml, with the semantics kubectl applies.
 *
 * Parsing: multi-document streams; plain scalars typed as kubectl types them
 * (sigs.k8s.io/yaml over go-yaml v2, so YAML 1.1-ish: true/false but also
 * yes/no/on/off/y/n are booleans, null/~/empty are null, 0x1F and 017 are
 * integers, 1e3 and .5 floats, everything else a string; .inf/.nan are
 * refused because JSON cannot hold them -- the full table is in yaml.c);
 * keys are typed then stringified ("y:" becomes "true", "1:" becomes "1");
 * quoted, literal and folded scalars are always strings; block and flow
 * styles; anchors, aliases (expanded as copies, bounded against alias bombs)
 * and merge keys ("<<").  Duplicate keys in a mapping are refused as kubectl
 * refuses them ('key "x" already set in map').  Empty and null documents are
 * skipped.  Errors
 * carry the source name, line and column (1-based):
 * "'vm.yaml': line 4, column 7: mapping values are not allowed in this context".
 *
 * Emitting: block style, 2-space indent, keys in their object's order (json-c
 * keeps insertion order, so input order round-trips), strings quoted only
 * where a plain scalar would be retyped or is not allowed, multi-line strings
 * as literal blocks ("|"), documents separated by "---".  Doubles keep a
 * decimal point (1000.0) so they read back as doubles; strings that are not
 * valid UTF-8 or hold a NUL cannot be written (NULL with an error).
 */
#ifndef FERRY_YAML_H
#define FERRY_YAML_H

#include <json-c/json.h>
#include <stdio.h>

/* Every document of the stream, in order, as a json array (new reference).
 * Empty documents are skipped. */
int ferry_yaml_parse(const char *text, size_t len, const char *source, json_object **ret_docs);
int ferry_yaml_parse_file(const char *path, json_object **ret_docs); /* "-" reads stdin */
/* The same, but on an error *ret_docs still holds the documents before the
 * broken one (as kubectl applies them): always set, -1 and the error when
 * the stream did not parse to its end. */
int ferry_yaml_parse_partial(const char *text, size_t len, const char *source, json_object **ret_docs);
int ferry_yaml_parse_file_partial(const char *path, json_object **ret_docs);

/* Exactly one document expected. */
int ferry_yaml_parse_one(const char *text, size_t len, const char *source, json_object **ret_doc);

/* One document, no leading "---". Returned string owned by caller. */
char *ferry_yaml_emit(json_object *doc);
/* Several documents (a json array), each introduced by "---" after the first. */
char *ferry_yaml_emit_stream(json_object *docs);
int ferry_yaml_write(FILE *f, json_object *doc);

#endif
