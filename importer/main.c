/* ferry-importer: the program entry; all the work is in pipeline.c. */
#include "importer/importer.h"

int main(int argc, char **argv)
{
    return ferry_importer_main(argc, argv);
}
