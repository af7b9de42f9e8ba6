/* Admission (see admission.h): being written; accepts everything for now. */
#include "common/admission.h"

int
ferry_admission_admit(json_object *obj, bool is_create, json_object *old)
{
    return 0;
}

int
ferry_admission_validate(json_object *obj, bool is_create, json_object *old)
{
    return 0;
}
