/* The import pipeline (skeleton; being written). */
#include <stdio.h>
#include "importer/importer.h"

int ferry_importer_main(int argc, char **argv)
{
    fprintf(stderr, "ferry-importer: not implemented yet\n");
    return 1;
}
