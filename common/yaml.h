/* YAML <-> JSON with libyaml, with the semantics kubectl applies.
 *
 * Parsing: multi-document streams; plain scalars typed as YAML 1.2 core /
 * Kubernetes' sigs.k8s.io/yaml does (true/false, null/~/empty, integers,
 * floats incl. .inf/.nan, everything else a string); quoted, literal and
 * folded scalars always strings; block and flow styles; anchors, aliases and
 * merge keys ("<<").  Errors carry the source name, line and column:
 * "'vm.yaml': line 4, column 7: mapping values are not allowed in this context".
 *
 * Emitting: block style, 2-space indent, keys in their object's order (json-c
 * keeps insertion order, so input order round-trips), strings quoted only
 * where a plain scalar would be retyped or is not allowed, multi-line strings
 * as literal blocks ("|"), documents separated by "---".
 */
#ifndef FERRY_YAML_H
#define FERRY_YAML_H

#include <json-c/json.h>
#include <stdio.h>

/* Every document of the stream, in order, as a json array (new reference).
 * Empty documents are skipped. */
int ferry_yaml_parse(const char *text, size_t len, const char *source, json_object **ret_docs);
int ferry_yaml_parse_file(const char *path, json_object **ret_docs); /* "-" reads stdin */

/* Exactly one document expected. */
int ferry_yaml_parse_one(const char *text, size_t len, const char *source, json_object **ret_doc);

/* One document, no leading "---". Returned string owned by caller. */
char *ferry_yaml_emit(json_object *doc);
/* Several documents (a json array), each introduced by "---" after the first. */
char *ferry_yaml_emit_stream(json_object *docs);
int ferry_yaml_write(FILE *f, json_object *doc);

#endif
