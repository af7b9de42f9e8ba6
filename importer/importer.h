/* Internal interfaces of ferry-importer shared between its files (the plugin
 * contract itself is format.h). */
#ifndef FERRY_IMPORTER_IMPORTER_H
#define FERRY_IMPORTER_IMPORTER_H

#include "importer/format.h"

/* The whole program: parse the command line, import, return the exit code. */
int ferry_importer_main(int argc, char **argv);

#endif
