/* Kubernetes object helpers over json-c: metadata accessors, labels and label
 * selectors, ownerReferences, and status conditions set-if-changed (the
 * lastTransitionTime moves only when status changes, as in
 * k8s.io/apimachinery/pkg/api/meta.SetStatusCondition). */
#ifndef FERRY_OBJECT_H
#define FERRY_OBJECT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

const char *ferry_obj_api_version(json_object *o);
const char *ferry_obj_kind(json_object *o);
const char *ferry_obj_name(json_object *o);
const char *ferry_obj_namespace(json_object *o);   /* NULL when unset */
const char *ferry_obj_uid(json_object *o);
const char *ferry_obj_resource_version(json_object *o);
int64_t ferry_obj_generation(json_object *o);
json_object *ferry_obj_labels(json_object *o);      /* borrowed, may be NULL */
json_object *ferry_obj_annotations(json_object *o); /* borrowed, may be NULL */
const char *ferry_obj_label(json_object *o, const char *key);
const char *ferry_obj_annotation(json_object *o, const char *key);
void ferry_obj_set_label(json_object *o, const char *key, const char *value);
void ferry_obj_set_annotation(json_object *o, const char *key, const char *value);
/* "kubevirt.io/v1" -> group "kubevirt.io", version "v1"; "v1" -> "", "v1". */
void ferry_obj_split_api_version(const char *apiversion, char **ret_group, char **ret_version);

/* Label selectors, in kubectl's string form: "a=b,c!=d,e in (x,y),f notin (z),g,!h".
 * Also from a metav1.LabelSelector object (matchLabels + matchExpressions). */
struct ferry_selector;
int ferry_selector_parse(const char *s, struct ferry_selector **ret);
int ferry_selector_from_json(json_object *label_selector, struct ferry_selector **ret);
bool ferry_selector_matches(const struct ferry_selector *sel, json_object *labels);
void ferry_selector_free(struct ferry_selector *sel);
/* The selector in the API server's labelSelector syntax ("a in (b),!c,d>3");
 * "" selects everything, NULL (no error) when it selects nothing (a null
 * LabelSelector).  Caller frees. */
char *ferry_selector_to_string(const struct ferry_selector *sel);

/* metadata.finalizers.  Setting adds F (ON) or removes it, dropping a list
 * left empty; it returns true when anything changed. */
bool ferry_obj_has_finalizer(json_object *o, const char *f);
bool ferry_obj_set_finalizer(json_object *o, const char *f, bool on);

/* ownerReferences. */
void ferry_obj_add_owner(json_object *o, json_object *owner, bool controller);
bool ferry_obj_is_owned_by(json_object *o, const char *owner_uid);
json_object *ferry_obj_controller_ref(json_object *o); /* borrowed or NULL */

/* Conditions in status.conditions (created if missing).  Returns true when
 * anything changed.  lastTransitionTime changes only when status changes;
 * reason/message updates alone keep it.  NULL reason/message are omitted. */
bool ferry_condition_set(json_object *obj, const char *type, const char *status,
                         const char *reason, const char *message);
json_object *ferry_condition_get(json_object *obj, const char *type); /* borrowed */
bool ferry_condition_is_true(json_object *obj, const char *type);
bool ferry_condition_remove(json_object *obj, const char *type);

#endif
